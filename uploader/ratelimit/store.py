"""Persistent, shared rate-limit state: the :class:`StateStore` interface the limiter uses,
and its implementation on disk, :class:`FileStateStore` (one JSON file per key, read and
written under a lock). Redis (``redis_store.py``) is the other backend, chosen in
``commands/runtime.py``; the limiter does not change.

A hotkey pressed twice, a cron job and a batch upload running at once share one budget: every
read-modify-write happens under an exclusive ``fcntl.flock`` on a sidecar lock file. A
corrupt or unreadable state file is discarded (it only costs us what we knew), never fatal;
malformed entries inside a readable file are dropped one by one: :func:`clean_state`
(:mod:`uploader.ratelimit.stateshape`) is the shape check any backend applies to what it
loads.

The state of one key::

    {"version": 1,
     "buckets": {name: {limit, remaining, reset_at, observed_at, source, next_at, ...}},
     "reservations": [{"id": str, "costs": {bucket: credits}, "expires": epoch,
                       "owner": {"host", "boot", "pid", "start"} (see ``owner.py``)}]}

On disk (issue 13: the limiter's cost per file is a fraction of a millisecond): the JSON,
then a newline and 16 whitespace characters that spell the CRC-32 of the JSON, two bits
each (:func:`encode`). Whitespace, so the file stays plain JSON for ``jq``, an editor or an
older ``uploader``; a file without that trailer (edited by hand) is read as it is. Writes
overwrite the file in place under the lock (a new file renamed over the old one costs a
millisecond or more on ext4, which flushes a renamed-over file's data); a write torn by a
crash or a power loss fails the checksum (or the JSON) and is discarded with a warning,
never read as figures. There is no ``fsync``: a rate-limit estimate is not worth a disk
flush per request; after a power loss the state may be a few requests old or gone, and the
next answer's headers correct it. A file that cannot be overwritten (none yet, unreadable,
not a regular file) is replaced by a new one renamed over it, as before.

Anything dropped on load is reported once per store and key through ``notify`` (a
``warning:`` line): the tool goes on with what it could read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

from uploader.config.paths import ensure_private_dir, read_own_file
from uploader.ratelimit import owner as owners
from uploader.ratelimit.stateshape import (
    LARGEST_STATE,
    MAX_COUNT,
    VERSION,
    TornError,
    clean_state,
    decode,
    empty_state,
    encode,
)

__all__ = ["MAX_COUNT", "VERSION", "FileStateStore", "StateStore", "clean_state", "empty_state"]

log = logging.getLogger("uploader.ratelimit.limiter")

# A temp file of another key older than this is a dead writer's (a write takes milliseconds).
STALE_TMP = 3600.0


def _dumps(state: dict[str, Any]) -> str:
    return json.dumps(state, sort_keys=True)


EMPTY_TEXT = _dumps(empty_state())
_T = TypeVar("_T")


class StateStore(Protocol):
    """Where the limiter keeps each key's state, shared by every process of the profile
    (with Redis: of the fleet). :meth:`update` runs ``fn(state, now)`` atomically and
    returns its result (nothing saved when it raises); ``now`` is the store's time (the
    host's clock, or Redis ``TIME``: one timeline for hosts whose clocks disagree). An
    ``exclusive`` store runs ``fn`` once, excluding other updates of the key (``fn`` may
    then do slow work); any other may re-run it when the state changed underneath, so
    ``fn`` changes only the state it is given. :meth:`read` is a snapshot for display.
    A store that may refuse a step (Redis gone, ``on_backend_error = "fail"``) also has
    ``after_send(key, fn, clock)``: :meth:`update` for the steps after a request went
    (settle, release, a refusal's figures), which are never refused."""

    def update(
        self, key: str, fn: Callable[[dict[str, Any], float], _T], clock: Callable[[], float]
    ) -> _T: ...

    def read(self, key: str) -> dict[str, Any]: ...


class _Seen(NamedTuple):
    """A state file as this store last read or wrote it."""

    fd: int  # open read-write on it
    raw: bytes  # its bytes then
    text: str  # the canonical JSON of ``state`` (what a write of it would hold)
    state: dict[str, Any]


class FileStateStore:
    """Files ``<key>.json`` and ``<key>.lock`` (0600) in ``directory`` (created 0700).

    When the directory cannot be created or written (read-only home, full disk), the store
    warns once and keeps the state in memory for the rest of the process: rate-limit
    bookkeeping must never be the reason an upload fails.

    A transaction reads the file (one ``pread`` on a descriptor kept open) and parses it
    only when its bytes differ from what this store last saw; it serialises the state once
    at the end and writes only when that changed.
    """

    def __init__(self, directory: Path, *, notify: Callable[[str], None] = lambda _m: None) -> None:
        self.directory = directory
        self.notify = notify
        self._memory: dict[str, dict[str, Any]] | None = None  # set once the disk failed
        self._warned: set[str] = set()  # keys whose bad state was reported already
        self._swept: set[str] = set()  # keys whose dead writers' temp files were removed
        self._seen: dict[str, _Seen] = {}  # key -> its file as last read or written
        self._dir_ok = False  # the directory was there (or made) once
        self._held = threading.local()  # keys this thread holds the lock of

    exclusive = True  # an update runs once, under the key's lock (see StateStore)

    def update(
        self, key: str, fn: Callable[[dict[str, Any], float], _T], clock: Callable[[], float]
    ) -> _T:
        """``fn(state, clock())`` under ``key``'s lock (see :meth:`transaction`)."""
        with self.transaction(key) as state:
            return fn(state, clock())

    def __del__(self) -> None:
        for seen in getattr(self, "_seen", {}).values():
            with contextlib.suppress(OSError):
                os.close(seen.fd)

    @contextlib.contextmanager
    def transaction(self, key: str) -> Iterator[dict[str, Any]]:
        """Yield the state of ``key`` under the lock; whatever it holds afterwards is saved.

        Nothing is saved when the body raises. Do not sleep inside: the lock is shared
        with every other process of the same profile (and every other thread: each
        transaction locks its own open file description).
        """
        fd = self._lock(key)
        if fd is None:
            assert self._memory is not None
            yield self._memory.setdefault(key, empty_state())
            return
        held = self._holding()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held.add(key)
            if key not in self._swept:
                self._swept.add(key)
                owners.sweep(self.directory, key, STALE_TMP)
            state, before = self._load(key)
            try:
                yield state
            except BaseException:
                self._forget(key)  # the body may have changed it half-way
                raise
            after = _dumps(state)
            if after != before:
                try:
                    self._write(key, state, after)
                except OSError as exc:
                    self._forget(key)
                    self._give_up_disk(exc)
                    assert self._memory is not None
                    self._memory[key] = state
        finally:
            held.discard(key)
            os.close(fd)  # closing releases the flock

    def read(self, key: str) -> dict[str, Any]:
        """A snapshot (for display only), under a shared lock when there is a lock file
        (so that no write in progress is seen; this thread's own transaction writes only
        at its end). Creates nothing and never switches the store to memory."""
        if self._memory is not None:
            return clean_state(self._memory.get(key)) or empty_state()  # a copy
        if key in self._holding():
            return clean_state(self._load(key)[0]) or empty_state()
        lock = None
        with contextlib.suppress(OSError):
            # Never blocking: a FIFO put in its place must not hang `limits`.
            lock = os.open(os.path.join(self.directory, f"{key}.lock"), os.O_RDONLY | os.O_NONBLOCK)
        try:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_SH)
            try:
                raw: bytes | OSError = read_own_file(self.directory / f"{key}.json", LARGEST_STATE)
            except FileNotFoundError:
                return empty_state()
            except OSError as exc:
                raw = exc
            return self._parse(key, raw)[0] or empty_state()
        finally:
            if lock is not None:
                os.close(lock)

    def _holding(self) -> set[str]:
        keys: set[str] | None = getattr(self._held, "keys", None)
        if keys is None:
            keys = self._held.keys = set()
        return keys

    def _lock(self, key: str) -> int | None:
        """The open sidecar lock file (not yet locked), or None when using memory."""
        if self._memory is not None:
            return None
        path = os.path.join(self.directory, f"{key}.lock")
        try:
            if not self._dir_ok:
                self._ensure_dir()
                self._dir_ok = True
            try:
                return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except FileNotFoundError:  # the directory went away since: make it again
                self._ensure_dir()
                return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
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

    def _forget(self, key: str) -> None:
        seen = self._seen.pop(key, None)
        if seen is not None:
            with contextlib.suppress(OSError):
                os.close(seen.fd)

    def _open(self, key: str) -> int | None:
        """The state file open read-write: the descriptor kept from last time while the file
        is still the one at the path (a rename over it leaves it with no link), else opened
        again; None when there is no file. Raises OSError when it cannot be opened or is not
        a regular file."""
        seen = self._seen.get(key)
        if seen is not None:
            try:
                if os.fstat(seen.fd).st_nlink > 0:
                    return seen.fd
            except OSError:
                pass
            self._forget(key)
        try:
            fd = os.open(os.path.join(self.directory, f"{key}.json"), os.O_RDWR)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(0, "not a regular file")
        return fd

    def _load(self, key: str) -> tuple[dict[str, Any], str | None]:
        """The state of ``key`` and its canonical JSON as stored; None instead of the JSON
        when something had to be discarded (then the caller rewrites the file, so the
        warning is not repeated by every later run). Called under the lock: the state
        object is the one kept from last time when the file's bytes have not changed."""
        fd = None
        try:
            fd = self._open(key)
            if fd is None:
                self._forget(key)
                return empty_state(), EMPTY_TEXT
            chunks: list[bytes] = []
            while chunk := os.pread(fd, 65536, 65536 * len(chunks)):
                chunks.append(chunk)
                if len(chunks) * 65536 > LARGEST_STATE:
                    raise OSError(0, f"larger than {LARGEST_STATE >> 20} MiB")
            raw: bytes | OSError = b"".join(chunks)
            seen = self._seen.get(key)
            if seen is not None and seen.raw == raw:
                return seen.state, seen.text
        except OSError as exc:
            raw = exc
        state, dropped = self._parse(key, raw)
        if state is None:
            self._drop_fd(key, fd)
            return empty_state(), None
        text = _dumps(state)
        assert fd is not None
        assert isinstance(raw, bytes)
        self._seen[key] = _Seen(fd, raw, text, state)
        return state, None if dropped else text

    def _parse(self, key: str, raw: bytes | OSError) -> tuple[dict[str, Any] | None, bool]:
        """The state in ``raw`` (the file's bytes, or why it could not be read) and whether
        anything had to be dropped; None when there is no state to read in it. Every loss
        is reported (once, see :meth:`_warn`)."""
        path = self.directory / f"{key}.json"
        try:
            if isinstance(raw, OSError):
                raise raw
            data = decode(raw)
        # UnicodeDecodeError is a ValueError; RecursionError: "[[[[...", nested too deep.
        except (OSError, ValueError, RecursionError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not JSON"
            why = "a torn write" if isinstance(exc, TornError) else why
            self._warn(key, f"rate-limit state {path} is unreadable ({why}): discarded")
            return None, True
        dropped: list[str] = []
        state = clean_state(data, dropped)
        if state is None:
            self._warn(key, f"rate-limit state {path} has an unknown shape: discarded")
            return None, True
        if dropped:
            shown = ", ".join(dict.fromkeys(dropped))
            self._warn(key, f"rate-limit state {path}: discarded malformed entries ({shown})")
        return state, bool(dropped)

    def _drop_fd(self, key: str, fd: int | None) -> None:
        """Forget ``key``'s file after a failed read, closing ``fd`` once."""
        seen = self._seen.get(key)
        if seen is not None and seen.fd == fd:
            self._forget(key)
        elif fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _warn(self, key: str, message: str) -> None:
        log.debug("%s", message)
        if key not in self._warned:
            self._warned.add(key)
            self.notify(f"warning: {message}")

    def _write(self, key: str, state: dict[str, Any], text: str) -> None:
        """Save ``text`` (the JSON of ``state``): over the file in place when this store has
        it open (the old bytes put back if the write fails half-way), else as a new file
        renamed over whatever is at the path. No fsync: see the module docstring."""
        data = encode(text)
        seen = self._seen.get(key)
        if seen is not None:
            try:
                self._overwrite(seen.fd, data)
            except BaseException:
                with contextlib.suppress(OSError):
                    self._overwrite(seen.fd, seen.raw)
                self._forget(key)
                raise
            self._seen[key] = _Seen(seen.fd, data, text, state)
            return
        # Not tempfile.mkstemp: importing tempfile costs the hotkey path milliseconds.
        # O_EXCL with a random name is what mkstemp does; 0600 from the start.
        tmp = os.path.join(self.directory, f".{key}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            self._overwrite(fd, data)
            os.replace(tmp, os.path.join(self.directory, f"{key}.json"))
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._seen[key] = _Seen(fd, data, text, state)

    @staticmethod
    def _overwrite(fd: int, data: bytes) -> None:
        view, done = memoryview(data), 0
        while done < len(data):
            done += os.pwrite(fd, view[done:], done)
        os.ftruncate(fd, len(data))
