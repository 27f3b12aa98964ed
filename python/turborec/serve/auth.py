"""Bearer-token checks for write and admin endpoints (and for reads when configured).

The token comes from the factory argument, the TURBOREC_SERVE_TOKEN environment variable or a
file (TURBOREC_SERVE_TOKEN_FILE / token_file=); it is compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import os

from .errors import ApiError


def resolve_token(token: str | None = None, token_file: str | None = None) -> str | None:
    if token is None:
        token = os.environ.get("TURBOREC_SERVE_TOKEN") or None
    token_file = token_file or os.environ.get("TURBOREC_SERVE_TOKEN_FILE") or None
    if token is None and token_file:
        with open(token_file, encoding="utf-8") as f:
            token = f.read().strip() or None
    if token is not None and len(token) < 8:
        raise ValueError("the service token must be at least 8 characters")
    return token


class BearerAuth:
    def __init__(self, token: str | None):
        self._token = None if token is None else token.encode("utf-8")

    @property
    def configured(self) -> bool:
        return self._token is not None

    def check(self, authorization: str | None) -> None:
        """Raise a 401/403 ApiError unless the header carries the configured token."""
        if self._token is None:
            raise ApiError(403, "writes_disabled", "this server has no token configured: write and admin "
                                                   "endpoints are disabled (set TURBOREC_SERVE_TOKEN)")
        if not authorization:
            raise ApiError(401, "unauthorized", "missing 'Authorization: Bearer <token>' header")
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise ApiError(401, "unauthorized", "the Authorization header must be 'Bearer <token>'")
        if not hmac.compare_digest(given.strip().encode("utf-8"), self._token):
            raise ApiError(403, "forbidden", "invalid token")

    def __repr__(self) -> str:  # never show the token
        return f"BearerAuth(configured={self.configured})"
