"""The ASGI app: ``create_app(model_path, events_url=..., token=...)``.

Versioned JSON API under /v1 with raw ids in and out, Prometheus metrics at /metrics, a page for
people at /. Answers come from one immutable :class:`ServingState` per request (see holder.py);
feedback is acknowledged after it is committed to the event store and folded in.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass

import numpy as np
import orjson
from fastapi import FastAPI, Header, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

import turborec

from .auth import BearerAuth, resolve_token
from .batcher import RecommendBatcher
from .cache import ResultCache
from .errors import ApiError
from .events import Event, EventStore
from .fastpath import FastRecommend, flag
from .foldin import FoldInWorker
from .group_commit import GroupCommitter
from .holder import ModelHolder, can_fold_in
from .limits import BodySizeLimit
from .listen import EventListener
from .metrics import CONTENT_TYPE_LATEST, MetricsMiddleware, ServiceMetrics
from .page import PAGE_HTML
from .schemas import BatchRecommendRequest, FeedbackBatch, FeedbackEvent, PredictRequest, RecommendRequest, \
    ReloadRequest
from .state import find, find_many, key, raw_of, raws_of
from .watch import ModelFileWatcher

log = logging.getLogger("turborec.serve")
COLD_START = ("popularity", "error")


@dataclass(frozen=True)
class Limits:
    max_k: int = 1000
    max_batch: int = 10_000
    max_body_bytes: int = 4 << 20
    max_list: int = 10_000  # allow / deny / predict item lists


_ORJSON = orjson.OPT_SERIALIZE_NUMPY


def _dumps(obj) -> bytes:
    return orjson.dumps(obj, option=_ORJSON)


def _json(obj, status: int = 200) -> Response:
    body = obj if isinstance(obj, bytes) else _dumps(obj)
    return Response(body, status_code=status, media_type="application/json")


def _error(err: ApiError) -> Response:
    return _json(err.body(), err.status)


def _validation_details(exc: RequestValidationError) -> list:
    out = []
    for e in exc.errors():
        out.append({"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                    "type": str(e.get("type", ""))})
    return out


def create_app(model_path, *, events_url: str = "sqlite:///turborec-events.db", token: str | None = None,
               token_file: str | None = None, protect_reads: bool = False, cold_start: str = "popularity",
               max_k: int = 1000, max_batch: int = 10_000, max_body_bytes: int = 4 << 20,
               cache_size: int = 100_000, poll_interval: float = 1.0, fold_in_wait: float = 10.0,
               sqlite_synchronous: str = "FULL", watch_interval: float = 2.0) -> FastAPI:
    """Build the service for one model file and one event store.

    Parameters
    ----------
    model_path : a file written by ``model.save`` (loaded with :func:`turborec.load`).
    events_url : SQLAlchemy URL of the event store (SQLite in WAL mode by default; PostgreSQL works).
    token, token_file : the bearer token for write/admin endpoints (default: $TURBOREC_SERVE_TOKEN or
        the file $TURBOREC_SERVE_TOKEN_FILE). Without one, write endpoints answer 403.
    protect_reads : require the token for reads too.
    cold_start : unknown users get the most popular items ("popularity") or a 404 ("error").
    max_k, max_batch, max_body_bytes : request limits (4xx beyond them).
    cache_size : result cache entries (0 disables it).
    poll_interval : seconds between reads of other processes' events (on PostgreSQL a NOTIFY also
        triggers a read at once; polling is then the fallback).
    fold_in_wait : seconds a feedback request waits for its fold-in before answering folded=false.
    sqlite_synchronous : SQLite's synchronous pragma (FULL: fsync at every commit).
    watch_interval : seconds between checks of the model file; when it is replaced (write the new
        file, then rename it over the path) the service swaps to it like an admin reload. 0: off.
    """
    if isinstance(watch_interval, bool) or not isinstance(watch_interval, (int, float)) or not watch_interval >= 0:
        raise ValueError(f"watch_interval must be a number of seconds >= 0, got {watch_interval!r}")
    if cold_start not in COLD_START:
        raise ValueError(f"cold_start must be one of {COLD_START}, got {cold_start!r}")
    for name, v in (("max_k", max_k), ("max_batch", max_batch), ("max_body_bytes", max_body_bytes)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    limits = Limits(max_k=max_k, max_batch=max_batch, max_body_bytes=max_body_bytes)
    auth = BearerAuth(resolve_token(token, token_file))
    turborec.persistence.info(model_path)  # a missing or foreign file fails before any store is created
    store = EventStore(events_url, sqlite_synchronous=sqlite_synchronous)
    cache = ResultCache(cache_size)
    metrics_ref: list = []

    def on_publish(state, users, swapped):
        if swapped:
            cache.clear(state.generation)
            if metrics_ref:
                metrics_ref[0].set_model(state)
        else:
            cache.invalidate_users(users, state.generation)

    holder = ModelHolder(model_path, store, on_publish=on_publish)
    worker = FoldInWorker(holder, poll_interval=poll_interval)
    metrics = ServiceMetrics(holder, cache, store.count)
    metrics_ref.append(metrics)

    def after_commit(events, stored):
        # once per committed group: count it and ask for one fold-in of all its users
        metrics.events.inc(len(stored))
        metrics.duplicates.inc(sum(d for _, d in stored))
        return worker.request({e.user for e in events}, [i for i, d in stored if not d])

    committer = GroupCommitter(store, after_commit=after_commit, max_events=max(limits.max_batch, 1000))
    metrics.watch_committer(committer)
    batcher = RecommendBatcher()
    metrics.watch_batcher(batcher)
    watcher = ModelFileWatcher(holder, interval=watch_interval) if watch_interval > 0 else None
    metrics.watch_file_watcher(watcher)
    listener = EventListener(store, worker.wake) if store.notifies else None
    metrics.watch_listener(listener)

    @asynccontextmanager
    async def lifespan(app):
        worker.start()
        if listener is not None:
            listener.start()
        committer.start()
        batcher.start()
        if watcher is not None:
            watcher.start()
        try:
            yield
        finally:
            if watcher is not None:
                watcher.stop()
            batcher.stop()
            committer.stop()
            if listener is not None:
                listener.stop()
            worker.stop()
            store.close()

    app = FastAPI(title="turborec", version=turborec.__version__, lifespan=lifespan,
                  description="Recommendations, feedback and model management for one turborec model.")
    app.state.holder, app.state.store, app.state.cache, app.state.worker = holder, store, cache, worker

    # ---- errors: always JSON, never a stack trace -------------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        details = _validation_details(exc)
        if any(d["type"] == "json_invalid" for d in details):
            return _error(ApiError(400, "bad_json", "the request body is not valid JSON", details))
        return _error(ApiError(422, "invalid_request", "the request does not match the schema", details))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request, exc: StarletteHTTPException):
        code = {400: "bad_json", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(ApiError(exc.status_code, code, str(exc.detail)))

    @app.exception_handler(NotImplementedError)
    async def _unsupported(request, exc: NotImplementedError):
        return _error(ApiError(422, "not_supported", f"the served model does not support this request "
                                                     f"({type(holder.state.model).__name__})"))

    @app.exception_handler(Exception)
    async def _internal(request, exc: Exception):
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return _error(ApiError(500, "internal", "internal error"))

    # ---- metrics per endpoint ---------------------------------------------------------------------

    # ---- helpers ---------------------------------------------------------------------------------

    def read_access(authorization):
        if protect_reads:
            auth.check(authorization)

    def check_k(k):
        if k < 1:
            raise ApiError(422, "invalid_k", f"k must be >= 1, got {k}")
        if k > limits.max_k:
            raise ApiError(422, "invalid_k", f"k must be <= {limits.max_k} (this server's maximum), got {k}")

    def check_list(values, name):
        if values is not None and len(values) > limits.max_list:
            raise ApiError(413, "list_too_long", f"{name} has {len(values)} entries; the maximum is {limits.max_list}")

    def item_indices(state, raw_items):
        idx = find_many(state.items, raw_items)
        return np.unique(idx[idx >= 0]).astype(np.int32)

    def cold(state, ukey, k, allow, deny):
        if cold_start == "error":
            raise ApiError(404, "unknown_user", f"user {ukey!r} is unknown and has no feedback yet")
        ranked = state.popular
        if allow is not None:
            ranked = ranked[np.isin(ranked, allow)]
        if deny is not None and deny.size:
            ranked = ranked[~np.isin(ranked, deny)]
        ids = ranked[:k]
        return ids, None, "popularity"

    def user_index(state, ukey):
        """The user's row, or None when the model cannot answer for them (cold start)."""
        u = find(state.users, ukey)
        if u is None:
            return None
        return u if u < state.model.n_users else None

    def top_for(state, u, k, exclude_seen, allow, deny):
        model = state.model
        n_deny = 0 if deny is None else int(deny.size)
        kk = int(min(k + n_deny, model.n_items))
        if allow is not None and allow.size == 0:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        ids, scores = model.recommend(np.array([u], np.int32), kk, exclude_seen=exclude_seen, items=allow)
        ids, scores = ids[0], scores[0]
        keep = ids >= 0
        if n_deny:
            keep &= ~np.isin(ids, deny)
        return ids[keep][:k], scores[keep][:k]

    def reasons(state, u, ids):
        model = state.model
        if isinstance(model, turborec.MatrixFactorization):
            contrib = model.item_factors_[ids] * model.user_factors_[u][None, :]
            out = []
            for row in contrib:
                top = np.argsort(-row, kind="stable")[:3]
                out.append({"kind": "factors", "factors": [{"factor": int(f), "contribution": round(float(row[f]), 4)}
                                                           for f in top]})
            return out
        if isinstance(model, turborec.ItemKNN):
            row = model.user_items_[u]
            if row.nnz == 0:
                return [None] * len(ids)
            S = model.similarity_[row.indices][:, ids].toarray() * row.data[:, None]
            out = []
            for c in range(len(ids)):
                top = np.argsort(-S[:, c], kind="stable")[:3]
                top = [t for t in top if S[t, c] > 0]
                out.append({"kind": "neighbours", "because_of": [
                    {"item": raw_of(state.items, int(row.indices[t])), "weight": round(float(S[t, c]), 4)}
                    for t in top]})
            return out
        if isinstance(model, turborec.UserKNN):
            out = []
            for i in ids:
                e = model.explain(u, int(i))
                out.append({"kind": "neighbours", "similar_users": [
                    {"user": raw_of(state.users, int(v)), "weight": round(float(w), 4)}
                    for v, w in zip(e.neighbours[:3], e.weights[:3]) if w > 0]})
            return out
        return [None] * len(ids)

    async def top_for_async(state, u, k, exclude_seen, allow, deny):
        """Plain requests (no allow/deny list) share model calls with concurrent ones (batcher.py)."""
        if allow is None and deny is None and batcher.running:
            loop = asyncio.get_running_loop()
            fut = loop.create_future()
            batcher.submit(loop, fut, state, u, k, exclude_seen)
            ids, scores = await fut
            keep = ids >= 0
            return (ids, scores) if keep.all() else (ids[keep], scores[keep])
        return top_for(state, u, k, exclude_seen, allow, deny)

    def answer(state, req, u, ukey, allow, deny, ids, scores, source):
        out = {"user": req.user if u is None else raw_of(state.users, u), "model_version": state.version,
               "source": source,
               "items": raws_of(state.items, ids, unnamed=False),
               "scores": None if scores is None else np.round(scores.astype(np.float64), 6)}
        if req.explain:
            out["reasons"] = reasons(state, u, ids) if u is not None else [{"kind": "popularity"}] * len(ids)
        return out

    def prepare(state, req):
        check_k(req.k)
        check_list(req.allow, "allow")
        check_list(req.deny, "deny")
        ukey = key(req.user)
        allow = None if req.allow is None else item_indices(state, req.allow)
        deny = None if req.deny is None else item_indices(state, req.deny)
        return ukey, allow, deny, user_index(state, ukey)

    def recommend_one(state, req: RecommendRequest):
        ukey, allow, deny, u = prepare(state, req)
        if u is None:
            ids, scores, source = cold(state, ukey, req.k, allow, deny)
        else:
            (ids, scores), source = top_for(state, u, req.k, req.exclude_seen, allow, deny), "model"
        return answer(state, req, u, ukey, allow, deny, ids, scores, source)

    async def recommend_one_async(state, req: RecommendRequest):
        ukey, allow, deny, u = prepare(state, req)
        if u is None:
            ids, scores, source = cold(state, ukey, req.k, allow, deny)
        else:
            (ids, scores), source = await top_for_async(state, u, req.k, req.exclude_seen, allow, deny), "model"
        return answer(state, req, u, ukey, allow, deny, ids, scores, source)

    async def cached_recommend(req) -> bytes:
        """The answer's JSON bytes (the cache keeps encoded answers: a hit costs no encoding)."""
        state = holder.state
        ukey = key(req.user)
        rkey = (req.k, req.exclude_seen, None if req.allow is None else tuple(map(key, req.allow)),
                None if req.deny is None else tuple(map(key, req.deny)), req.explain)
        hit = cache.get(ukey, rkey)
        if hit is not None:
            return hit
        out = _dumps(await recommend_one_async(state, req))
        cache.put(ukey, rkey, state.generation, out)
        return out

    # ---- reads ---------------------------------------------------------------------------------

    @app.get("/v1/health", tags=["operations"])
    async def health():
        return {"status": "ok"}

    @app.get("/v1/ready", tags=["operations"])
    def ready():
        try:
            store.ping()
        except Exception as exc:
            return _error(ApiError(503, "not_ready", f"the event store is not reachable ({type(exc).__name__})"))
        return {"ready": True, "model_version": holder.state.version}

    @app.get("/v1/model", tags=["model"])
    async def model_info(authorization: str | None = Header(None)):
        read_access(authorization)
        state = holder.state
        m = state.model
        return _json({"class": type(m).__name__, "version": state.version, "generation": state.generation,
                      "loaded_at": state.loaded_at, "n_users": int(m.n_users), "n_items": int(m.n_items),
                      "n_users_known": len(state.users), "fold_in": can_fold_in(m),
                      "params": {k: v for k, v in m.get_params().items() if isinstance(v, (int, float, str, bool))
                                 or v is None},
                      "like_value": state.like_value,
                      "cold_start": cold_start, "max_k": limits.max_k, "max_batch": limits.max_batch,
                      "sample_users": raws_of(state.users, np.arange(min(20, state.model.n_users))),
                      "write_auth": auth.configured})

    @app.get("/v1/users/{user}/recommendations", tags=["recommendations"])
    async def recommend_get(user: str = Path(..., min_length=1, max_length=256), k: int = Query(10),
                            exclude_seen: bool = Query(True), explain: bool = Query(False),
                            authorization: str | None = Header(None)):
        read_access(authorization)
        return _json(await cached_recommend(RecommendRequest(user=user, k=k, exclude_seen=exclude_seen,
                                                             explain=explain)))

    @app.post("/v1/recommend", tags=["recommendations"])
    async def recommend_post(req: RecommendRequest, authorization: str | None = Header(None)):
        read_access(authorization)
        return _json(await cached_recommend(req))

    @app.post("/v1/recommend/batch", tags=["recommendations"])
    def recommend_batch(req: BatchRecommendRequest, authorization: str | None = Header(None)):
        # a plain def runs in the thread pool: a big batch does not stall the event loop
        read_access(authorization)
        check_k(req.k)
        if not req.users:
            raise ApiError(422, "empty_batch", "users must not be empty")
        if len(req.users) > limits.max_batch:
            raise ApiError(413, "batch_too_large", f"{len(req.users)} users; the maximum is {limits.max_batch}")
        state = holder.state
        model = state.model
        users = state.users
        idx = find_many(users, req.users)
        plain = np.flatnonzero((idx >= 0) & (idx < model.n_users))
        results: list = [None] * len(idx)
        if plain.size:
            k = min(req.k, model.n_items)
            ids, scores = model.recommend(idx[plain].astype(np.int32), k, exclude_seen=req.exclude_seen)
            # one vectorised raw-id lookup and one rounding for the whole batch; rows padded with -1
            # (fewer than k candidates left) are trimmed one by one
            raw_items = raws_of(state.items, np.maximum(ids, 0), unnamed=False)
            raw_users = raws_of(users, idx[plain])
            sc = np.round(scores.astype(np.float64), 6).tolist()
            short = set(np.flatnonzero((ids < 0).any(axis=1)).tolist())
            for r, t in enumerate(plain.tolist()):
                items, s_row = raw_items[r], sc[r]
                if r in short:
                    n = int((ids[r] >= 0).sum())
                    items, s_row = items[:n], s_row[:n]
                results[t] = {"user": raw_users[r], "source": "model", "items": items, "scores": s_row}
        for t, u in enumerate(results):
            if u is None:
                one = recommend_one(state, RecommendRequest(user=req.users[t], k=req.k, exclude_seen=req.exclude_seen))
                results[t] = {k: one[k] for k in ("user", "source", "items", "scores")}
        return _json({"model_version": state.version, "results": results})

    @app.get("/v1/items/{item}/similar", tags=["recommendations"])
    async def similar(item: str = Path(..., min_length=1, max_length=256), k: int = Query(10),
                      authorization: str | None = Header(None)):
        read_access(authorization)
        check_k(k)
        state = holder.state
        i = find(state.items, item)
        if i is None:
            raise ApiError(404, "unknown_item", f"item {item!r} is not in the model")
        ids, scores = state.model.similar_items(np.array([i], np.int32), min(k, max(state.model.n_items - 1, 1)))
        keep = ids[0] >= 0
        return _json({"item": raw_of(state.items, i), "model_version": state.version,
                      "items": raws_of(state.items, ids[0][keep], unnamed=False), "scores": [round(s, 6) for s in
                                                                                scores[0][keep].tolist()]})

    @app.post("/v1/predict", tags=["recommendations"])
    async def predict(req: PredictRequest, authorization: str | None = Header(None)):
        read_access(authorization)
        check_list(req.items, "items")
        if not req.items:
            raise ApiError(422, "empty_items", "items must not be empty")
        state = holder.state
        u = find(state.users, req.user)
        if u is None or u >= state.model.n_users:
            raise ApiError(404, "unknown_user", f"user {req.user!r} is not in the model (feedback of new users "
                                                "reaches predictions at the next retrain)")
        idx = find_many(state.items, req.items)
        unknown = [raw for raw, i in zip(req.items, idx.tolist()) if i < 0]
        if unknown:
            raise ApiError(404, "unknown_item", f"{len(unknown)} items are not in the model", {"items": unknown[:20]})
        scores = state.model.predict(np.full(len(idx), u, np.int32), idx.astype(np.int32))
        return _json({"user": req.user, "model_version": state.version, "items": req.items,
                      "predictions": [round(s, 6) for s in scores.astype(np.float64).tolist()]})

    # ---- writes ----------------------------------------------------------------------------------

    async def store_events(events: list[FeedbackEvent], wait: bool):
        """Commit the events (group commit: concurrent requests share one transaction), then
        optionally wait for their fold-in; answers only after the commit that holds them."""
        try:
            stored, ticket = await asyncio.wrap_future(committer.submit(
                [Event(key(e.user), key(e.item), e.value, e.type, e.timestamp, e.idempotency_key) for e in events]))
        except Exception as exc:
            log.error("event store write failed: %s", type(exc).__name__)
            raise ApiError(503, "store_unavailable", "the event store did not commit the events; retry with "
                                                     "the same idempotency keys") from None
        folded = False
        if wait and ticket is not None:
            try:
                folded = await asyncio.wait_for(asyncio.wrap_future(worker.when_done(ticket)), fold_in_wait)
            except asyncio.TimeoutError:
                folded = False
        state = holder.state
        return {"acknowledged": len(stored), "folded": bool(folded), "model_version": state.version,
                "results": [{"id": i, "duplicate": d, "item_known": find(state.items, e.item) is not None}
                            for (i, d), e in zip(stored, events)]}

    @app.post("/v1/feedback", tags=["feedback"])
    async def feedback(event: FeedbackEvent, wait: bool = Query(True), authorization: str | None = Header(None)):
        auth.check(authorization)
        return _json(await store_events([event], wait))

    @app.post("/v1/feedback/batch", tags=["feedback"])
    async def feedback_batch(batch: FeedbackBatch, wait: bool = Query(True),
                             authorization: str | None = Header(None)):
        auth.check(authorization)
        if not batch.events:
            raise ApiError(422, "empty_batch", "events must not be empty")
        if len(batch.events) > limits.max_batch:
            raise ApiError(413, "batch_too_large", f"{len(batch.events)} events; the maximum is {limits.max_batch}")
        return _json(await store_events(batch.events, wait))

    # ---- admin -----------------------------------------------------------------------------------

    @app.post("/v1/admin/reload", tags=["admin"])
    def reload(req: ReloadRequest | None = None, authorization: str | None = Header(None)):
        auth.check(authorization)
        path = (req.path if req and req.path else holder.state.path)
        try:
            state = holder.swap(path)
        except (OSError, ValueError, KeyError) as exc:
            raise ApiError(422, "cannot_load_model", f"could not load {path!r}: {exc}") from None
        return _json({"model_version": state.version, "generation": state.generation,
                      "n_users": int(state.model.n_users), "n_items": int(state.model.n_items)})

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def prometheus(authorization: str | None = Header(None)):
        read_access(authorization)
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def page():
        return HTMLResponse(PAGE_HTML)

    # ---- middleware (the last added is the outermost) ----------------------------------------------

    async def fast_recommend(user, k, exclude_seen, explain, authorization) -> bytes:
        read_access(authorization)
        return await cached_recommend(RecommendRequest(user=user, k=k, exclude_seen=exclude_seen, explain=explain))

    async def fast_feedback(body: bytes, query: bytes, authorization):
        wait = flag(query, "wait", True)
        if wait is None:
            return None
        try:
            event = FeedbackEvent.model_validate_json(body)
            auth.check(authorization)
        except (ValidationError, ApiError):  # nothing happened yet: the full stack answers it
            return None
        try:  # from here on the request has an effect: never handed on
            return 200, _dumps(await store_events([event], wait))
        except ApiError as err:
            return err.status, _dumps(err.body())

    app.add_middleware(FastRecommend, handler=fast_recommend, endpoint=recommend_get, feedback=fast_feedback,
                       feedback_endpoint=feedback)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=lambda: app.router.routes)
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_body_bytes)
    app.state.batcher, app.state.watcher = batcher, watcher
    return app
