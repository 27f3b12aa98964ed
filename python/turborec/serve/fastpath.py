"""Fast paths for the hottest requests, ``GET /v1/users/{user}/recommendations`` and
``POST /v1/feedback``.

FastAPI's per-request dependency solving (path, query, header and body parameters through
pydantic) costs more than scoring a user. This ASGI middleware answers well-formed requests of
those routes itself -- the same handler code, the same pydantic models, the same JSON -- and hands
everything else to the app unchanged: any unusual query (an unknown or repeated parameter, a value
it does not parse trivially), any body that does not validate, any request refused before it has
an effect (bad k, unknown user, missing token, ...), which the full stack then answers with its
usual 4xx. A handler that has had an effect (a feedback commit) never falls back: its answer, error
or not, is sent as is. The routes stay declared in FastAPI, so the OpenAPI schema documents them.
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


def flag(raw: bytes, name: str, default: bool):
    """A single boolean query parameter (the only one allowed), or None when not trivially well formed."""
    if not raw:
        return default
    name_b, eq, value = raw.partition(b"=")
    if not eq or name_b != name.encode() or b"&" in value:
        return None
    return _BOOLS.get(value.decode("latin-1"))


class FastRecommend:
    """GET /v1/users/{user}/recommendations; ``feedback(body, query, authorization)`` optionally
    takes POST /v1/feedback and returns (status, body) or None to hand the request on."""

    def __init__(self, app, handler, endpoint, feedback=None, feedback_endpoint=None):
        self.app, self.handler, self.endpoint = app, handler, endpoint
        self.feedback, self.feedback_endpoint = feedback, feedback_endpoint

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
        elif self.feedback is not None and scope["type"] == "http" and scope["method"] == "POST" \
                and scope["path"] == "/v1/feedback":
            return await self._feedback(scope, receive, send)
        await self.app(scope, receive, send)

    async def _feedback(self, scope, receive, send):
        headers = dict(scope.get("headers", ()))
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type != b"application/json":
            return await self.app(scope, receive, send)
        chunks, messages = [], []
        while True:  # the body (BodySizeLimit, outside, has bounded it)
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        if messages[-1]["type"] == "http.request":
            auth = headers.get(b"authorization")
            answer = await self.feedback(b"".join(chunks), scope.get("query_string", b""),
                                         None if auth is None else auth.decode("latin-1"))
            if answer is not None:
                status, body = answer
                scope["endpoint"] = self.feedback_endpoint
                await send({"type": "http.response.start", "status": status,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        replay = iter(messages)

        async def replayed():
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)
