"""Rules of the limiter that each hang on one line: refusals, pauses, the reserve, pacing
cost, refills. The real limiter on a private state directory; FakeTime records each wait."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.clock import FakeTime
from tests.support.limiter import CLIENT, POST, UPLOAD, USER, make_limiter
from uploader.errors import RateLimitError
from uploader.models import BucketUpdate
from uploader.ratelimit.bucket import PENALTY_BASE
from uploader.ratelimit.limiter import RESET_MARGIN
from uploader.timewords import describe

NOW = 1_785_000_000.0


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime(NOW, digits=6)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "ratelimit"


def _refused(error: pytest.ExceptionInfo[RateLimitError]) -> tuple[str, float | None]:
    return error.value.message, error.value.reset_at


# -- refusals ----------------------------------------------------------------------------------


def test_a_refusal_whose_reset_is_already_due_pauses_instead_of_resending_at_once(
    state_dir: Path, fake: FakeTime
) -> None:
    # "Remaining 0, reset now": the reset alone would let the next send go at once.
    lim = make_limiter(state_dir, fake, POST)
    held = lim.acquire({"post": 1})
    lim.reject(held, [BucketUpdate("post", 1250, 0, NOW)], retry_after=None)
    lim.acquire({"post": 1})
    assert fake.sleeps == [PENALTY_BASE + RESET_MARGIN]


def test_a_refusal_with_its_reset_ahead_is_spent_until_then_not_paused(
    state_dir: Path, fake: FakeTime
) -> None:
    lim = make_limiter(state_dir, fake, POST, on_limit="fail")
    held = lim.acquire({"post": 1})
    lim.reject(held, [BucketUpdate("post", 1250, 0, NOW + 600)], retry_after=None)
    with pytest.raises(RateLimitError) as error:
        lim.acquire({"post": 1})
    assert _refused(error) == (
        f"Imgur POST bucket (per IP) is spent (0 of 1250 left); it resets "
        f"{describe(NOW + 600, NOW)}",
        NOW + 600,
    )


def test_a_shorter_pause_does_not_shorten_a_longer_one(state_dir: Path, fake: FakeTime) -> None:
    lim = make_limiter(state_dir, fake, POST, on_limit="fail")
    first, second = lim.acquire({"post": 1}), lim.acquire({"post": 1})  # both in flight
    lim.reject(first, [], retry_after=120)
    lim.reject(second, [], retry_after=5)  # answered later, with a shorter wait
    with pytest.raises(RateLimitError) as error:
        lim.acquire({"post": 1})
    assert error.value.reset_at == NOW + 120
    assert lim.blocked_until({"post": 1}) == NOW + 120


# -- the reserve ---------------------------------------------------------------------------------


def test_the_client_budget_is_spent_down_to_exactly_its_reserve_and_no_further(
    state_dir: Path, fake: FakeTime
) -> None:
    lim = make_limiter(state_dir, fake, CLIENT, on_limit="fail")
    lim.record([BucketUpdate("client", 12500, 110, NOW + 86400)], source="headers")
    held = lim.acquire({"client": 10})  # 110 - 10 = 100: exactly the reserve, allowed
    assert fake.sleeps == []
    lim.settle(held, [BucketUpdate("client", 12500, 100, NOW + 86400)])
    with pytest.raises(RateLimitError) as error:
        lim.acquire({"client": 10})
    assert error.value.message == (
        "Imgur client bucket (per app, daily) is down to its reserve (100 of 12500 left, "
        f"100 kept back); it resets {describe(NOW + 86400, NOW)}"
    )


# -- pacing ----------------------------------------------------------------------------------


def test_pacing_spreads_uploads_by_their_cost_of_10_credits(
    state_dir: Path, fake: FakeTime
) -> None:
    # 100 credits in 100 s are 10 uploads of 10: one every 10 s, not one per second.
    notes: list[str] = []
    lim = make_limiter(state_dir, fake, USER, notes=notes)
    lim.record([BucketUpdate("user", 500, 100, NOW + 100)], source="headers")
    first = lim.acquire(UPLOAD, pending=20)
    assert fake.sleeps == []
    lim.settle(first, [BucketUpdate("user", 500, 90, NOW + 100)])
    lim.acquire(UPLOAD, pending=19)
    assert fake.sleeps == [10.0]
    assert notes == ["pacing: waiting 10 s to spread the remaining Imgur (test) budget"]


def test_a_refill_voids_the_old_pacing_schedule(state_dir: Path, fake: FakeTime) -> None:
    lim = make_limiter(state_dir, fake, USER)
    lim.record([BucketUpdate("user", 500, 25, NOW + 300)], source="headers")
    paced = lim.acquire({"user": 10}, pending=3)  # 30 > 25: the next send due in 120 s
    lim.settle(paced, [BucketUpdate("user", 500, 15, NOW + 300)])
    # A new window with more credits, still too few for the batch: pacing starts afresh.
    lim.record([BucketUpdate("user", 500, 60, NOW + 250)], source="headers")
    lim.acquire({"user": 10}, pending=10)
    assert fake.sleeps == []  # not the 120 s of the void schedule


def test_credits_left_clear_an_earlier_refusals_words(state_dir: Path, fake: FakeTime) -> None:
    lim = make_limiter(state_dir, fake, POST, on_limit="fail")
    held = lim.acquire({"post": 1})
    said = 'Imgur said "come back later"'
    lim.reject(held, [BucketUpdate("post", 1250, 0, NOW + 600)], retry_after=None, note=said)
    with pytest.raises(RateLimitError) as before:
        lim.acquire({"post": 1})
    assert f"(0 of 1250 left; {said})" in before.value.message
    # The server's count goes up (a refill), then down to 0 again by plain spending: the old
    # refusal's words no longer describe it.
    lim.record([BucketUpdate("post", 1250, 5, NOW + 3600)], source="headers")
    lim.record([BucketUpdate("post", 1250, 0, NOW + 3600)], source="headers")
    with pytest.raises(RateLimitError) as after:
        lim.acquire({"post": 1})
    assert after.value.message == (
        f"Imgur POST bucket (per IP) is spent (0 of 1250 left); it resets "
        f"{describe(NOW + 3600, NOW)}"
    )


def test_pacing_counts_credits_held_in_flight_as_sends_already_scheduled(
    state_dir: Path, fake: FakeTime
) -> None:
    # Issue 14 (a fleet on one Redis): 3 credits left as the server last said, 2 of them
    # held by other hosts' requests in flight, whose answers the server's figure often
    # includes already. The next send is due in 99 / 3 s, not at the reset (99 / 1 s):
    # a schedule stretched to the reset on that double count left the window unused.
    others = make_limiter(state_dir, fake, POST)
    me = make_limiter(state_dir, fake, POST)
    others.record([BucketUpdate("post", 20, 3, NOW + 99)], source="headers")
    held = [others.acquire({"post": 1}), others.acquire({"post": 1})]
    me.acquire({"post": 1}, pending=10)
    for reservation in held:
        others.settle(reservation, [BucketUpdate("post", 20, 2, NOW + 99)])
    me.acquire({"post": 1}, pending=9)
    assert fake.sleeps == [33.0]


def test_a_batch_that_fits_with_the_credits_in_flight_counted_is_not_paced(
    state_dir: Path, fake: FakeTime
) -> None:
    # 5 left as the server last said, 3 held by other hosts' requests in flight; this
    # host's last 4 files fit in the 5 (the server's figure may include those 3): they
    # go without pacing (the requests in flight still bound what may be reserved).
    others = make_limiter(state_dir, fake, POST)
    me = make_limiter(state_dir, fake, POST, on_limit="fail")
    others.record([BucketUpdate("post", 20, 5, NOW + 99)], source="headers")
    for _ in range(3):
        others.acquire({"post": 1})
    me.acquire({"post": 1}, pending=4)
    me.acquire({"post": 1}, pending=3)
    assert fake.sleeps == []
    with pytest.raises(RateLimitError):  # 5 - 3 in flight - 2 mine: nothing free
        me.acquire({"post": 1}, pending=2)
