"""Model file watch: swap to a new model when its file is replaced, through the admin swap path.

A thread polls the served file's identity (inode, device, size, mtime) every ``interval`` seconds.
When it changes and then holds still for one more poll, the file is loaded and published with
``ModelHolder.swap`` -- the same atomic swap as ``POST /v1/admin/reload``: readers keep the old
model until the new one is complete, and no answer mixes the two.

Writers should write the new model next to the served one and ``os.replace`` it over the path
(write-then-rename): the path then names either the old file or the complete new one. A file
written in place is not trusted either way: one that is still changing is not read, and one that
fails to load (half-written, corrupt, not a model) is refused and logged while the current model
keeps serving; the next change of the file is tried again. A file with the same content as the
served model (a touch, a copy) is not swapped.
"""

from __future__ import annotations

import logging
import os
import threading

from .holder import file_version

log = logging.getLogger("turborec.serve")


def file_identity(path: str):
    """(device, inode, size, mtime in ns) of path, or None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class ModelFileWatcher:
    def __init__(self, holder, *, interval: float = 2.0):
        if not interval > 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval!r}")
        self.holder = holder
        self.interval = float(interval)
        self._path = holder.state.path
        self._seen = file_identity(self._path)  # the file identity last acted on (served, or refused)
        self._candidate = None  # a changed identity waiting one poll to prove it holds still
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.swaps = 0
        self.failures = 0

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="turborec-model-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check_once()
            except Exception:  # never let the watch die: the next poll tries again
                log.exception("model file watch failed")

    def check_once(self) -> str:
        """One poll: 'unchanged', 'missing', 'settling', 'same-content', 'swapped' or 'failed'."""
        path = self.holder.state.path
        if path != self._path:  # an admin reload moved the service to another file
            self._path, self._seen, self._candidate = path, file_identity(path), None
            return "unchanged"
        ident = file_identity(path)
        if ident is None:
            return "missing"  # removed (or between unlink and rename): keep serving what we have
        if ident == self._seen:
            self._candidate = None
            return "unchanged"
        if ident != self._candidate:
            self._candidate = ident
            return "settling"
        self._candidate = None
        try:
            if file_version(path) == self.holder.state.version:
                self._seen = ident
                return "same-content"
            state = self.holder.swap(path)
        except Exception as exc:
            # Refused: the current model keeps serving. Remember this identity so a broken file
            # is not reloaded every poll; the writer's next change is tried again.
            self._seen = ident
            self.failures += 1
            log.warning("model file %s changed but could not be loaded (%s: %s); still serving %s", path,
                        type(exc).__name__, exc, self.holder.state.version)
            return "failed"
        self._seen = ident
        self.swaps += 1
        log.info("model file %s changed: now serving %s", path, state.version)
        return "swapped"
