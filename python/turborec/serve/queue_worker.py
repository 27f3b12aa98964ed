"""One background thread that takes work from a queue in batches: what the recommendation
micro-batcher and the feedback group commit share.

The thread blocks for the first item, then takes everything that queued up meanwhile (up to a
budget), hands the batch to ``_handle`` and goes back to waiting: requests that arrive while a
batch is processed share the next one, so the batch size follows the load by itself.
"""

from __future__ import annotations

import queue
import threading

_STOP = object()


class QueueWorker:
    """Subclasses set ``thread_name`` and implement ``_handle(batch)``; ``_size(item)`` is an
    item's share of ``budget`` (1 by default) and ``_on_stop()`` settles what is left queued."""

    thread_name = "turborec-worker"

    def __init__(self, *, budget: int):
        self.budget = int(budget)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout=30)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _put(self, item) -> None:
        self._queue.put(item)

    def _size(self, item) -> int:
        return 1

    def _handle(self, batch: list) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _on_stop(self) -> None:
        """Called once when the thread stops; the default leaves nothing to settle."""

    def _take_rest(self):
        """The items still queued (without the stop mark), for ``_on_stop``."""
        rest = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return rest
            if item is not _STOP:
                rest.append(item)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                self._on_stop()
                return
            batch, used, stop = [first], self._size(first), False
            while used < self.budget:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
                used += self._size(nxt)
            self._handle(batch)
            if stop:
                self._on_stop()
                return
