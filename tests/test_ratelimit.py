"""The limiter and its shared state, with an injected clock and sleep (nothing really sleeps).

``FakeTime.sleep`` advances the clock, so every wait the limiter takes is recorded exactly.
Two limiters on one store and key stand for two processes; one test uses real processes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import FakeTime
from tests.support.limiter import CLIENT, KEY, POST, UPLOAD, USER
from tests.support.limiter import make_limiter as limiter
from uploader.errors import ExitCode, RateLimitError
from uploader.models import BucketUpdate
from uploader.ratelimit.limiter import (
    RESERVATION_TTL,
    RESET_MARGIN,
    BucketSpec,
    BucketState,
    LimitPolicy,
    RateLimiter,
    state_key,
)
from uploader.ratelimit.store import FileStateStore
from uploader.timewords import clock, describe

NOW = 1_785_000_000.0
FAST = BucketSpec("fast", "Fast bucket", 40, 10.0)
DAILY = BucketSpec("daily", "Gyazo API requests (daily)", 12500, 86400.0, counted=True)


def stored(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / f"{KEY}.json").read_text())
    return data


def state_of(lim: RateLimiter, bucket: str) -> BucketState:
    return next(s for s in lim.states() if s.bucket == bucket)


def local(epoch: float) -> str:
    """How a reset at ``epoch`` reads at NOW (the format itself: tests/test_timewords.py)."""
    return clock(epoch, NOW)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime(NOW, digits=6)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ratelimit"


# -- reservations -----------------------------------------------------------------------------


def test_reservation_is_stored_then_settled_with_headers(state_dir: Path, fake: FakeTime) -> None:
    lim = limiter(state_dir, fake, USER, CLIENT, POST)
    reservation = lim.acquire(UPLOAD)
    (held,) = stored(state_dir)["reservations"]
    assert held["costs"] == UPLOAD
    assert held["expires"] == NOW + RESERVATION_TTL
    fake.now += 2
    lim.settle(
        reservation,
        [
            BucketUpdate("user", 500, 490, NOW + 3602),
            BucketUpdate("client", 12500, 12490, NOW + 86402),
            BucketUpdate("post", 1250, 1249, NOW + 3600),
        ],
    )
    data = stored(state_dir)
    assert data["version"] == 1
    assert data["reservations"] == []
    assert data["buckets"]["post"]["remaining"] == 1249
    assert lim.states() == [
        BucketState("user", USER.label, 500, 490, NOW + 3602, NOW + 2, "headers", 0),
        BucketState("client", CLIENT.label, 12500, 12490, NOW + 86402, NOW + 2, "headers", 100),
        BucketState("post", POST.label, 1250, 1249, NOW + 3600, NOW + 2, "headers", 0),
    ]
    assert fake.sleeps == []


def test_nothing_seen_yet_shows_the_documented_defaults(state_dir: Path, fake: FakeTime) -> None:
    lim = limiter(state_dir, fake, USER, CLIENT)
    assert lim.states() == [
        BucketState("user", USER.label, 500, 500, None, None, "default", 0),
        BucketState("client", CLIENT.label, 12500, 12500, None, None, "default", 100),
    ]


def test_zero_costs_and_unknown_buckets_pass_without_touching_the_store(
    state_dir: Path, fake: FakeTime
) -> None:
    lim = limiter(state_dir, fake, on_limit="fail")
    lim.record([BucketUpdate("post", 1250, 0, NOW + 60)], source="headers")
    reservation = lim.acquire({"post": 0, "oauth": 5})
    assert reservation.costs == ()
    assert stored(state_dir)["reservations"] == []
    lim.release(reservation)
    with pytest.raises(RateLimitError):
        lim.acquire({"post": 1})


def test_two_processes_see_each_others_reservations(state_dir: Path, fake: FakeTime) -> None:
    first = limiter(state_dir, fake, on_limit="fail")
    second = limiter(state_dir, fake, on_limit="fail")
    first.record([BucketUpdate("post", 1250, 2, NOW + 60)], source="headers")
    held = first.acquire({"post": 1})
    second.acquire({"post": 1})
    with pytest.raises(RateLimitError) as info:
        second.acquire({"post": 1})
    # Only the credits in flight stand in the way: the message says so, and until when.
    assert info.value.message == (
        "Imgur POST bucket (per IP) has no credit free (2 of 1250 left, 2 held by requests "
        f"in flight, released {describe(NOW + RESERVATION_TTL, NOW)} at the latest)"
    )
    assert info.value.reset_at == NOW + 60  # the reset comes first
    # The first request never reached the server: its credit is free again, for both.
    first.release(held)
    second.acquire({"post": 1})


def test_a_crashed_process_does_not_leak_its_reservation(state_dir: Path, fake: FakeTime) -> None:
    crashed = limiter(state_dir, fake, on_limit="fail")
    crashed.record([BucketUpdate("post", 1250, 1, NOW + 3600)], source="headers")
    crashed.acquire({"post": 1})  # never settled
    survivor = limiter(state_dir, fake, on_limit="fail")
    with pytest.raises(RateLimitError):
        survivor.acquire({"post": 1})
    fake.now += RESERVATION_TTL + 1
    survivor.acquire({"post": 1})


def test_buckets_the_headers_do_not_mention_are_counted_locally(
    state_dir: Path, fake: FakeTime
) -> None:
    lim = limiter(state_dir, fake, USER, CLIENT, POST)
    lim.settle(lim.acquire(UPLOAD), [BucketUpdate("post", 1250, 1200, NOW + 100)])
    assert [(s.bucket, s.remaining, s.reset_at) for s in lim.states()] == [
        ("user", 490, NOW + 3600),  # spent locally; the window bounds the reset
        ("client", 12490, NOW + 86400),
        ("post", 1200, NOW + 100),
    ]


def test_a_counted_bucket_without_headers(state_dir: Path, fake: FakeTime) -> None:
    lim = limiter(state_dir, fake, DAILY, on_limit="fail")
    for _ in range(3):
        lim.settle(lim.acquire({"daily": 1}), [])
        fake.now += 1
    (state,) = lim.states()
    assert (state.remaining, state.reset_at, state.source, state.observed_at) == (
        12497,
        NOW + 86400,
        "counted",
        NOW + 2,
    )
    fake.now = NOW + 86400
    assert lim.states()[0].remaining == 12500


# -- fail and wait ----------------------------------------------------------------------------


def test_fail_policy_raises_at_once_with_the_local_reset_time(
    state_dir: Path, fake: FakeTime
) -> None:
    lim = limiter(state_dir, fake, on_limit="fail")
    lim.record([BucketUpdate("post", 1250, 0, NOW + 720)], source="headers")
    with pytest.raises(RateLimitError) as info:
        lim.acquire({"post": 1})
    err = info.value
    assert err.message == (
        f"Imgur POST bucket (per IP) is spent (0 of 1250 left); "
        f"it resets {local(NOW + 720)} (in 12 min)"
    )
    assert (err.bucket, err.reset_at, err.retry_after) == ("post", NOW + 720, 720.0)
    assert "--on-limit wait" in (err.hint or "")
    assert "uploader limits" in (err.hint or "")
    assert err.exit_code == ExitCode.RATE_LIMITED
    assert not err.from_server
    assert fake.sleeps == []


def test_wait_policy_sleeps_until_the_reset_and_says_so(state_dir: Path, fake: FakeTime) -> None:
    notes: list[str] = []
    lim = limiter(state_dir, fake, notes=notes)
    lim.record([BucketUpdate("post", 1250, 0, NOW + 37)], source="headers")
    lim.acquire({"post": 1})
    assert fake.sleeps == [37 + RESET_MARGIN]
    assert notes == ["waiting 37 s for Imgur POST bucket (per IP) to reset"]
    # After the reset the bucket is full again, as a guess the next headers overrule.
    assert state_of(lim, "post").remaining == 1250


def test_short_waits_are_not_announced(state_dir: Path, fake: FakeTime) -> None:
    notes: list[str] = []
    lim = limiter(state_dir, fake, notes=notes)
    lim.record([BucketUpdate("post", 1250, 0, NOW + 0.5)], source="headers")
    lim.acquire({"post": 1})
    assert fake.sleeps == [0.5 + RESET_MARGIN]
    assert notes == []


def test_a_reset_beyond_max_wait_raises_without_sleeping(state_dir: Path, fake: FakeTime) -> None:
    lim = limiter(state_dir, fake, max_wait=30)
    lim.record([BucketUpdate("post", 1250, 0, NOW + 60)], source="headers")
    with pytest.raises(RateLimitError, match=r"in 60 s\), beyond --max-wait 30 s$") as info:
        lim.acquire({"post": 1})
    assert info.value.retry_after == 60.0
    assert info.value.hint == "use --max-wait 61 to wait for it, or see `uploader limits`"
    assert fake.sleeps == []


def test_max_wait_bounds_the_total_of_repeated_waits(state_dir: Path, fake: FakeTime) -> None:
    lim = limiter(state_dir, fake, max_wait=60)
    other = limiter(state_dir, fake)
    lim.record([BucketUpdate("post", 1250, 0, NOW + 40)], source="headers")

    def another_process_spends_the_new_window() -> None:
        other.record([BucketUpdate("post", 1250, 0, fake.now + 40)], source="headers")

    fake.during_sleep = another_process_spends_the_new_window
    with pytest.raises(RateLimitError, match="beyond --max-wait 60 s"):
        lim.acquire({"post": 1})
    assert fake.sleeps == [40 + RESET_MARGIN]


def test_stale_state_past_its_reset_is_refreshed(state_dir: Path, fake: FakeTime) -> None:
    lim = limiter(state_dir, fake, on_limit="fail")
    lim.record([BucketUpdate("post", 1250, 0, NOW + 5)], source="headers")
    fake.now += 6
    assert state_of(lim, "post").remaining == 1250
    lim.acquire({"post": 1})
    assert state_of(lim, "post").reset_at is None
    assert fake.sleeps == []


def test_a_spent_bucket_without_a_reset_never_sticks(state_dir: Path, fake: FakeTime) -> None:
    # A fork says "0 left" but not when it resets: the window bounds it.
    lim = limiter(state_dir, fake, FAST, on_limit="fail")
    lim.record([BucketUpdate("fast", 40, 0, None)], source="headers")
    with pytest.raises(RateLimitError) as info:
        lim.acquire({"fast": 1})
    assert info.value.reset_at == NOW + 10
    fake.now += 10
    lim.acquire({"fast": 1})


def test_old_state_without_a_reset_expires_a_window_after_it_was_seen(
    state_dir: Path, fake: FakeTime
) -> None:
    state_dir.mkdir(parents=True)
    old = {"limit": 40, "remaining": 0, "observed_at": NOW - 9, "source": "headers"}
    state = {"version": 1, "buckets": {"fast": old}, "reservations": []}
    (state_dir / f"{KEY}.json").write_text(json.dumps(state))
    lim = limiter(state_dir, fake, FAST, on_limit="fail")
    # Seen 9 s ago with a 10 s window: still spent, until a window after it was seen.
    assert state_of(lim, "fast").remaining == 0
    with pytest.raises(RateLimitError) as info:
        lim.acquire({"fast": 1})
    assert info.value.reset_at == NOW + 1
    fake.now += 1
    assert (state_of(lim, "fast").remaining, state_of(lim, "fast").reset_at) == (40, None)
    lim.settle(lim.acquire({"fast": 1}), [])
    assert (state_of(lim, "fast").remaining, state_of(lim, "fast").reset_at) == (39, NOW + 11)
    assert fake.sleeps == []


# -- the Imgur reserve ------------------------------------------------------------------------


def test_the_reserve_refuses_the_last_ten_uploads(state_dir: Path, fake: FakeTime) -> None:
    lim = limiter(state_dir, fake, CLIENT, on_limit="fail")
    lim.record([BucketUpdate("client", 12500, 110, NOW + 80000)], source="live")
    lim.settle(lim.acquire({"client": 10}), [])
    with pytest.raises(RateLimitError) as info:
        lim.acquire({"client": 10})
    assert info.value.message.startswith(
        "Imgur client bucket (per app, daily) is down to its reserve "
        "(100 of 12500 left, 100 kept back); it resets "
    )
    assert "blocked for the rest of the month" in (info.value.hint or "")
    assert info.value.bucket == "client"


def test_the_reserve_holds_under_wait_unless_the_reset_is_near(
    state_dir: Path, fake: FakeTime
) -> None:
    lim = limiter(state_dir, fake, CLIENT, max_wait=300)
    lim.record([BucketUpdate("client", 12500, 105, NOW + 80000)], source="live")
    with pytest.raises(RateLimitError, match=r"down to its reserve.*beyond --max-wait"):
        lim.acquire({"client": 10})
    assert fake.sleeps == []
    lim.record([BucketUpdate("client", 12500, 105, NOW + 200)], source="live")
    lim.acquire({"client": 10})
    assert fake.sleeps == [200 + RESET_MARGIN]


# -- pacing -----------------------------------------------------------------------------------


def test_pacing_spreads_a_big_batch_over_the_window(state_dir: Path, fake: FakeTime) -> None:
    notes: list[str] = []
    lim = limiter(state_dir, fake, FAST, notes=notes)
    lim.record([BucketUpdate("fast", 40, 40, NOW + 10)], source="headers")
    for pending in range(120, 110, -1):
        lim.settle(lim.acquire({"fast": 1}, pending=pending), [])
    # 40 per 10 s: one every 0.25 s (then 39 over 9.75 s, 38 over 9.5 s, ...).
    assert fake.sleeps == [0.25] * 9
    assert notes == []  # pacing waits under a second are not announced


def test_pacing_is_shared_between_processes(state_dir: Path, fake: FakeTime) -> None:
    first = limiter(state_dir, fake, FAST)
    second = limiter(state_dir, fake, FAST)
    first.record([BucketUpdate("fast", 40, 40, NOW + 10)], source="headers")
    first.settle(first.acquire({"fast": 1}, pending=100), [])
    second.settle(second.acquire({"fast": 1}, pending=100), [])
    assert fake.sleeps == [0.25]


def test_a_pending_count_is_asked_again_after_each_pacing_wait(
    state_dir: Path, fake: FakeTime
) -> None:
    """A batch's workers pass a function: while one send waits for its pacing turn, other
    files of the batch start and reserve, and what is left to send shrinks. The count asked
    after the wait decides (a count taken once, before the wait, kept a batch's last files
    crawling: issue 13's paced benchmark, 29 s for a 20.5 s minimum)."""
    lim = limiter(state_dir, fake, FAST)
    lim.record([BucketUpdate("fast", 40, 40, NOW + 10)], source="headers")
    lim.settle(lim.acquire({"fast": 1}, pending=100), [])  # paced: the next is due in 0.25 s
    counts = iter([100, 1])
    asked: list[int] = []

    def left() -> int:
        asked.append(next(counts))
        return asked[-1]

    lim.settle(lim.acquire({"fast": 1}, pending=left), [])
    assert asked == [100, 1]  # asked once per look, the wait in between
    assert fake.sleeps == [0.25]
    # The count now fits what is left: no pacing, and no next turn set for anyone.
    lim.settle(lim.acquire({"fast": 1}, pending=lambda: 1), [])
    assert fake.sleeps == [0.25]


class _Queue:
    """A batch's order that always lets this file go (``let_by`` recorded)."""

    def __init__(self, let_by: Callable[[], None]) -> None:
        self.let_by = let_by

    def ready(self) -> bool:
        return True

    def check(self) -> None:
        pass

    def hold(self) -> None:
        pass


def test_waiting_is_told_before_a_pacing_or_refill_wait_and_only_then(
    state_dir: Path, fake: FakeTime
) -> None:
    """A batch's file holds its turn while the limiter decides; before the limiter sleeps
    (pacing, a spent window's reset), it is told, so the next file may ask meanwhile."""
    events: list[str] = []
    real_sleep = fake.sleep

    def sleep(seconds: float) -> None:
        events.append(f"sleep {seconds:g}")
        real_sleep(seconds)

    lim = limiter(state_dir, fake, FAST)
    lim.sleep = sleep
    told = _Queue(lambda: events.append("told"))
    lim.record([BucketUpdate("fast", 40, 40, NOW + 10)], source="headers")
    lim.settle(lim.acquire({"fast": 1}, pending=100, order=told), [])
    assert events == []  # reserved at once: not told (the caller passes the turn itself)
    lim.settle(lim.acquire({"fast": 1}, pending=100, order=told), [])
    assert events == ["told", "sleep 0.25"]  # paced: told once, before the wait
    events.clear()
    lim.record([BucketUpdate("fast", 40, 0, fake.now + 3)], source="headers")
    lim.settle(lim.acquire({"fast": 1}, pending=1, order=told), [])
    assert events == ["told", f"sleep {3 + RESET_MARGIN:g}"]  # a spent window's reset


def test_no_pacing_when_the_batch_fits(state_dir: Path, fake: FakeTime) -> None:
    lim = limiter(state_dir, fake, FAST)
    lim.record([BucketUpdate("fast", 40, 40, NOW + 10)], source="headers")
    for pending in range(40, 0, -1):
        lim.settle(lim.acquire({"fast": 1}, pending=pending), [])
    assert fake.sleeps == []


def test_the_rest_of_a_batch_goes_at_once_in_a_fresh_window(
    state_dir: Path, fake: FakeTime
) -> None:
    lim = limiter(state_dir, fake, FAST)
    lim.record([BucketUpdate("fast", 40, 2, NOW + 10)], source="headers")
    lim.settle(lim.acquire({"fast": 1}, pending=42), [])
    lim.settle(lim.acquire({"fast": 1}, pending=41), [])  # paced: 1 left over 10 s
    assert fake.sleeps == [5.0]
    for pending in range(40, 0, -1):  # waits for the reset, then all 40 fit
        lim.settle(lim.acquire({"fast": 1}, pending=pending), [])
    assert fake.sleeps == [5.0, 5 + RESET_MARGIN]


def test_long_pacing_waits_are_announced(state_dir: Path, fake: FakeTime) -> None:
    notes: list[str] = []
    lim = limiter(state_dir, fake, FAST, notes=notes)
    lim.record([BucketUpdate("fast", 40, 4, NOW + 10)], source="headers")
    lim.settle(lim.acquire({"fast": 1}, pending=10), [])
    lim.settle(lim.acquire({"fast": 1}, pending=9), [])
    assert fake.sleeps == [2.5]
    assert notes == ["pacing: waiting 2 s to spread the remaining Imgur (test) budget"]


def test_no_pacing_towards_a_reset_beyond_max_wait(state_dir: Path, fake: FakeTime) -> None:
    # Project rule: spreading an hour's budget is not done unless --max-wait reaches the
    # reset; the batch spends what is there and then fails clearly.
    lim = limiter(state_dir, fake, POST, max_wait=300)
    lim.record([BucketUpdate("post", 1250, 3, NOW + 3600)], source="headers")
    for pending in (10, 9, 8):
        lim.settle(lim.acquire({"post": 1}, pending=pending), [])
    assert fake.sleeps == []


# -- whole-second resets ----------------------------------------------------------------------


def test_rounded_resets_narrow_within_a_window_and_renew_beyond(
    state_dir: Path, fake: FakeTime
) -> None:
    lim = limiter(state_dir, fake)
    lim.settle(lim.acquire({"post": 1}), [BucketUpdate("post", 1250, 1249, NOW + 100)])
    fake.now += 0.6  # the server now says 99 (rounded up from 99.4)
    lim.settle(lim.acquire({"post": 1}), [BucketUpdate("post", 1250, 1248, NOW + 99.6)])
    assert state_of(lim, "post").reset_at == NOW + 99.6
    # A late answer from before (higher remaining, later reset): keep the tighter figures.
    lim.settle(lim.acquire({"post": 1}), [BucketUpdate("post", 1250, 1249, NOW + 100.6)])
    assert (state_of(lim, "post").remaining, state_of(lim, "post").reset_at) == (1248, NOW + 99.6)
    # An estimate far from the stored one is a new window.
    lim.settle(lim.acquire({"post": 1}), [BucketUpdate("post", 1250, 1200, NOW + 3000)])
    assert (state_of(lim, "post").remaining, state_of(lim, "post").reset_at) == (1200, NOW + 3000)
    # A stored reset already past: the next answer starts a new window.
    fake.now = NOW + 3001
    lim.settle(lim.acquire({"post": 1}), [BucketUpdate("post", 1250, 1249, NOW + 3002)])
    assert (state_of(lim, "post").remaining, state_of(lim, "post").reset_at) == (1249, NOW + 3002)


# -- 429s -------------------------------------------------------------------------------------


def test_429_naming_no_bucket_exhausts_the_reservation_until_retry_after(
    state_dir: Path, fake: FakeTime
) -> None:
    lim = limiter(state_dir, fake, USER, POST, on_limit="fail")
    lim.reject(lim.acquire({"user": 10, "post": 1}), [], retry_after=42.0)
    assert [(s.bucket, s.remaining, s.reset_at) for s in lim.states()] == [
        ("user", 0, NOW + 42),
        ("post", 0, NOW + 42),
    ]
    with pytest.raises(RateLimitError, match="paused after the server refused") as info:
        lim.acquire({"post": 1})
    assert info.value.reset_at == NOW + 42
    fake.now += 42
    lim.acquire({"user": 10, "post": 1})


def test_429_under_wait_waits_exactly_retry_after(state_dir: Path, fake: FakeTime) -> None:
    lim = limiter(state_dir, fake)
    lim.reject(lim.acquire({"post": 1}), [], retry_after=42.0)
    lim.acquire({"post": 1})
    assert fake.sleeps == [42 + RESET_MARGIN]


def test_429_without_any_hint_backs_off_and_doubles(state_dir: Path, fake: FakeTime) -> None:
    lim = limiter(state_dir, fake)
    lim.reject(lim.acquire({"post": 1}), [], retry_after=None)
    lim.reject(lim.acquire({"post": 1}), [], retry_after=None)
    lim.settle(lim.acquire({"post": 1}), [])  # answered: the back-off starts over
    lim.reject(lim.acquire({"post": 1}), [], retry_after=None)
    lim.acquire({"post": 1})
    assert fake.sleeps == [10 + RESET_MARGIN, 20 + RESET_MARGIN, 10 + RESET_MARGIN]


def test_429_naming_a_spent_bucket_takes_its_reset(state_dir: Path, fake: FakeTime) -> None:
    lim = limiter(state_dir, fake, USER, CLIENT, on_limit="fail")
    lim.reject(
        lim.acquire({"user": 10, "client": 10}),
        [
            BucketUpdate("user", 500, 0, NOW + 3600),
            BucketUpdate("client", 12500, 12499, NOW + 86400),
        ],
        retry_after=None,
    )
    with pytest.raises(RateLimitError) as info:
        lim.acquire({"user": 10, "client": 10})
    assert (info.value.bucket, info.value.reset_at) == ("user", NOW + 3600)
    assert state_of(lim, "client").remaining == 12499  # not touched by the user's 429


def test_429_naming_a_spent_bucket_without_reset_uses_retry_after(
    state_dir: Path, fake: FakeTime
) -> None:
    lim = limiter(state_dir, fake, on_limit="fail")
    lim.reject(lim.acquire({"post": 1}), [BucketUpdate("post", 1250, 0, None)], retry_after=30.0)
    assert state_of(lim, "post").reset_at == NOW + 30
    fake.now += 30
    lim.acquire({"post": 1})


def test_a_refusal_can_pause_only_the_buckets_it_names(state_dir: Path, fake: FakeTime) -> None:
    # Imgur's upload throttle (reference 1.10): the POST side pauses, reads go on.
    lim = limiter(state_dir, fake, USER, CLIENT, POST, on_limit="fail")
    note = "Imgur's upload throttle refused an upload"
    lim.reject(lim.acquire(UPLOAD), [], retry_after=None, pause=("post",), note=note)
    lim.acquire({"user": 1, "client": 1})
    with pytest.raises(RateLimitError) as info:
        lim.acquire(UPLOAD)
    assert info.value.bucket == "post"
    assert info.value.message == (
        f"Imgur POST bucket (per IP) is paused: {note}; it resets {local(NOW + 10)} (in 10 s)"
    )
    assert [(s.bucket, s.remaining) for s in lim.states()] == [
        ("user", 500),
        ("client", 12500),
        ("post", 0),
    ]


def test_a_bucket_the_server_says_is_spent_stays_spent_for_a_window(
    state_dir: Path, fake: FakeTime
) -> None:
    lim = limiter(state_dir, fake, USER, CLIENT, on_limit="fail")
    said = 'Imgur said "Daily client requests exceeded"'
    lim.reject(
        lim.acquire({"user": 10, "client": 10}), [], retry_after=None, spent=("client",), note=said
    )
    client = state_of(lim, "client")
    assert (client.remaining, client.reset_at, client.source) == (0, NOW + 86400, "refused")
    assert state_of(lim, "user").remaining == 500  # not paused: the server named the client
    with pytest.raises(RateLimitError) as info:
        lim.acquire({"client": 1})
    assert info.value.message.startswith(
        f"Imgur client bucket (per app, daily) is spent (0 of 12500 left; {said}); it resets "
    )
    fake.now += 86400
    lim.acquire({"client": 1})  # the day is over: the words are gone with the window
    assert "note" not in stored(state_dir)["buckets"]["client"]


def test_a_spent_bucket_keeps_its_known_reset(state_dir: Path, fake: FakeTime) -> None:
    lim = limiter(state_dir, fake, CLIENT, max_wait=300)
    lim.record([BucketUpdate("client", 12500, 5000, NOW + 7200)], source="headers")
    lim.reject(lim.acquire({"client": 10}), [], retry_after=None, spent=("client",), note="x")
    with pytest.raises(RateLimitError, match=r"beyond --max-wait 300 s$") as info:
        lim.acquire({"client": 10})
    assert info.value.reset_at == NOW + 7200
    assert info.value.hint == "a daily budget the server says is exhausted: wait for its reset"
    assert fake.sleeps == []


@pytest.mark.parametrize("retry_after", [0.0, -1.0])
def test_a_zero_wait_hint_still_pauses(state_dir: Path, fake: FakeTime, retry_after: float) -> None:
    lim = limiter(state_dir, fake)
    lim.reject(lim.acquire({"post": 1}), [], retry_after=retry_after)
    lim.acquire({"post": 1})
    assert fake.sleeps == [10 + RESET_MARGIN]


def test_a_spent_bucket_whose_reset_is_already_due_still_pauses(
    state_dir: Path, fake: FakeTime
) -> None:
    # "Remaining: 0, Reset: 0": taken literally, the next send would go at once.
    lim = limiter(state_dir, fake)
    lim.reject(lim.acquire({"post": 1}), [BucketUpdate("post", 1250, 0, NOW)], retry_after=None)
    lim.acquire({"post": 1})
    assert fake.sleeps == [10 + RESET_MARGIN]


def test_live_figures_are_recorded_with_their_source(state_dir: Path, fake: FakeTime) -> None:
    lim = limiter(state_dir, fake, USER)
    lim.record(
        [BucketUpdate("user", 500, 321, NOW + 1800), BucketUpdate("x", 1, 1, None)],
        source="credits",
    )
    assert lim.states() == [
        BucketState("user", USER.label, 500, 321, NOW + 1800, NOW, "credits", 0)
    ]


# -- the state files --------------------------------------------------------------------------


def test_files_are_private_and_created_directories_are_0700(tmp_path: Path, fake: FakeTime) -> None:
    directory = tmp_path / "xdg-state" / "uploader" / "ratelimit"
    old_umask = os.umask(0o022)
    try:
        lim = limiter(directory, fake)
        lim.settle(lim.acquire({"post": 1}), [BucketUpdate("post", 1250, 1249, NOW + 10)])
    finally:
        os.umask(old_umask)
    for path in (directory, directory.parent, directory.parent.parent):
        assert path.stat().st_mode & 0o777 == 0o700, path
    assert (directory / f"{KEY}.json").stat().st_mode & 0o777 == 0o600
    assert (directory / f"{KEY}.lock").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in directory.iterdir()) == [f"{KEY}.json", f"{KEY}.lock"]


def test_an_existing_directory_keeps_its_mode(tmp_path: Path, fake: FakeTime) -> None:
    tmp_path.chmod(0o755)
    lim = limiter(tmp_path, fake)
    lim.settle(lim.acquire({"post": 1}), [])
    assert tmp_path.stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize(
    "content",
    [
        "{broken",
        "\xff\xfe not utf-8",
        "[]",
        '{"version": 99, "buckets": {}, "reservations": []}',
        '{"version": 1, "buckets": [], "reservations": []}',
    ],
)
def test_a_corrupt_state_file_is_discarded(state_dir: Path, fake: FakeTime, content: str) -> None:
    state_dir.mkdir(parents=True)
    (state_dir / f"{KEY}.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    lim = limiter(state_dir, fake, on_limit="fail")
    assert lim.states()[0].source == "default"
    lim.settle(lim.acquire({"post": 1}), [BucketUpdate("post", 1250, 7, NOW + 10)])
    assert state_of(lim, "post").remaining == 7


def test_malformed_entries_are_dropped_one_by_one(state_dir: Path, fake: FakeTime) -> None:
    state_dir.mkdir(parents=True)
    (state_dir / f"{KEY}.json").write_text(
        '{"version": 1,'
        ' "buckets": {"post": {"limit": "lots", "remaining": 3, "reset_at": NaN},'
        '             "user": [1, 2], "client": {"remaining": true, "reset_at": 1e999}},'
        ' "reservations": [7, {"id": "a", "costs": {"post": "x"}, "expires": 1e300},'
        '                  {"id": "b", "costs": {"post": 1}, "expires": "never"},'
        f'                  {{"id": "c", "costs": {{"post": 1}}, "expires": {NOW + 60}}}]}}'
    )
    lim = limiter(state_dir, fake, USER, CLIENT, POST, on_limit="fail")
    assert [(s.bucket, s.limit, s.remaining, s.reset_at) for s in lim.states()] == [
        ("user", 500, 500, None),
        ("client", 12500, 12500, None),
        ("post", 1250, 3, None),
    ]
    lim.acquire({"post": 1})
    lim.acquire({"post": 1})  # reservation "c" holds the third
    with pytest.raises(RateLimitError):
        lim.acquire({"post": 1})


def test_an_unusable_directory_falls_back_to_memory(
    tmp_path: Path, fake: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    lim = limiter(blocker / "ratelimit", fake, on_limit="fail")
    lim.record([BucketUpdate("post", 1250, 1, NOW + 60)], source="headers")
    lim.settle(lim.acquire({"post": 1}), [])
    with pytest.raises(RateLimitError):
        lim.acquire({"post": 1})
    assert state_of(lim, "post").remaining == 0
    assert "kept in memory only" in caplog.text


def test_state_key_is_a_fixed_length_hash_of_kind_base_url_and_identity() -> None:
    key = state_key("imgur", "https://api.imgur.com", "id-hash")
    assert key == state_key("imgur", "https://api.imgur.com", "id-hash")  # deterministic
    assert len(key) == 32
    assert set(key) <= set("0123456789abcdef")
    others = {
        state_key("gyazo", "https://api.imgur.com", "id-hash"),
        state_key("imgur", "http://127.0.0.1:1/imgur", "id-hash"),
        state_key("imgur", "https://api.imgur.com", "other"),
        # The separator keeps the parts apart: no two splits of one string collide.
        state_key("imgur", "https://api.imgur.comid", "-hash"),
    }
    assert len(others) == 4
    assert key not in others
    assert all(len(k) == 32 for k in others)


# -- real processes ---------------------------------------------------------------------------


def _worker(directory: str, results: Any) -> None:
    lim = RateLimiter(
        FileStateStore(Path(directory)), "shared", (FAST,), LimitPolicy("fail"), provider_label="T"
    )
    granted = 0
    for _ in range(10):
        try:
            reservation = lim.acquire({"fast": 1})
        except RateLimitError:
            continue
        lim.settle(reservation, [])
        granted += 1
    results.put(granted)


def test_four_processes_never_lose_an_update(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    seed = RateLimiter(
        FileStateStore(directory), "shared", (FAST,), LimitPolicy("fail"), provider_label="T"
    )
    seed.record([BucketUpdate("fast", 25, 25, time.time() + 3600)], source="headers")
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    procs = [context.Process(target=_worker, args=(str(directory), results)) for _ in range(4)]
    for proc in procs:
        proc.start()
    granted = [results.get(timeout=30) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    assert sum(granted) == 25
    data = json.loads((directory / "shared.json").read_text())
    assert data["buckets"]["fast"]["remaining"] == 0
    assert data["reservations"] == []
