"""Recommender models sharing one contract (see turborec.models.base)."""

from .base import NotFittedError, Recommender
from .knn import Explanation, ItemKNN, UserKNN

__all__ = ["Explanation", "ItemKNN", "NotFittedError", "Recommender", "UserKNN"]
