"""How a reset time reads to a person: the local clock, the day when it is not today, the
zone, and how far away it is (``at 14:05:12 CET (in 12 min)``, ``tomorrow at 09:00:00
CET (in 23.3 h)``), so that "it resets ..." and "seen ..." read as sentences."""

from __future__ import annotations

from datetime import datetime


def relative(seconds: float) -> str:
    """``in 40 s``, ``in 12 min``, ``in 5.5 h``, ``in 3 days``; ``already`` when past."""
    if seconds < 0:
        return "already"
    if seconds < 90:
        return f"in {seconds:.0f} s"
    if seconds < 5400:
        return f"in {seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"in {seconds / 3600:.1f} h"
    return f"in {seconds / 86400:.0f} days"


def clock(epoch: float, now: float) -> str:
    """``at 14:05:12 CET``, ``tomorrow at ...``, ``yesterday at ...`` or ``on 2026-12-04
    at ...``: the local wall-clock time of ``epoch``, with the day unless it is ``now``'s."""
    when = datetime.fromtimestamp(epoch).astimezone()
    today = datetime.fromtimestamp(now).astimezone().date()
    stamp = "at " + when.strftime("%H:%M:%S %Z").rstrip()
    days = (when.date() - today).days
    if days == 0:
        return stamp
    if days == 1:
        return f"tomorrow {stamp}"
    if days == -1:
        return f"yesterday {stamp}"
    return f"on {when:%Y-%m-%d} {stamp}"


def describe(epoch: float, now: float) -> str:
    """``clock (relative)``: what every message about a reset says."""
    return f"{clock(epoch, now)} ({relative(epoch - now)})"
