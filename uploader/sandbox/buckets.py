"""Fixed-window counters, as the providers' buckets behave."""

from __future__ import annotations

import math
import threading


class FixedWindow:
    """``limit`` units per ``window`` seconds; a window starts at the first use after the
    previous one ended (Imgur's "for an hour" after the first request)."""

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
        self._roll(now)
        return max(0, self.limit - self.used)

    def reset_at(self, now: float) -> float:
        self._roll(now)
        return (self.start if self.start is not None else now) + self.window

    def reset_in_ceil(self, now: float) -> int:
        """Seconds until reset, rounded UP, as a whole number (what real servers send)."""
        return math.ceil(self.reset_at(now) - now)

    def can_take(self, cost: int, now: float) -> bool:
        return self.remaining(now) >= cost

    def take(self, cost: int, now: float) -> None:
        self._roll(now)
        if cost and self.start is None:
            self.start = now
        self.used += cost


class BucketTable:
    """Windows per key, created on first use; one lock for the whole table."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.windows: dict[str, FixedWindow] = {}
        self.lock = threading.Lock()

    def get(self, key: str) -> FixedWindow:
        found = self.windows.get(key)
        if found is None:
            found = self.windows[key] = FixedWindow(self.limit, self.window)
        return found
