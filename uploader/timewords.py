"""How times and durations read to a person, in every message of the tool.

A reset time reads as the local clock, the day when it is not today, the zone, and how far
away it is (``at 14:05:12 CET (in 12 min)``, ``tomorrow at 09:00:00 CET (in 23.3 h)``), so
that "it resets ..." and "seen ..." read as sentences; an age or a lifetime (``signed in
40 s ago``, ``expires in 12 min``) uses the same amounts (:func:`span`).

Its own module rather than part of ``output.py``: the rate limiter words its errors with
it (ratelimit sits below commands and must not need the stream writer), and it imports
nothing but ``datetime``, so the hotkey path pays nothing for it.
"""

from __future__ import annotations

import math
from datetime import datetime

# Beyond this a length reads as "over 100 years" (no bucket has such a window).
_FAR = 100 * 365 * 86400.0


def span(seconds: float) -> str:
    """A length of time, its sign ignored: ``40 s``, ``12 min``, ``5.5 h``, ``3 days``.

    Any float reads: ``an unknown time`` for NaN, ``over 100 years`` beyond that."""
    if math.isnan(seconds):
        return "an unknown time"
    seconds = abs(seconds)
    if seconds > _FAR:
        return "over 100 years"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def relative(seconds: float) -> str:
    """``in 40 s``, ``in 12 min``, ``in 5.5 h``, ``in 3 days``; ``already`` when past."""
    if seconds < 0:
        return "already"
    if math.isnan(seconds):
        return "at an unknown time"
    return f"in {span(seconds)}"


def clock(epoch: float, now: float) -> str:
    """``at 14:05:12 CET``, ``tomorrow at ...``, ``yesterday at ...`` or ``on 2026-12-04
    at ...``: the local wall-clock time of ``epoch``, with the day unless it is ``now``'s.

    A time the calendar cannot show (NaN, infinite, beyond the year 9999 or before 1970
    where the platform refuses it) reads ``at an unknown time``: words never fail."""
    try:
        when = datetime.fromtimestamp(epoch).astimezone()
        today = datetime.fromtimestamp(now).astimezone().date()
    except (ValueError, OverflowError, OSError):  # "year 318857 is out of range", NaN
        return "at an unknown time"
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
