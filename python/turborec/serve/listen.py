"""PostgreSQL LISTEN/NOTIFY: other server processes' feedback is folded in at once, not at the next poll.

Each append on PostgreSQL runs ``pg_notify(CHANNEL, '<origin>:<last id>')`` inside its own
transaction, so the notification goes out exactly when (and only if) the events commit. Every
server process keeps one extra connection that LISTENs on the channel; a notification from
another process wakes its poller, which reads the new events and folds their users in. Polling
stays: it is the fallback if the listening connection drops (it reconnects) or a notification is
missed, and the only mechanism on SQLite.
"""

from __future__ import annotations

import logging
import select
import threading

from .events import NOTIFY_CHANNEL as CHANNEL

log = logging.getLogger("turborec.serve")


class EventListener:
    def __init__(self, store, on_events, *, reconnect_delay: float = 1.0):
        self.store = store
        self.on_events = on_events
        self.reconnect_delay = float(reconnect_delay)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = False
        self.notifications = 0  # from other processes, for the metrics

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="turborec-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            raw = None
            try:
                raw = self.store.engine.raw_connection()
                conn = raw.driver_connection
                raw.detach()  # ours alone, never back in the pool
                conn.autocommit = True
                cur = conn.cursor()
                cur.execute(f"LISTEN {CHANNEL}")  # a constant identifier: nothing user-supplied here
                cur.close()
                self.connected = True
                self._listen(conn)
            except Exception as exc:
                if not self._stop.is_set():
                    log.warning("LISTEN on the event store failed (%s); polling only until it reconnects",
                                type(exc).__name__)
            finally:
                self.connected = False
                if raw is not None:
                    try:
                        raw.close()
                    except Exception:
                        pass
            self._stop.wait(self.reconnect_delay)

    def _listen(self, conn) -> None:
        if hasattr(conn, "notifies") and callable(conn.notifies):  # psycopg 3
            while not self._stop.is_set():
                for note in conn.notifies(timeout=0.5):
                    self._received(note.payload)
            return
        while not self._stop.is_set():  # psycopg2: wait on the socket, then drain
            if select.select([conn], [], [], 0.5) == ([], [], []):
                continue
            conn.poll()
            while conn.notifies:
                self._received(conn.notifies.pop(0).payload)

    def _received(self, payload: str) -> None:
        origin, _, _last = payload.rpartition(":")
        if origin == self.store.origin:
            return  # our own commit: this process folded those events already
        self.notifications += 1
        self.on_events()
