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
import queue
import threading
from concurrent.futures import Future

log = logging.getLogger("turborec.serve")
_STOP = object()


class GroupCommitter:
    """``submit(events)`` -> Future of ``(results, fold_ticket)`` set after the commit.

    ``after_commit(events, results)`` runs once per committed group, in the writer thread, before
    the futures are resolved (the app asks for the group's fold-in there: one request per group)
    and returns the value handed to every request of the group as its ticket.
    """

    def __init__(self, store, *, after_commit=None, max_events: int = 10_000):
        self.store = store
        self.after_commit = after_commit or (lambda events, results: None)
        self.max_events = int(max_events)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.groups = 0  # committed transactions, for the metrics
        self.requests = 0  # requests committed in them

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="turborec-group-commit", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout=30)

    def submit(self, events) -> Future:
        fut: Future = Future()
        if not events:
            fut.set_result(([], None))
            return fut
        if self._thread is None:
            fut.set_exception(RuntimeError("the group committer is not running"))
            return fut
        self._queue.put((list(events), fut))
        return fut

    # ---- the writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group, n, stop = [first], len(first[0]), False
            # everything that queued up during the last commit joins this one (bounded in size)
            while n < self.max_events:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                group.append(nxt)
                n += len(nxt[0])
            self._commit(group)
            if stop:
                self._fail_rest()
                return

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

    def _fail_rest(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                self._settle_error(item[1], RuntimeError("the server is shutting down"))
