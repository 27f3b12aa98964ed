"""Background fold-in: coalesces users with new feedback and follows other processes' events.

Feedback handlers commit their events, then ``request`` a fold-in of their users and ``wait`` for
it (read-your-writes in this process). One worker thread folds whatever is pending in one
copy-on-write publication, so concurrent writers share the cost. A poller reads events other
server processes stored (ids above the last one seen) every ``poll_interval`` seconds and folds
their users in: a user's feedback reaches every process within about one interval -- or at once
on PostgreSQL, where a NOTIFY from the other process wakes the poller (listen.py).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from concurrent.futures import Future

log = logging.getLogger("turborec.serve")


class FoldInWorker:
    def __init__(self, holder, *, poll_interval: float = 1.0):
        self.holder = holder
        self.poll_interval = float(poll_interval)
        self._cond = threading.Condition()
        self._pending: set = set()
        self._requested = 0
        self._done = 0
        self._own_ids: set = set()  # ids this process stored and folded already
        self._waiters: list = []  # heap of (ticket, seq, Future) for async waiters
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by a LISTEN notification: poll now
        self._threads: list[threading.Thread] = []
        self.errors = 0

    def start(self) -> None:
        self._stop.clear()
        self._threads = [threading.Thread(target=self._fold_loop, name="turborec-fold-in", daemon=True),
                         threading.Thread(target=self._poll_loop, name="turborec-poll", daemon=True)]
        for t in self._threads:
            t.start()

    def wake(self) -> None:
        """Poll the store now (another process committed events) instead of at the next interval."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=10)
        with self._cond:
            waiters, self._waiters = self._waiters, []
        for _, _, fut in waiters:
            _settle(fut, False)

    def request(self, users, event_ids=()) -> int:
        with self._cond:
            self._own_ids.update(event_ids)
            self._pending.update(users)
            self._requested += 1
            self._cond.notify_all()
            return self._requested

    def wait(self, ticket: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._done >= ticket or self._stop.is_set(), timeout)

    def when_done(self, ticket: int) -> Future:
        """A Future set to True once the fold-in asked for by ``ticket`` is published (for async
        handlers: they await it instead of blocking a thread in :meth:`wait`)."""
        fut: Future = Future()
        with self._cond:
            if self._done >= ticket:
                fut.set_result(True)
            elif self._stop.is_set():
                fut.set_result(False)
            else:
                heapq.heappush(self._waiters, (ticket, next(self._seq), fut))
        return fut

    def _fold_loop(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stop.is_set())
                if self._stop.is_set():
                    return
                users, self._pending = self._pending, set()
                ticket = self._requested
            try:
                self.holder.fold_in(users)
            except Exception:  # keep serving the last good state; the poller retries these users
                self.errors += 1
                log.exception("fold-in of %d users failed", len(users))
            with self._cond:
                self._done = max(self._done, ticket)
                self._cond.notify_all()
                ready = []
                while self._waiters and self._waiters[0][0] <= self._done:
                    ready.append(heapq.heappop(self._waiters)[2])
            for fut in ready:
                _settle(fut, True)

    def _poll_loop(self) -> None:
        while True:
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.poll_once()
            except Exception:
                self.errors += 1
                log.exception("polling the event store failed")

    def poll_once(self) -> None:
        """Fold in users of events stored by other processes since the last poll."""
        last = self.holder.folded_through
        rows = self.holder.store.events_since(last)
        if not rows:
            return
        with self._cond:
            users = {u for i, u in rows if i not in self._own_ids}
            self._own_ids.difference_update(i for i, _ in rows)
        if users:
            self.request(users)
        self.holder.folded_through = max(self.holder.folded_through, rows[-1][0])


def _settle(fut: Future, value) -> None:
    if fut.set_running_or_notify_cancel():  # a waiter that timed out cancelled its future
        fut.set_result(value)
