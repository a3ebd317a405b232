"""The low-speed rule's watchdog (uploader/http/watchdog.py): one thread for every request
in flight, a cut only for a request still watched, at most once."""

from __future__ import annotations

import threading

from uploader.http.client import LowSpeed
from uploader.http.lowspeed import SpeedMeter
from uploader.http.watchdog import Watchdog


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _meter(clock: _Clock) -> SpeedMeter:
    return SpeedMeter(LowSpeed(limit=1000, seconds=1.0), clock)


def _patrols() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "uploader-lowspeed"]


def test_a_stalled_request_is_cut_once_by_the_watchdog() -> None:
    clock = _Clock()
    meter = _meter(clock)
    cuts: list[int] = []
    cut = threading.Event()

    def on_cut() -> None:
        cuts.append(1)
        cut.set()

    with Watchdog(meter, on_cut, interval=0.01):
        clock.now = 5.0  # nothing moved for the whole window
        assert cut.wait(10)
        assert threading.Event().wait(0.1) is False  # a few more looks: still one cut
    assert cuts == [1]
    assert meter.tripped


def test_a_request_that_ended_is_never_cut_afterwards() -> None:
    """Its connection is back in the pool, maybe carrying another request."""
    clock = _Clock()
    meter = _meter(clock)
    cuts: list[int] = []
    with Watchdog(meter, lambda: cuts.append(1), interval=0.01):
        pass
    clock.now = 5.0  # would be too slow now
    assert threading.Event().wait(0.1) is False
    assert cuts == []
    assert not meter.tripped


def test_many_requests_share_one_watchdog_thread() -> None:
    clock = _Clock()
    for _ in range(50):
        with Watchdog(_meter(clock), lambda: None, interval=0.01):
            pass
    watchers = [Watchdog(_meter(clock), lambda: None, interval=0.01) for _ in range(8)]
    for watcher in watchers:
        watcher.__enter__()
    try:
        assert len(_patrols()) == 1
    finally:
        for watcher in watchers:
            watcher.__exit__(None, None, None)


def test_only_the_stalled_request_of_several_is_cut() -> None:
    clock = _Clock()
    slow, fast = _meter(clock), _meter(clock)
    cut_slow, cut_fast = threading.Event(), threading.Event()
    with (
        Watchdog(slow, cut_slow.set, interval=0.01),
        Watchdog(fast, cut_fast.set, interval=0.01),
    ):
        clock.now = 5.0
        fast.moved(10_000)  # kept the rate within the last second
        assert cut_slow.wait(10)
        assert threading.Event().wait(0.1) is False
    assert not cut_fast.is_set()
