"""Where the tool keeps its files (XDG base directories, design section 5).

Every directory the tool creates is mode 0700.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path


def _base(env: Mapping[str, str], var: str, fallback: str) -> Path:
    value = env.get(var, "")
    # The XDG spec says relative values are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return Path(env.get("HOME") or os.path.expanduser("~")) / fallback


def config_dir(env: Mapping[str, str]) -> Path:
    return _base(env, "XDG_CONFIG_HOME", ".config") / "uploader"


def state_dir(env: Mapping[str, str]) -> Path:
    return _base(env, "XDG_STATE_HOME", ".local/state") / "uploader"


def cache_dir(env: Mapping[str, str]) -> Path:
    return _base(env, "XDG_CACHE_HOME", ".cache") / "uploader"


def data_dir(env: Mapping[str, str]) -> Path:
    return _base(env, "XDG_DATA_HOME", ".local/share") / "uploader"


def history_path(env: Mapping[str, str]) -> Path:
    """The upload history (a SQLite database, see ``uploader/history/store.py``)."""
    return data_dir(env) / "history.sqlite3"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` and every missing parent with mode 0700; return it.

    ``Path.mkdir(parents=True)`` would give the parents the umask's mode (often 0755); the
    XDG spec asks for 0700 for any directory created on the way. Directories that already
    exist are the user's and keep their mode.
    """
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:  # another process was quicker
            continue
        os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask
    return path


STALE_TEMPORARY = 600.0  # seconds: a write takes milliseconds; older, its writer was killed


def remove_stale_temporaries(
    directory: Path, prefix: str, now: float, *, pid_named: bool = False
) -> None:
    """Remove the temporary files (``PREFIX*.tmp``; ``pid_named``: ``PREFIX<digits>.tmp``
    only) in ``directory`` that writers killed mid-write (kill -9, a crash, a power cut)
    left behind: those older than :data:`STALE_TEMPORARY` at ``now`` (a time read from the
    file system: a fresh file's mtime). The file they were replacing is whole (a rename is
    atomic); only the leftovers pile up otherwise. Best effort: a failure leaves them."""
    try:
        names = [
            n
            for n in os.listdir(directory)
            if n.startswith(prefix)
            and n.endswith(".tmp")
            and (not pid_named or n[len(prefix) : -len(".tmp")].isdigit())
        ]
    except OSError:
        return
    for name in names:
        path = directory / name
        try:
            info = path.lstat()
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime > STALE_TEMPORARY:
                path.unlink()
        except OSError:
            continue


class NotOurFileError(OSError):
    """A path where the tool keeps a file holds something else: a FIFO, a device, or a
    file larger than any the tool writes there."""


def read_own_file(path: Path, limit: int) -> bytes:
    """The bytes of a file the tool keeps (rate-limit state, an ETag cache entry), read
    without ever hanging: opened without blocking (a FIFO put there), a regular file only,
    at most ``limit`` bytes (``/dev/zero`` linked there). FileNotFoundError when absent,
    :class:`NotOurFileError` for something else in its place, OSError when unreadable."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotOurFileError(errno.EINVAL, "not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise NotOurFileError(errno.EFBIG, f"over {limit >> 20} MiB")
    return data
