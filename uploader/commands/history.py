"""``uploader history``: what was uploaded, from the local journal (``history/store.py``).

:func:`open_history` is the one place a command gets the history: off when ``[defaults]
history = false``. The listing reads whatever an earlier run recorded, recording on or off;
it never creates the database.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from uploader.config.paths import history_path
from uploader.history.store import Entry, History
from uploader.output import BREAKS

if TYPE_CHECKING:  # `uploader history` needs no HTTP stack: runtime.py imports it
    from uploader.commands.runtime import Runtime
    from uploader.config.settings import Config

DEFAULT_TTY_LIMIT = 20  # rows a table on a terminal shows unless --limit says otherwise
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def open_history(config: Config, runtime: Runtime) -> History:
    """The history of this run: off (``History(None)``) when ``[defaults] history`` is
    false; its warnings (one each) go through ``runtime.notify``."""
    if not config.defaults.history:
        return History(None)
    return reader(runtime)


def reader(runtime: Runtime) -> History:
    """The history file whatever ``[defaults] history`` says: what earlier runs recorded
    stays listable (and clearable) after recording was turned off."""
    return History(history_path(runtime.env), clock=runtime.clock, warn=runtime.notify)


def parse_since(text: str, now: float) -> float:
    """``--since``: a date (``2026-11-30``, local midnight), a date and time (ISO 8601,
    ``2026-11-30T14:05``, local unless it names a zone), or a duration meaning that long
    ago (``90s``, ``45m``, ``2h``, ``3d``, ``1w``, ``1h30m``). ValueError otherwise."""
    value = text.strip()
    if _DURATION.fullmatch(value):
        seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(value))
        return now - seconds
    try:
        when = datetime.fromisoformat(value)
        return when.timestamp()  # naive: local time
    except (ValueError, OverflowError, OSError):
        raise ValueError(
            f"{text!r} is not a date (2026-11-30), a date and time (2026-11-30T14:05)"
            " or a duration (45m, 2h, 3d)"
        ) from None


def iso_utc(epoch: float) -> str | None:
    """``2026-12-01T17:31:53Z``; None for a time the calendar cannot show."""
    try:
        when = datetime.fromtimestamp(epoch, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def record(entry: Entry) -> dict[str, object]:
    """One row as JSON: the keys of upload's JSON record (``provider`` is the profile
    name, ``status`` the history's), then ``sha256``, ``time``, ``size``, ``resolved``,
    then the provider's extras."""
    found: dict[str, object] = {
        "path": entry.path,
        "provider": entry.target.profile,
        "status": entry.status,
        "id": entry.remote_id or None,
        "url": entry.url or None,
        "delete_id": entry.delete_id or None,
        "error": entry.error,
        "ambiguous": entry.ambiguous,
        "sha256": entry.sha256,
        "time": iso_utc(entry.time),
        "size": entry.size,
        "resolved": entry.resolved,
    }
    for key, value in entry.extra:
        found.setdefault(key, value)
    return found


def shown(text: str) -> str:
    """``text`` safe to print on one line: controls as spaces, bytes that are not UTF-8
    (an undecodable file name) as ``\\xff``."""
    flat = "".join(" " if c in BREAKS or ord(c) < 0x20 or c == "\x7f" else c for c in text)
    try:
        flat.encode("utf-8")
    except UnicodeEncodeError:
        flat = os.fsencode(flat).decode("utf-8", "backslashreplace")
    return flat


def local_time(epoch: float) -> str:
    """``2026-12-01 18:05:12`` in local time; ``?`` for a time the calendar cannot show."""
    try:
        return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):
        return "?"


def table(entries: Iterable[Entry]) -> list[str]:
    """The rows as a table: local time, status, profile, short sha256, path, link (or the
    error of a row that has none)."""
    rows = [
        (
            local_time(entry.time),
            entry.status + ("*" if entry.ambiguous else ""),
            shown(entry.target.profile),
            entry.sha256[:12],
            shown(entry.path),
            shown(entry.url or (f"({entry.error})" if entry.error else "")),
        )
        for entry in entries
    ]
    if not rows:
        return []
    header = ("TIME", "STATUS", "PROFILE", "SHA256", "PATH", "URL")
    widths = [max(len(row[n]) for row in [header, *rows]) for n in range(5)]
    return [
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[5]]
        ).rstrip()
        for row in [header, *rows]
    ]


def forget_kept_aside(path: os.PathLike[str] | str) -> int:
    """Remove the corrupt databases kept aside beside ``path`` (``history.sqlite3.corrupt-*``
    and their -wal/-shm): ``history --clear`` forgets those rows too. How many went."""
    base = os.fspath(path)
    directory, name = os.path.split(base)
    removed = 0
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return 0
    for other in names:
        if other.startswith(f"{name}.corrupt-"):
            try:
                os.remove(os.path.join(directory, other))
            except OSError:
                continue
            removed += not other.endswith(("-wal", "-shm", "-journal"))
    return removed
