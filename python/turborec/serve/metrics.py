"""Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST  # noqa: F401  (re-exported for the app)

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class ServiceMetrics:
    def __init__(self, holder, cache, store_count):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("turborec_requests_total", "HTTP requests by endpoint, method and status",
                                ["endpoint", "method", "status"], registry=r)
        self.latency = Histogram("turborec_request_seconds", "HTTP request latency by endpoint",
                                 ["endpoint"], buckets=_LATENCY_BUCKETS, registry=r)
        self.events = Counter("turborec_events_acknowledged_total",
                              "feedback events acknowledged (committed), duplicates included", registry=r)
        self.duplicates = Counter("turborec_events_duplicate_total",
                                  "feedback events whose idempotency key was already stored", registry=r)
        Gauge("turborec_events_stored", "events in the event store", registry=r).set_function(store_count)
        Gauge("turborec_fold_ins_total", "users folded in since start", registry=r).set_function(
            lambda: holder.fold_ins)
        Gauge("turborec_model_swaps_total", "model swaps since start", registry=r).set_function(lambda: holder.swaps)
        Gauge("turborec_model_generation", "state generation (grows with fold-ins and swaps)",
              registry=r).set_function(lambda: holder.state.generation)
        self.model_info = Gauge("turborec_model_info", "the served model (value 1)", ["version", "model_class"],
                                registry=r)
        Gauge("turborec_cache_hits_total", "result cache hits", registry=r).set_function(lambda: cache.hits)
        Gauge("turborec_cache_misses_total", "result cache misses", registry=r).set_function(lambda: cache.misses)
        Gauge("turborec_cache_hit_rate", "result cache hits / lookups", registry=r).set_function(
            lambda: cache.hit_rate)
        Gauge("turborec_cache_entries", "result cache entries", registry=r).set_function(lambda: len(cache))
        self.set_model(holder.state)

    def watch_committer(self, committer) -> None:
        Gauge("turborec_event_commits_total", "event store transactions (group commits)",
              registry=self.registry).set_function(lambda: committer.groups)
        Gauge("turborec_event_commit_requests_total", "feedback requests committed in them",
              registry=self.registry).set_function(lambda: committer.requests)

    def watch_batcher(self, batcher) -> None:
        Gauge("turborec_recommend_model_calls_total", "model calls answering single-user requests (micro-batches)",
              registry=self.registry).set_function(lambda: batcher.calls)
        Gauge("turborec_recommend_batched_users_total", "single-user requests answered by those calls",
              registry=self.registry).set_function(lambda: batcher.users)

    def watch_file_watcher(self, watcher) -> None:
        Gauge("turborec_model_file_swaps_total", "swaps to a replaced model file (file watch)",
              registry=self.registry).set_function(lambda: watcher.swaps if watcher else 0)
        Gauge("turborec_model_file_refused_total", "replaced model files that failed to load (kept serving)",
              registry=self.registry).set_function(lambda: watcher.failures if watcher else 0)

    def watch_listener(self, listener) -> None:
        Gauge("turborec_event_notifications_total", "NOTIFYs of other processes' events (PostgreSQL LISTEN)",
              registry=self.registry).set_function(lambda: listener.notifications if listener else 0)
        Gauge("turborec_event_listening", "1 while LISTENing for other processes' events (PostgreSQL)",
              registry=self.registry).set_function(lambda: int(bool(listener and listener.connected)))

    def set_model(self, state) -> None:
        self.model_info.clear()
        self.model_info.labels(version=state.version, model_class=type(state.model).__name__).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware: per-endpoint request counts and latency, labelled by the route's
    path template (the router leaves the matched endpoint in the scope), not by the raw path."""

    def __init__(self, app, metrics: ServiceMetrics, routes):
        self.app, self.metrics, self._routes = app, metrics, routes
        self._paths = None
        self._latency: dict = {}  # endpoint -> histogram child: labels() per request costs more than observe
        self._count: dict = {}  # (endpoint, method, status) -> counter child

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500

        async def capture(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if self._paths is None:
                self._paths = {getattr(r, "endpoint", None): r.path for r in self._routes()}
            endpoint = self._paths.get(scope.get("endpoint"), "unmatched")
            hist = self._latency.get(endpoint)
            if hist is None:
                hist = self._latency[endpoint] = self.metrics.latency.labels(endpoint)
            hist.observe(time.perf_counter() - start)
            key = (endpoint, scope["method"], status)
            counter = self._count.get(key)
            if counter is None:
                counter = self._count[key] = self.metrics.requests.labels(endpoint, scope["method"], str(status))
            counter.inc()
