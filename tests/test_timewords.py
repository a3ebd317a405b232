"""Times and durations as people read them: local clock, the day when not today, the zone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from uploader.timewords import clock, describe, relative, span


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.mark.usefixtures("berlin")
def test_today_tomorrow_and_later_days_in_the_local_zone() -> None:
    now = _epoch("2026-12-01T09:45:00+01:00")
    assert clock(_epoch("2026-12-01T10:45:00+01:00"), now) == "at 10:45:00 CET"
    assert clock(_epoch("2026-12-02T09:45:00+01:00"), now) == "tomorrow at 09:45:00 CET"
    assert clock(_epoch("2026-12-04T08:00:00+01:00"), now) == "on 2026-12-04 at 08:00:00 CET"
    assert clock(_epoch("2026-11-30T23:59:00+01:00"), now) == "yesterday at 23:59:00 CET"
    # The day follows the local calendar, not 24-hour steps: 23:30 -> 00:10 is tomorrow.
    late = _epoch("2026-12-01T23:30:00+01:00")
    assert clock(_epoch("2026-12-02T00:10:00+01:00"), late) == "tomorrow at 00:10:00 CET"


@pytest.mark.usefixtures("berlin")
def test_describe_adds_how_far_away() -> None:
    now = _epoch("2026-12-01T09:45:00+01:00")
    assert describe(now + 86400, now) == "tomorrow at 09:45:00 CET (in 24.0 h)"
    assert describe(now + 12 * 60, now) == "at 09:57:00 CET (in 12 min)"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-1, "already"),
        (0, "in 0 s"),
        (89, "in 89 s"),
        (90, "in 2 min"),
        (5399, "in 90 min"),
        (5400, "in 1.5 h"),
        (47 * 3600, "in 47.0 h"),
        (3 * 86400, "in 3 days"),
    ],
)
def test_relative(seconds: float, text: str) -> None:
    assert relative(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (-89, "89 s"),  # an age in the past reads the same as one in the future
        (90, "2 min"),
        (-5400, "1.5 h"),
        (47 * 3600, "47.0 h"),
        (3 * 86400, "3 days"),
    ],
)
def test_span_is_the_amount_every_message_uses(seconds: float, text: str) -> None:
    assert span(seconds) == text
