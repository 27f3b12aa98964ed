"""Recommender models sharing one contract (see turborec.models.base); one model per file."""

from .base import NotFittedError, Recommender
from .knn import Explanation, ItemKNN, UserKNN
from .mf import EarlyStopping, MatrixFactorization
from .popularity import Popularity
from .content import ContentKNN
from .feature_mf import FeatureMF
from .hybrid import Hybrid

__all__ = ["EarlyStopping", "Explanation", "MatrixFactorization", "ItemKNN", "NotFittedError", "Popularity",
           "Recommender", "UserKNN", "ContentKNN", "FeatureMF", "Hybrid"]
