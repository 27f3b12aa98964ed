"""Micro-batching of single-user recommendations: concurrent requests share one model call.

Scoring one user streams every item's factors through the cache once (memory-bound); scoring a
few users in one call streams them once for all, so per-user cost falls several-fold. One model
thread takes every request queued while its previous call ran (up to ``max_users``), calls
``model.recommend`` once per (state, exclude_seen) group -- the kernel releases the GIL, so the
event loop keeps parsing requests meanwhile -- and hands each request its own row. Each request
is answered from the state it read: a batch never mixes models, and rows are what a call for
that user alone returns (the kernel scores each query independently).
"""

from __future__ import annotations

import logging

import numpy as np

from .queue_worker import QueueWorker

log = logging.getLogger("turborec.serve")


class RecommendBatcher(QueueWorker):
    thread_name = "turborec-recommend"

    def __init__(self, *, max_users: int = 64):
        super().__init__(budget=max_users)
        self.max_users = int(max_users)
        self.calls = 0  # model calls, for the metrics
        self.users = 0  # users answered by them

    def submit(self, loop, future, state, user: int, k: int, exclude_seen: bool) -> None:
        """Answer ``future`` (an asyncio future of ``loop``) with (ids, scores) of ``user``'s top k."""
        self._put((loop, future, state, int(user), int(k), bool(exclude_seen)))

    def _handle(self, batch) -> None:
        groups: dict = {}
        for req in batch:
            groups.setdefault((id(req[2]), req[5]), []).append(req)
        answers: dict = {}  # loop -> [(future, result, exception)]
        for reqs in groups.values():
            self._answer(reqs, answers)
        for loop, items in answers.items():
            try:
                loop.call_soon_threadsafe(_resolve, items)
            except RuntimeError:  # that loop is closed: nobody waits any more
                pass

    def _answer(self, reqs, answers) -> None:
        state, exclude_seen = reqs[0][2], reqs[0][5]
        model = state.model
        k = min(max(r[4] for r in reqs), int(model.n_items))
        try:
            ids, scores = model.recommend(np.fromiter((r[3] for r in reqs), np.int32, len(reqs)), k,
                                          exclude_seen=exclude_seen)
            self.calls += 1
            self.users += len(reqs)
            out = [(r[1], (ids[row, :r[4]], scores[row, :r[4]]), None) for row, r in enumerate(reqs)]
        except Exception as exc:  # the handler turns it into its usual error answer
            out = [(r[1], None, exc) for r in reqs]
        for (loop, *_), item in zip(reqs, out):
            answers.setdefault(loop, []).append(item)


def _resolve(items) -> None:
    for fut, result, exc in items:
        if fut.done():  # the client went away and the request was cancelled
            continue
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)
