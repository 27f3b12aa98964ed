"""Recommender models sharing one contract (see turborec.models.base)."""

from .base import NotFittedError, Recommender
from .knn import Explanation, ItemKNN, UserKNN
from .mf import EarlyStopping, MatrixFactorization
from .content import ContentKNN
from .feature_mf import FeatureMF
from .hybrid import Hybrid
from .popularity import Popularity

__all__ = ["EarlyStopping", "Explanation", "MatrixFactorization", "ItemKNN", "NotFittedError", "Recommender", "UserKNN", "ContentKNN", "FeatureMF", "Hybrid", "Popularity"]
