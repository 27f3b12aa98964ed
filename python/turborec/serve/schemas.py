"""Request bodies of the JSON API (pydantic): types, ranges and sizes are checked here."""

from __future__ import annotations

from typing import List, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

# A raw id: a JSON string or integer (compared by its text form, see ids.py).
RawId = Union[StrictInt, StrictStr]


def _check_id(v):
    if isinstance(v, str) and not (1 <= len(v) <= 256):
        raise ValueError("ids must be 1 to 256 characters long")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecommendRequest(_Strict):
    user: RawId
    k: StrictInt = 10
    exclude_seen: bool = True
    allow: Optional[List[RawId]] = Field(None, description="only these items are candidates")
    deny: Optional[List[RawId]] = Field(None, description="never recommend these items")
    explain: bool = False

    _ids = field_validator("user")(_check_id)


class BatchRecommendRequest(_Strict):
    users: List[RawId]
    k: StrictInt = 10
    exclude_seen: bool = True


class PredictRequest(_Strict):
    user: RawId
    items: List[RawId]


class FeedbackEvent(_Strict):
    user: RawId
    item: RawId
    value: float = Field(1.0, allow_inf_nan=False, description="rating or strength; 0 removes the item")
    type: str = Field("rating", min_length=1, max_length=64)
    timestamp: Optional[float] = Field(None, allow_inf_nan=False, description="Unix seconds; default: now")
    idempotency_key: Optional[str] = Field(None, min_length=1, max_length=256)

    _ids = field_validator("user", "item")(_check_id)


class FeedbackBatch(_Strict):
    events: List[FeedbackEvent]


class ReloadRequest(_Strict):
    path: Optional[str] = Field(None, min_length=1, description="model file to load (default: the current path)")
