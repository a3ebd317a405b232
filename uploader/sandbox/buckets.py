"""Fixed-window counters, as the providers' buckets behave.

Not thread-safe on their own: the emulator that owns a table serialises access with its
own lock (a check and the spend that follows must be one step).
"""

from __future__ import annotations

import math


class FixedWindow:
    """``limit`` units per ``window`` seconds.

    A window starts at the first spend after the previous one ended (Imgur: a user that
    runs out is stopped "for an hour" from its first request, reference 1.10), so until
    something is spent the reset is always a full window away.
    """

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.start: float | None = None
        self.used = 0

    def _roll(self, now: float) -> None:
        if self.start is not None and now >= self.start + self.window:
            self.start = None
            self.used = 0

    def remaining(self, now: float) -> int:
        """Units left in the current window (never negative)."""
        self._roll(now)
        return max(0, self.limit - self.used)

    def reset_at(self, now: float) -> float:
        """Epoch time the current window ends (a full window from now when none is open)."""
        self._roll(now)
        return (self.start if self.start is not None else now) + self.window

    def reset_in_ceil(self, now: float) -> int:
        """Seconds until the reset as a whole number, rounded UP: ``now + value`` is never
        before the true reset, and the fraction lost is what a client can recover by
        watching the value tick down."""
        return math.ceil(self.reset_at(now) - now)

    def can_take(self, cost: int, now: float) -> bool:
        return self.remaining(now) >= cost

    def take(self, cost: int, now: float) -> None:
        """Spend ``cost`` units (the caller checked :meth:`can_take`); opens a window."""
        self._roll(now)
        if cost and self.start is None:
            self.start = now
        self.used += cost


class BucketTable:
    """One :class:`FixedWindow` per key (client id, IP, ...), created on first use."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.windows: dict[str, FixedWindow] = {}

    def get(self, key: str) -> FixedWindow:
        found = self.windows.get(key)
        if found is None:
            found = self.windows[key] = FixedWindow(self.limit, self.window)
        return found
