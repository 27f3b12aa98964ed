"""One immutable snapshot of what the service answers from: a model plus its id maps.

Requests read ``holder.state`` once and use only that object, so an answer never mixes two
models; fold-in and hot swap build a new ServingState and publish it with one assignment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ids import RawIds


@dataclass(frozen=True)
class ServingState:
    model: object
    users: RawIds
    items: RawIds
    version: str  # the model file's identity (name + content hash prefix)
    generation: int  # grows with every publication (fold-in or swap)
    path: str
    loaded_at: float
    popular: np.ndarray  # item indices by training popularity, for the cold-start fallback
    like_value: float  # what the page sends for "like": the largest training value


def like_value(model) -> float:
    values = model.user_items_.data
    return float(values.max()) if values.size else 1.0


def popularity(model) -> np.ndarray:
    counts = np.bincount(model.user_items_.indices, minlength=model.n_items)
    return np.argsort(-counts, kind="stable").astype(np.int32)
