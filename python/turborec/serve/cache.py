"""Result cache: answers keyed by (user, request), dropped by that user's feedback and by a swap.

Entries carry the generation of the state that computed them; invalidation records the generation
from which a user's (or everyone's) entries are valid again, so an answer computed from an old
state and stored after the invalidation is never served.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class ResultCache:
    def __init__(self, max_entries: int = 100_000):
        self.max_entries = int(max_entries)
        self._entries: OrderedDict = OrderedDict()
        self._valid_from: dict = {}  # user key -> generation
        self._all_valid_from = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, user: str, request: tuple):
        if self.max_entries <= 0:
            return None
        with self._lock:
            entry = self._entries.get((user, request))
            if entry is not None and entry[0] >= max(self._all_valid_from, self._valid_from.get(user, 0)):
                self._entries.move_to_end((user, request))
                self.hits += 1
                return entry[1]
            self.misses += 1
            return None

    def put(self, user: str, request: tuple, generation: int, value) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            if generation < max(self._all_valid_from, self._valid_from.get(user, 0)):
                return
            self._entries[(user, request)] = (generation, value)
            self._entries.move_to_end((user, request))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def invalidate_users(self, users, generation: int) -> None:
        with self._lock:
            for u in users:
                self._valid_from[u] = generation
            for key in [k for k in self._entries if k[0] in set(users)]:
                del self._entries[key]

    def clear(self, generation: int) -> None:
        with self._lock:
            self._all_valid_from = generation
            self._valid_from.clear()
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
