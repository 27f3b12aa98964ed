"""Group commit: concurrent feedback requests share one transaction (and one fsync).

A commit costs one fsync (SQLite synchronous=FULL) or one WAL flush (PostgreSQL) whatever it holds,
so committing each single-event request alone caps writes at the disk's sync rate. One writer
thread takes every request queued while the previous commit ran, appends all their events in
ONE transaction, and only then resolves each request's future: a request is still acknowledged
only after the commit that contains its events (durability unchanged), and many requests pay for
one sync. Idempotency keys are still stored once, also when two requests of one group carry the
same key (the store treats the later one as a duplicate, as if the requests had come one by one).

If a group's transaction fails, its requests are retried one by one, so one request's failure
(a database error only it triggers) is reported to that request alone.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future

from .queue_worker import QueueWorker

log = logging.getLogger("turborec.serve")


class GroupCommitter(QueueWorker):
    """``submit(events)`` -> Future of ``(results, fold_ticket)`` set after the commit.

    ``after_commit(events, results)`` runs once per committed group, in the writer thread, before
    the futures are resolved (the app asks for the group's fold-in there: one request per group)
    and returns the value handed to every request of the group as its ticket.
    """

    thread_name = "turborec-group-commit"

    def __init__(self, store, *, after_commit=None, max_events: int = 10_000):
        super().__init__(budget=max_events)
        self.store = store
        self.after_commit = after_commit or (lambda events, results: None)
        self.max_events = int(max_events)
        self.groups = 0  # committed transactions, for the metrics
        self.requests = 0  # requests committed in them

    def submit(self, events) -> Future:
        fut: Future = Future()
        if not events:
            fut.set_result(([], None))
            return fut
        if not self.running:
            fut.set_exception(RuntimeError("the group committer is not running"))
            return fut
        self._put((list(events), fut))
        return fut

    # ---- the writer thread ---------------------------------------------------------------------

    def _size(self, item) -> int:
        return len(item[0])  # the budget counts events: everything queued during the last commit joins, bounded

    def _handle(self, group) -> None:
        self._commit(group)

    def _commit(self, group) -> None:
        events = [e for evs, _ in group for e in evs]
        try:
            results = self.store.append(events)
        except Exception as exc:
            if len(group) == 1:
                self._settle_error(group[0][1], exc)
                return
            log.warning("a group commit of %d requests failed (%s); committing them one by one",
                        len(group), type(exc).__name__)
            for one in group:
                self._commit([one])
            return
        try:
            ticket = self.after_commit(events, results)
        except Exception:  # committed is committed: the requests are acknowledged without a fold-in ticket
            log.exception("after-commit hook failed")
            ticket = None
        self.groups += 1
        self.requests += len(group)
        lo = 0
        for evs, fut in group:
            if fut.set_running_or_notify_cancel():
                fut.set_result((results[lo:lo + len(evs)], ticket))
            lo += len(evs)

    @staticmethod
    def _settle_error(fut: Future, exc: Exception) -> None:
        if fut.set_running_or_notify_cancel():
            fut.set_exception(exc)

    def _on_stop(self) -> None:
        for _, fut in self._take_rest():
            self._settle_error(fut, RuntimeError("the server is shutting down"))
