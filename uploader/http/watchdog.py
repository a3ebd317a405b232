"""The low-speed rule's watchdog: one thread that looks at every request in flight.

A read or write that does not return (a server that sends no answer's headers, a socket
that drains slowly) never reaches the checks :mod:`uploader.http.lowspeed` makes on each
piece of the body; this thread makes them on a timer and cuts the request's connection
when the rule is broken.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uploader.http.lowspeed import SpeedMeter


class _Patrol:
    """One thread for every request under the rule: it looks at each request's meter every
    ``interval`` seconds and calls its ``cut`` once when the rule is broken. A thread per
    request cost more than the request itself in a batch (start, join, wake-ups: 10% of a
    ``-j 8`` batch's CPU); this one starts with the first watched request and then sleeps
    until the next look is due, or for good while nothing is watched.

    Everything happens under one lock, ``cut`` included (it is a ``shutdown``, instant):
    once :meth:`unwatch` returns, that request's ``cut`` is not running and never will, so a
    connection handed back to the pool is never cut for an earlier request."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._watched: dict[int, list[Any]] = {}  # token -> [meter, cut, interval, due]
        self._tokens = 0
        self._thread: threading.Thread | None = None

    def watch(self, meter: SpeedMeter, cut: Callable[[], None], interval: float) -> int:
        with self._cond:
            self._tokens += 1
            self._watched[self._tokens] = [meter, cut, interval, time.monotonic() + interval]
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="uploader-lowspeed", daemon=True
                )
                self._thread.start()
            else:
                self._cond.notify()
            return self._tokens

    def unwatch(self, token: int) -> None:
        with self._cond:
            self._watched.pop(token, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                if not self._watched:
                    self._cond.wait()
                    continue
                now = time.monotonic()
                due = min(entry[3] for entry in self._watched.values())
                if due > now:
                    self._cond.wait(due - now)
                    continue
                for token, entry in list(self._watched.items()):
                    meter, cut, interval, when = entry
                    if when > now:
                        continue
                    entry[3] = now + interval
                    if meter.too_slow(meter.clock()):
                        meter.tripped = True
                        del self._watched[token]
                        cut()


_PATROL = _Patrol()


class Watchdog:
    """The rule checked every ``interval`` seconds while a request is in flight (by the
    shared :class:`_Patrol` thread), ``cut`` called once when it is broken."""

    def __init__(self, meter: SpeedMeter, cut: Callable[[], None], interval: float) -> None:
        self.meter = meter
        self.cut = cut
        self.interval = interval
        self._token: int | None = None

    def __enter__(self) -> Watchdog:
        self._token = _PATROL.watch(self.meter, self.cut, self.interval)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._token is not None:
            _PATROL.unwatch(self._token)
