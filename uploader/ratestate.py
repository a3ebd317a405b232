"""Persistent, shared rate-limit state: one JSON file per key, read and written under a lock.

A hotkey pressed twice, a cron job and a batch upload running at once share one budget: every
read-modify-write happens under an exclusive ``fcntl.flock`` on a sidecar lock file, and the
new state replaces the old one atomically (temp file in the same directory, fsync, rename).
A corrupt or unreadable state file is discarded (it only costs us what we knew), never fatal.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("uploader.ratelimit")

VERSION = 1


def empty_state() -> dict[str, Any]:
    return {"version": VERSION, "buckets": {}, "reservations": []}


class StateStore:
    """Files ``<key>.json`` (0600) and ``<key>.lock`` in ``directory`` (0700)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _ensure_dir(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    @contextlib.contextmanager
    def transaction(self, key: str) -> Iterator[dict[str, Any]]:
        """Yield the state of ``key`` under the lock; whatever it holds afterwards is saved."""
        self._ensure_dir()
        lock_path = self.directory / f"{key}.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = self._read(key)
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                self._write(key, state)
        finally:
            os.close(fd)  # closing releases the flock

    def read(self, key: str) -> dict[str, Any]:
        """A snapshot without taking the lock (for display only)."""
        return self._read(key)

    def _read(self, key: str) -> dict[str, Any]:
        path = self.directory / f"{key}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return empty_state()
        except (OSError, ValueError) as exc:
            log.debug(
                "discarding unreadable rate-limit state %s (%s)", path.name, type(exc).__name__
            )
            return empty_state()
        if (
            not isinstance(data, dict)
            or data.get("version") != VERSION
            or not isinstance(data.get("buckets"), dict)
            or not isinstance(data.get("reservations"), list)
        ):
            log.debug("discarding rate-limit state %s of an unknown shape", path.name)
            return empty_state()
        return data

    def _write(self, key: str, state: dict[str, Any]) -> None:
        # Not tempfile.mkstemp: importing tempfile costs the hotkey path milliseconds.
        tmp = str(self.directory / f".{key}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(state, fh, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.directory / f"{key}.json")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
