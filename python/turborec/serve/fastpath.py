"""A fast path for the hottest request, ``GET /v1/users/{user}/recommendations``.

FastAPI's per-request dependency solving (path, query and header parameters through pydantic)
costs more than scoring a user. This ASGI middleware answers well-formed requests of that route
itself -- the same handler code, the same JSON -- and hands everything else to the app unchanged:
any unusual query (an unknown or repeated parameter, a value it does not parse trivially) and any
request whose handler raises (bad k, unknown user, missing token, ...), which the full stack then
answers with its usual 4xx. The route stays declared in FastAPI, so the OpenAPI schema documents it.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

_PREFIX, _SUFFIX = "/v1/users/", "/recommendations"
_BOOLS = {"true": True, "1": True, "false": False, "0": False}


def _query(raw: bytes):
    """(k, exclude_seen, explain) from a query string, or None when it is not trivially well formed."""
    k, exclude_seen, explain, seen = 10, True, False, set()
    if not raw:
        return k, exclude_seen, explain
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    for part in text.split("&"):
        name, eq, value = part.partition("=")
        if not eq or name in seen:
            return None
        seen.add(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        if name == "k":
            if not (value.isascii() and value.isdigit()) or len(value) > 9:
                return None
            k = int(value)
        elif name in ("exclude_seen", "explain"):
            flag = _BOOLS.get(value)
            if flag is None:
                return None
            if name == "explain":
                explain = flag
            else:
                exclude_seen = flag
        else:
            return None
    return k, exclude_seen, explain


class FastRecommend:
    def __init__(self, app, handler, endpoint):
        self.app, self.handler, self.endpoint = app, handler, endpoint

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            if path.startswith(_PREFIX) and path.endswith(_SUFFIX):
                user = path[len(_PREFIX):-len(_SUFFIX)]
                params = _query(scope.get("query_string", b""))
                if user and "/" not in user and len(user) <= 256 and params is not None:
                    authorization = None
                    for name, value in scope.get("headers", ()):
                        if name == b"authorization":
                            authorization = value.decode("latin-1")
                    try:
                        body = await self.handler(user, *params, authorization)
                    except Exception:  # the full stack answers it again, with its usual error
                        body = None
                    if body is not None:
                        scope["endpoint"] = self.endpoint  # the metrics label it like the routed request
                        await send({"type": "http.response.start", "status": 200,
                                    "headers": [(b"content-type", b"application/json"),
                                                (b"content-length", str(len(body)).encode())]})
                        await send({"type": "http.response.body", "body": body})
                        return
        await self.app(scope, receive, send)
