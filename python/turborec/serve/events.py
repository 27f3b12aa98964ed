"""The durable feedback store: one SQLAlchemy table, SQLite (WAL) by default, any SQLAlchemy URL.

An event is acknowledged only after its transaction committed. Events carrying an idempotency key
are stored once: a retry with the same key returns the first copy's id. Every statement uses bound
parameters (SQLAlchemy Core), never string formatting.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

TABLE = "turborec_events"
NOTIFY_CHANNEL = "turborec_events"  # see listen.py


@dataclass(frozen=True)
class Event:
    user: str
    item: str
    value: float = 1.0
    type: str = "rating"
    timestamp: float | None = None
    idempotency_key: str | None = None


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        TABLE, metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(256), nullable=False, index=True),
        sa.Column("item_id", sa.String(256), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("idempotency_key", sa.String(256), nullable=True, unique=True),
    )


class EventStore:
    """Append-only event log with idempotent writes and reads by user / since an id."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL"):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=8, max_overflow=8)
        self.engine = sa.create_engine(url, **kwargs)
        # PostgreSQL: every commit with new events NOTIFYs the other server processes (listen.py)
        self.notifies = self.engine.dialect.name == "postgresql"
        self.origin = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"  # tells our own notifications apart
        if self.is_sqlite:
            synchronous = str(sqlite_synchronous).upper()
            if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
                raise ValueError(f"sqlite_synchronous must be OFF, NORMAL, FULL or EXTRA, got {sqlite_synchronous!r}")

            @sa.event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _record):
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
                cur.execute(f"PRAGMA synchronous={synchronous}")  # FULL: fsync at each commit
                cur.execute("PRAGMA busy_timeout=30000")  # other server processes share the file
                cur.close()

        self.metadata = sa.MetaData()
        self.table = _table(self.metadata)
        self.metadata.create_all(self.engine)
        # SQLite has one writer at a time: serialise this process's writers instead of spinning.
        self._write_lock = threading.Lock() if self.is_sqlite else None

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            conn.execute(sa.select(1))
        return True

    def append(self, events: list[Event]) -> list[tuple[int, bool]]:
        """Store events in one transaction; returns (id, duplicate) per event, in order, after commit."""
        if not events:
            return []
        for attempt in range(3):
            try:
                if self._write_lock is None:
                    return self._append(events)
                with self._write_lock:
                    return self._append(events)
            except IntegrityError:
                # Another process stored one of these keys between our check and our insert: the
                # whole transaction rolled back, so retrying sees that key as a duplicate.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _append(self, events):
        t = self.table
        keys = sorted({e.idempotency_key for e in events if e.idempotency_key is not None})
        now = time.time()
        with self.engine.begin() as conn:
            existing = {}
            for lo in range(0, len(keys), 500):
                chunk = keys[lo:lo + 500]
                rows = conn.execute(sa.select(t.c.idempotency_key, t.c.id).where(t.c.idempotency_key.in_(chunk)))
                existing.update(dict(rows.all()))
            out: list = [None] * len(events)
            fresh, fresh_pos, seen_in_batch = [], [], {}
            for pos, e in enumerate(events):
                k = e.idempotency_key
                if k is not None and k in existing:
                    out[pos] = (existing[k], True)
                    continue
                if k is not None and k in seen_in_batch:
                    out[pos] = ("batch", seen_in_batch[k])
                    continue
                if k is not None:
                    seen_in_batch[k] = len(fresh)
                fresh.append({"user_id": e.user, "item_id": e.item, "value": float(e.value), "type": e.type,
                              "ts": now if e.timestamp is None else float(e.timestamp), "idempotency_key": k})
                fresh_pos.append(pos)
            ids = []
            if fresh:
                if self.engine.dialect.insert_executemany_returning:
                    insert = t.insert().returning(t.c.id, sort_by_parameter_order=True)
                    ids = list(conn.execute(insert, fresh).scalars())
                else:
                    ids = [conn.execute(t.insert(), row).inserted_primary_key[0] for row in fresh]
            if ids and self.notifies:  # delivered at commit, and only if this transaction commits
                conn.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, f"{self.origin}:{max(ids)}")))
            for pos, i in zip(fresh_pos, ids):
                out[pos] = (int(i), False)
            for pos, v in enumerate(out):
                if v[0] == "batch":
                    out[pos] = (int(ids[v[1]]), True)
        return out

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one())

    def max_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(self.table.c.id), 0))).scalar_one())

    def events_since(self, after_id: int, limit: int = 100_000) -> list[tuple[int, str]]:
        """(id, user) of the events whose id > after_id, in id order (at most limit)."""
        t = self.table
        with self.engine.connect() as conn:
            return [(int(i), u) for i, u in conn.execute(
                sa.select(t.c.id, t.c.user_id).where(t.c.id > after_id).order_by(t.c.id).limit(limit))]

    def users_since(self, after_id: int) -> tuple[list[str], int]:
        """Every user with events whose id > after_id, and the largest id read."""
        users, last = set(), after_id
        while rows := self.events_since(last):
            users.update(u for _, u in rows)
            last = rows[-1][0]
        return sorted(users), last

    def history(self, users: list[str]) -> dict[str, list[tuple[str, float]]]:
        """Each user's (item, value) events in arrival order."""
        t = self.table
        out: dict[str, list] = {u: [] for u in users}
        with self.engine.connect() as conn:
            for lo in range(0, len(users), 500):
                rows = conn.execute(sa.select(t.c.user_id, t.c.item_id, t.c.value)
                                    .where(t.c.user_id.in_(users[lo:lo + 500])).order_by(t.c.id))
                for u, i, v in rows:
                    out[u].append((i, float(v)))
        return out

    def all_events(self, batch: int = 50_000):
        """(id, user, item, value, type, ts) rows in id order, read in bounded pages."""
        t = self.table
        after = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.select(t.c.id, t.c.user_id, t.c.item_id, t.c.value, t.c.type, t.c.ts)
                                    .where(t.c.id > after).order_by(t.c.id).limit(batch)).all()
            if not rows:
                return
            yield from rows
            after = rows[-1][0]
