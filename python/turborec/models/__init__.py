"""Recommender models sharing one contract (see turborec.models.base)."""

from .base import NotFittedError, Recommender

__all__ = ["NotFittedError", "Recommender"]
