"""Who holds a reservation, and whether that process still exists.

A process killed with ``kill -9`` mid-request never settles its reservation. Each
reservation therefore records its owner: the host (node name, and the boot id where Linux
has one), the pid, and the process's start time (field 22 of ``/proc/<pid>/stat``, in clock
ticks since boot), so that a pid reused by another process is not taken for the owner. A
reservation whose owner is on this host and provably gone is released at once; one of
another host, or whose owner cannot be checked, waits for its expiry as before.

Stdlib only and no subprocess: this runs inside the state lock, on the hotkey path.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

_PROC = "/proc"


def _read(path: str) -> str | None:
    # os-level calls: this runs for every reservation of another process in every
    # transaction, and open() with its text layer costs ten times more.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 4096).decode("ascii", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in ticks) of ``pid`` from /proc; None when unreadable."""
    text = _read(f"{_PROC}/{pid}/stat")
    if text is None:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after
    # the last ")"; the state is field 3 and the start time field 22.
    fields = text[text.rfind(")") + 1 :].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _host() -> str:
    try:
        return os.uname().nodename
    except (AttributeError, OSError):  # pragma: no cover - every POSIX has uname
        return ""


def _boot() -> str | None:
    text = _read(f"{_PROC}/sys/kernel/random/boot_id")
    return (text.strip() or None) if text is not None else None


def me() -> dict[str, Any]:
    """This process as a reservation's owner."""
    pid = os.getpid()
    stat = _stat(pid)
    return {"host": _host(), "boot": _boot(), "pid": pid, "start": stat[1] if stat else None}


def clean(raw: object) -> dict[str, Any] | None:
    """A stored owner reduced to its well-typed fields; None when unusable."""
    if not isinstance(raw, dict):
        return None
    host, boot, pid, start = raw.get("host"), raw.get("boot"), raw.get("pid"), raw.get("start")
    if not isinstance(host, str) or type(pid) is not int or not 0 < pid < 2**31:
        return None
    return {
        "host": host,
        "boot": boot if isinstance(boot, str) else None,
        "pid": pid,
        "start": start if type(start) is int and 0 <= start < 2**63 else None,
    }


def gone(owner: dict[str, Any], here: dict[str, Any], *, fleet: bool = False) -> bool:
    """True when ``owner`` (see :func:`clean`) is provably no longer running; ``here`` is
    :func:`me`. Another host, or a process we cannot check, counts as running.

    ``fleet``: the state is shared by several machines (Redis), whose names may be the same
    (hosts made from one image): another boot id is then another machine, not a reboot of
    this one, and its reservations wait for their lease to expire."""
    if not owner["host"] or owner["host"] != here["host"]:
        return False
    if owner["boot"] and here["boot"] and owner["boot"] != here["boot"]:
        return not fleet  # the host rebooted since: every process of then is gone
    pid, start = owner["pid"], owner["start"]
    if pid == here["pid"]:
        return start is not None and here["start"] is not None and start != here["start"]
    stat = _stat(pid)
    if stat is not None:
        state, started = stat
        return state in ("Z", "X") or (start is not None and started != start)
    if here["start"] is not None:
        return True  # /proc works here (we read our own entry) and has no such process
    try:  # no /proc (macOS, BSD): the pid alone, which cannot see a reuse
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: it exists, owned by someone else
        return False
    return False


def live_reservations(
    items: list[dict[str, Any]],
    here: dict[str, Any],
    now: float,
    ttl: float,
    *,
    fleet: bool = False,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The reservations still holding credits: not expired, and not of a process of this
    host that is gone (:func:`gone`; ``fleet``: the state is shared by several machines).
    An expiry further than ``ttl`` away (no process writes one) is cut to it and named in
    the second list, for the warning."""
    kept, bad = [], []
    for item in items:
        if item["expires"] <= now:
            continue
        if item["expires"] > now + ttl:
            item["expires"] = now + ttl
            bad.append("reservation expiry")
        holder = item.get("owner")
        if holder is not None and gone(holder, here, fleet=fleet):
            continue  # killed mid-request: its credits are free at once
        kept.append(item)
    return kept, bad


def held(items: list[dict[str, Any]], name: str) -> tuple[int, float | None]:
    """Credits of bucket ``name`` held by ``items`` (reservations), and when the last of
    them expires (None: none held)."""
    holding = [r for r in items if r["costs"].get(name)]
    total = sum(int(r["costs"][name]) for r in holding)
    return total, max((float(r["expires"]) for r in holding), default=None)


def sweep(directory: Path, key: str, stale: float) -> None:
    """Remove the temp files (``.KEY.PID.RAND.tmp``) that killed writers of a state store
    left in ``directory``.

    Called under ``key``'s lock, where no writer of ``key`` can be running (writes happen
    under it): its temp files all go; another key's go once their writer is gone or they
    are older than ``stale`` seconds.
    """
    here = me()
    try:
        names = [n for n in os.listdir(directory) if n.startswith(".")]
    except OSError:
        return
    for name in names:
        parts = name.split(".")
        if len(parts) != 5 or parts[4] != "tmp" or not parts[2].isdigit():
            continue
        path = directory / name
        if parts[1] != key:
            holder = {"host": here["host"], "boot": None, "pid": int(parts[2]), "start": None}
            try:
                age = time.time() - path.lstat().st_mtime
            except OSError:
                continue
            dead = 0 < holder["pid"] < 2**31 and holder["pid"] != here["pid"]
            if not (age > stale or (dead and gone(holder, here))):
                continue
        with contextlib.suppress(OSError):
            path.unlink()
