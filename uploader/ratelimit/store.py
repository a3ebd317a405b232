"""Persistent, shared rate-limit state: the :class:`StateStore` interface the limiter uses,
and its implementation on disk, :class:`FileStateStore` (one JSON file per key, read and
written under a lock). Another backend (Redis, say) is one more class with the two methods
of :class:`StateStore`, built in ``commands/runtime.py``; the limiter does not change.

A hotkey pressed twice, a cron job and a batch upload running at once share one budget: every
read-modify-write happens under an exclusive ``fcntl.flock`` on a sidecar lock file, and the
new state replaces the old one atomically (temp file in the same directory, fsync, rename).
A corrupt or unreadable state file is discarded (it only costs us what we knew), never fatal;
malformed entries inside a readable file are dropped one by one: :func:`clean_state` is
the shape check any backend applies to what it loads.

The state of one key::

    {"version": 1,
     "buckets": {name: {limit, remaining, reset_at, observed_at, source, next_at, ...}},
     "reservations": [{"id": str, "costs": {bucket: credits}, "expires": epoch,
                       "owner": {"host", "boot", "pid", "start"} (see ``owner.py``)}]}

Anything dropped on load is reported once per store and key through ``notify`` (a
``warning:`` line): the tool goes on with what it could read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from uploader.config.paths import ensure_private_dir, read_own_file
from uploader.ratelimit import owner as owners

log = logging.getLogger("uploader.ratelimit.limiter")

VERSION = 1
# A state file holds a few buckets and reservations: a few kB. Anything far larger (a
# device linked there) is not read whole.
LARGEST_STATE = 4 << 20

# Fields a stored bucket may have, and their type: anything else is dropped on load, so the
# limiter never meets a string where it does arithmetic (or a NaN, which json accepts).
_INT_FIELDS = ("limit", "remaining", "strikes")
_TIME_FIELDS = ("reset_at", "observed_at", "next_at", "blocked_until", "refused_at")
# Counts above this are not credits anyone has (and would overflow float arithmetic).
MAX_COUNT = 10**9
# A temp file of another key older than this is a dead writer's (a write takes milliseconds).
STALE_TMP = 3600.0


def empty_state() -> dict[str, Any]:
    return {"version": VERSION, "buckets": {}, "reservations": []}


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _clean_bucket(raw: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    bucket: dict[str, Any] = {}
    for name in _INT_FIELDS:
        if name in raw and (raw[name] is None or _is_count(raw[name])):
            bucket[name] = raw[name]
    for name in _TIME_FIELDS:
        if name in raw and (raw[name] is None or _is_time(raw[name])):
            bucket[name] = raw[name]
    for name in ("source", "note"):
        if isinstance(raw.get(name), str):
            bucket[name] = raw[name]
    if isinstance(raw.get("refreshed"), bool):
        bucket["refreshed"] = raw["refreshed"]
    known = (*_INT_FIELDS, *_TIME_FIELDS, "source", "note", "refreshed")
    dropped.extend(name for name in known if name in raw and name not in bucket)
    return bucket


def _clean_reservation(raw: object) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    costs = raw.get("costs")
    if (
        not isinstance(raw.get("id"), str)
        or not _is_time(raw.get("expires"))
        or not isinstance(costs, dict)
        or not all(isinstance(k, str) and _is_count(v) for k, v in costs.items())
    ):
        return None
    cleaned = {"id": raw["id"], "costs": dict(costs), "expires": raw["expires"]}
    holder = owners.clean(raw.get("owner"))
    if holder is not None:
        cleaned["owner"] = holder
    elif "owner" in raw:
        cleaned["owner"] = None  # unreadable: held until it expires, and reported
    return cleaned


def clean_state(data: object, dropped: list[str] | None = None) -> dict[str, Any] | None:
    """``data`` reduced to the well-typed state shape; None when it is not a state at all.

    What is dropped on the way is appended to ``dropped`` (for the warning)."""
    dropped = [] if dropped is None else dropped
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None
    buckets, reservations = data.get("buckets"), data.get("reservations")
    if not isinstance(buckets, dict) or not isinstance(reservations, list):
        return None
    state = empty_state()
    for name, raw in buckets.items():
        if isinstance(name, str) and isinstance(raw, dict):
            state["buckets"][name] = _clean_bucket(raw, dropped)
        else:
            dropped.append("a bucket")
    for item in reservations:
        cleaned = _clean_reservation(item)
        if cleaned is not None:
            if "owner" in cleaned and cleaned["owner"] is None:
                del cleaned["owner"]
                dropped.append("a reservation's owner")
            state["reservations"].append(cleaned)
        else:
            dropped.append("a reservation")
    return state


class StateStore(Protocol):
    """Where the limiter keeps the state of each key (see the module docstring).

    Every process of the same profile shares it: :meth:`transaction` is the only way to
    change a state, and it must exclude every other transaction on the same key, in this
    process and in others, for as long as the block runs.
    """

    def transaction(self, key: str) -> AbstractContextManager[dict[str, Any]]:
        """The state of ``key`` (well-typed, see :func:`clean_state`; :func:`empty_state`
        when there is none), held exclusively; whatever it holds when the block ends
        without an exception is saved, and nothing is saved when it raises."""
        ...

    def read(self, key: str) -> dict[str, Any]:
        """A snapshot of ``key``'s state without the lock (for display only)."""
        ...


class FileStateStore:
    """Files ``<key>.json`` and ``<key>.lock`` (0600) in ``directory`` (created 0700).

    When the directory cannot be created or written (read-only home, full disk), the store
    warns once and keeps the state in memory for the rest of the process: rate-limit
    bookkeeping must never be the reason an upload fails.
    """

    def __init__(self, directory: Path, *, notify: Callable[[str], None] = lambda _m: None) -> None:
        self.directory = directory
        self.notify = notify
        self._memory: dict[str, dict[str, Any]] | None = None  # set once the disk failed
        self._warned: set[str] = set()  # keys whose bad state was reported already
        self._swept: set[str] = set()  # keys whose dead writers' temp files were removed

    @contextlib.contextmanager
    def transaction(self, key: str) -> Iterator[dict[str, Any]]:
        """Yield the state of ``key`` under the lock; whatever it holds afterwards is saved.

        Nothing is saved when the body raises. Do not sleep inside: the lock is shared
        with every other process of the same profile.
        """
        fd = self._lock(key)
        if fd is None:
            assert self._memory is not None
            yield self._memory.setdefault(key, empty_state())
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if key not in self._swept:
                self._swept.add(key)
                self._sweep(key)
            state, damaged = self._load(key)
            before = json.dumps(state, sort_keys=True)
            yield state
            if damaged or json.dumps(state, sort_keys=True) != before:
                try:
                    self._write(key, state)
                except OSError as exc:
                    self._give_up_disk(exc)
                    assert self._memory is not None
                    self._memory[key] = state
        finally:
            os.close(fd)  # closing releases the flock

    def read(self, key: str) -> dict[str, Any]:
        """A snapshot without taking the lock (for display only)."""
        if self._memory is not None:
            return clean_state(self._memory.get(key)) or empty_state()  # a copy
        return self._load(key)[0]

    def _lock(self, key: str) -> int | None:
        """The open sidecar lock file (not yet locked), or None when using memory."""
        if self._memory is not None:
            return None
        try:
            self._ensure_dir()
            return os.open(self.directory / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            self._give_up_disk(exc)
            return None

    def _give_up_disk(self, exc: OSError) -> None:
        log.warning(
            "rate-limit state is kept in memory only: %s: %s",
            self.directory,
            exc.strerror or type(exc).__name__,
        )
        self._memory = {}

    def _ensure_dir(self) -> None:
        """Create the directory and any missing parent with mode 0700 (design section 5)."""
        if not self.directory.is_dir():
            ensure_private_dir(self.directory)

    def _load(self, key: str) -> tuple[dict[str, Any], bool]:
        """The state of ``key`` and whether anything had to be discarded (then the caller
        rewrites the file, so the warning is not repeated by every later run)."""
        path = self.directory / f"{key}.json"
        try:
            data = json.loads(read_own_file(path, LARGEST_STATE).decode("utf-8"))
        except FileNotFoundError:
            return empty_state(), False
        # UnicodeDecodeError is a ValueError; RecursionError: "[[[[...", nested too deep.
        except (OSError, ValueError, RecursionError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not JSON"
            self._warn(key, f"rate-limit state {path} is unreadable ({why}): discarded")
            return empty_state(), True
        dropped: list[str] = []
        state = clean_state(data, dropped)
        if state is None:
            self._warn(key, f"rate-limit state {path} has an unknown shape: discarded")
            return empty_state(), True
        if dropped:
            shown = ", ".join(dict.fromkeys(dropped))
            self._warn(key, f"rate-limit state {path}: discarded malformed entries ({shown})")
        return state, bool(dropped)

    def _warn(self, key: str, message: str) -> None:
        log.debug("%s", message)
        if key not in self._warned:
            self._warned.add(key)
            self.notify(f"warning: {message}")

    def _sweep(self, key: str) -> None:
        """Remove temp files that killed writers left (``.KEY.PID.RAND.tmp``).

        Under ``key``'s lock no writer of ``key`` can be running (writes happen under it),
        so its temp files all go; another key's go once their writer is gone or they are
        older than STALE_TMP.
        """
        here = owners.me()
        try:
            names = [n for n in os.listdir(self.directory) if n.startswith(".")]
        except OSError:
            return
        for name in names:
            parts = name.split(".")
            if len(parts) != 5 or parts[4] != "tmp" or not parts[2].isdigit():
                continue
            path = self.directory / name
            if parts[1] != key:
                holder = {"host": here["host"], "boot": None, "pid": int(parts[2]), "start": None}
                try:
                    age = time.time() - path.lstat().st_mtime
                except OSError:
                    continue
                dead = 0 < holder["pid"] < 2**31 and holder["pid"] != here["pid"]
                if not (age > STALE_TMP or (dead and owners.gone(holder, here))):
                    continue
            with contextlib.suppress(OSError):
                path.unlink()

    def _write(self, key: str, state: dict[str, Any]) -> None:
        # Not tempfile.mkstemp: importing tempfile costs the hotkey path milliseconds.
        # O_EXCL with a random name is what mkstemp does; 0600 from the start.
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
