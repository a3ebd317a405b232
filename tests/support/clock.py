"""The injected clock and sleep: nothing in the suite really waits."""

from __future__ import annotations

from collections.abc import Callable


class FakeTime:
    """A clock moved by hand or by its own ``sleep``, which records every wait.

    ``clock`` and ``sleep`` go where the code takes them (``Runtime``, ``RateLimiter``,
    providers); the object itself is callable, so it serves as a sandbox clock too, and a
    test can share one between the client and the server. ``digits`` rounds recorded
    sleeps (float noise of the limiter's arithmetic); ``during_sleep`` runs after each one
    (another process acting meanwhile).
    """

    def __init__(self, start: float = 0.0, *, digits: int | None = None) -> None:
        self.now = start
        self.digits = digits
        self.sleeps: list[float] = []
        self.during_sleep: Callable[[], None] = lambda: None

    def clock(self) -> float:
        return self.now

    __call__ = clock

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds if self.digits is None else round(seconds, self.digits))
        self.now += seconds
        self.during_sleep()
