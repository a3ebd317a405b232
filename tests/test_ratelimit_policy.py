"""The limiter with an injected clock and sleep: reservations, waits, pacing, the reserve."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from uploader.errors import RateLimitError
from uploader.models import BucketUpdate
from uploader.rateheaders import (
    imgur_updates,
    mastodon_updates,
    parse_reset,
    retry_after_seconds,
    server_skew,
    wait_hint_seconds,
)
from uploader.ratelimit import BucketSpec, LimitPolicy, RateLimiter, StateStore

NOW = 1_785_000_000.0
POST = BucketSpec("post", "POST bucket", 40, 10.0)
CLIENT = BucketSpec("client", "client bucket", 12500, 86400.0, reserve=100)


class FakeTime:
    def __init__(self, start: float = NOW) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


def _limiter(
    tmp_path: Path,
    fake: FakeTime,
    *specs: BucketSpec,
    on_limit: str = "wait",
    max_wait: float = 300.0,
    notes: list[str] | None = None,
) -> RateLimiter:
    return RateLimiter(
        StateStore(tmp_path / "state"),
        "key",
        specs or (POST,),
        LimitPolicy("fail" if on_limit == "fail" else "wait", max_wait),
        provider_label="Test",
        clock=fake.clock,
        sleep=fake.sleep,
        notify=(notes.append if notes is not None else lambda _m: None),
    )


# -- headers --------------------------------------------------------------------------------


def test_imgur_headers_lowercase_window_and_post_seconds() -> None:
    headers = {
        "x-ratelimit-userlimit": "500",
        "x-ratelimit-userremaining": "480",
        "x-ratelimit-userreset": "3600",
        "x-ratelimit-clientlimit": "12500",
        "x-ratelimit-clientremaining": "12300",
        "x-ratelimit-clientreset": "86400",
        "x-post-rate-limit-limit": "1250",
        "x-post-rate-limit-remaining": "1247",
        "x-post-rate-limit-reset": "3569",
    }
    updates = {u.bucket: u for u in imgur_updates(headers, NOW)}
    assert updates["user"] == BucketUpdate("user", 500, 480, NOW + 3600)
    assert updates["client"] == BucketUpdate("client", 12500, 12300, NOW + 86400)
    assert updates["post"] == BucketUpdate("post", 1250, 1247, NOW + 3569)


def test_imgur_epoch_user_reset_and_skewed_date() -> None:
    # The server's clock runs 120 s ahead of ours: its epoch reset is 120 s early for us.
    headers = {
        "X-RateLimit-UserLimit": "500",
        "X-RateLimit-UserRemaining": "0",
        "X-RateLimit-UserReset": str(int(NOW + 1000)),
        "Date": "Sun, 26 Jul 2026 17:22:00 GMT",
    }
    skew = server_skew(headers, NOW)
    (update,) = imgur_updates(headers, NOW)
    assert update.reset_at == pytest.approx(NOW + 1000 - skew)
    assert skew == pytest.approx(1_785_086_520 - NOW)


def test_mastodon_iso_microseconds_and_media_bucket() -> None:
    headers = {
        "X-RateLimit-Limit": "30",
        "X-RateLimit-Remaining": "29",
        "X-RateLimit-Reset": "2026-08-01T14:00:00.524560Z",
    }
    (update,) = mastodon_updates(headers, NOW, media_request=True)
    assert update.bucket == "media"
    assert update.reset_at == pytest.approx(1_785_592_800.524560)
    (api,) = mastodon_updates({**headers, "X-RateLimit-Limit": "300"}, NOW, media_request=True)
    assert api.bucket == "api"
    (plain,) = mastodon_updates(headers, NOW, media_request=False)
    assert plain.bucket == "api"


def test_fork_epoch_reset_and_missing_or_garbage_headers() -> None:
    (update,) = mastodon_updates(
        {
            "x-ratelimit-limit": "300",
            "x-ratelimit-remaining": "12",
            "x-ratelimit-reset": str(int(NOW + 60)),
        },
        NOW,
        media_request=False,
    )
    assert update.reset_at == NOW + 60
    assert mastodon_updates({}, NOW, media_request=True) == []
    garbage = imgur_updates(
        {
            "X-Post-Rate-Limit-Limit": "lots",
            "X-Post-Rate-Limit-Remaining": "??",
            "X-Post-Rate-Limit-Reset": "soon",
            "Date": "yesterday",
        },
        NOW,
    )
    assert garbage == []
    assert parse_reset("not a time", NOW, 0.0) is None


def test_retry_after_and_wait_hints() -> None:
    assert retry_after_seconds("37", NOW) == 37.0
    assert retry_after_seconds("Sun, 26 Jul 2026 17:22:00 GMT", 1_785_086_500.0) == 20.0
    assert retry_after_seconds("whenever", NOW) is None
    assert wait_hint_seconds("You are uploading too fast. Please wait 37 more minutes.") == 2220
    assert wait_hint_seconds("try again in 2 hours") == 7200
    assert wait_hint_seconds("wait 30 seconds") == 30
    assert wait_hint_seconds("Too Many Requests") is None


# -- limiter --------------------------------------------------------------------------------


def test_reserve_then_settle_with_headers(tmp_path: Path) -> None:
    fake = FakeTime()
    limiter = _limiter(tmp_path, fake)
    reservation = limiter.acquire({"post": 1})
    limiter.settle(reservation, [BucketUpdate("post", 40, 39, NOW + 10)])
    (state,) = limiter.states()
    assert (state.limit, state.remaining, state.reset_at, state.source) == (
        40,
        39,
        NOW + 10,
        "headers",
    )
    assert fake.sleeps == []


def test_two_processes_see_each_others_reservations(tmp_path: Path) -> None:
    fake = FakeTime()
    first = _limiter(tmp_path, fake, on_limit="fail")
    second = _limiter(tmp_path, fake, on_limit="fail")
    first.record([BucketUpdate("post", 2, 2, NOW + 10)], source="headers")
    first.acquire({"post": 1})
    second.acquire({"post": 1})
    with pytest.raises(RateLimitError) as info:
        second.acquire({"post": 1})
    assert info.value.bucket == "post"


def test_fail_policy_raises_at_once_with_local_reset_time(tmp_path: Path) -> None:
    fake = FakeTime()
    limiter = _limiter(tmp_path, fake, on_limit="fail")
    limiter.record([BucketUpdate("post", 40, 0, NOW + 720)], source="headers")
    with pytest.raises(RateLimitError) as info:
        limiter.acquire({"post": 1})
    assert fake.sleeps == []
    from datetime import datetime

    local = datetime.fromtimestamp(NOW + 720).astimezone().strftime("%H:%M:%S")
    assert (
        info.value.message
        == f"POST bucket is spent (0 of 40 left); it resets at {local} (in 12 min)"
    )
    assert info.value.reset_at == NOW + 720
    assert info.value.exit_code == 4


def test_wait_policy_sleeps_until_reset_and_says_so(tmp_path: Path) -> None:
    fake = FakeTime()
    notes: list[str] = []
    limiter = _limiter(tmp_path, fake, notes=notes)
    limiter.record([BucketUpdate("post", 40, 0, NOW + 37)], source="headers")
    limiter.acquire({"post": 1})
    assert fake.sleeps == [37.05]
    assert notes == ["waiting 37 s for POST bucket to reset"]


def test_wait_beyond_max_wait_raises(tmp_path: Path) -> None:
    fake = FakeTime()
    limiter = _limiter(tmp_path, fake, max_wait=30)
    limiter.record([BucketUpdate("post", 40, 0, NOW + 60)], source="headers")
    with pytest.raises(RateLimitError, match="beyond --max-wait 30 s"):
        limiter.acquire({"post": 1})
    assert fake.sleeps == []


def test_reserve_is_never_spent(tmp_path: Path) -> None:
    fake = FakeTime()
    limiter = _limiter(tmp_path, fake, CLIENT, on_limit="fail")
    limiter.record([BucketUpdate("client", 12500, 110, NOW + 80000)], source="headers")
    limiter.settle(limiter.acquire({"client": 10}), [])
    with pytest.raises(RateLimitError) as info:
        limiter.acquire({"client": 10})
    assert "down to its reserve (100 of 12500 left, 100 kept back)" in info.value.message
    assert "blocked for the rest of the month" in (info.value.hint or "")


def test_stale_state_past_reset_is_refreshed(tmp_path: Path) -> None:
    fake = FakeTime()
    limiter = _limiter(tmp_path, fake, on_limit="fail")
    limiter.record([BucketUpdate("post", 40, 0, NOW + 5)], source="headers")
    fake.now += 6
    limiter.acquire({"post": 1})
    (state,) = limiter.states()
    assert state.reset_at is None


def test_pacing_spreads_the_budget_to_the_second(tmp_path: Path) -> None:
    fake = FakeTime()
    limiter = _limiter(tmp_path, fake)
    limiter.record([BucketUpdate("post", 40, 40, NOW + 10)], source="headers")
    for pending in range(120, 115, -1):
        limiter.settle(limiter.acquire({"post": 1}, pending=pending), [])
    # 40 left over 10 s: one every 0.25 s; then 39 over 9.75 s, 38 over 9.5 s ...
    assert fake.sleeps == [0.25, 0.25, 0.25, 0.25]


def test_no_pacing_when_the_batch_fits(tmp_path: Path) -> None:
    fake = FakeTime()
    limiter = _limiter(tmp_path, fake)
    limiter.record([BucketUpdate("post", 40, 40, NOW + 10)], source="headers")
    for pending in range(40, 0, -1):
        limiter.settle(limiter.acquire({"post": 1}, pending=pending), [])
    assert fake.sleeps == []


def test_whole_second_resets_narrow_to_the_earliest(tmp_path: Path) -> None:
    fake = FakeTime()
    limiter = _limiter(tmp_path, fake)
    limiter.settle(limiter.acquire({"post": 1}), [BucketUpdate("post", 40, 39, NOW + 10)])
    fake.now += 0.6
    limiter.settle(limiter.acquire({"post": 1}), [BucketUpdate("post", 40, 38, NOW + 0.6 + 9)])
    # A late answer from before must not raise what is left.
    limiter.settle(limiter.acquire({"post": 1}), [BucketUpdate("post", 40, 39, NOW + 10.6)])
    (state,) = limiter.states()
    assert state.reset_at == NOW + 9.6
    assert state.remaining == 38


def test_429_without_named_bucket_pauses_what_it_touched(tmp_path: Path) -> None:
    fake = FakeTime()
    limiter = _limiter(tmp_path, fake, on_limit="fail")
    reservation = limiter.acquire({"post": 1})
    limiter.reject(reservation, [BucketUpdate("post", 40, 30, NOW + 10)], retry_after=None)
    with pytest.raises(RateLimitError, match="paused after the server refused"):
        limiter.acquire({"post": 1})
    fake.now += 10.1
    limiter.acquire({"post": 1})


def test_429_with_retry_after_waits_that_long(tmp_path: Path) -> None:
    fake = FakeTime()
    limiter = _limiter(tmp_path, fake)
    limiter.reject(limiter.acquire({"post": 1}), [], retry_after=42.0)
    limiter.acquire({"post": 1})
    assert fake.sleeps == [42.05]


def test_state_files_are_private_and_corrupt_state_is_discarded(tmp_path: Path) -> None:
    fake = FakeTime()
    limiter = _limiter(tmp_path, fake)
    limiter.settle(limiter.acquire({"post": 1}), [BucketUpdate("post", 40, 39, NOW + 10)])
    directory = tmp_path / "state"
    assert directory.stat().st_mode & 0o777 == 0o700
    state_file = directory / "key.json"
    assert state_file.stat().st_mode & 0o777 == 0o600
    state_file.write_text("{broken")
    (state,) = limiter.states()
    assert state.source == "default"
    limiter.acquire({"post": 1})


def _worker(directory: str, results: multiprocessing.Queue[int]) -> None:  # type: ignore[type-arg]
    limiter = RateLimiter(
        StateStore(Path(directory)), "shared", (POST,), LimitPolicy("fail"), provider_label="Test"
    )
    granted = 0
    for _ in range(10):
        try:
            reservation = limiter.acquire({"post": 1})
        except RateLimitError:
            continue
        limiter.settle(reservation, [])
        granted += 1
    results.put(granted)


def test_four_processes_never_overspend(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "shared")
    seed = RateLimiter(store, "shared", (POST,), LimitPolicy("fail"), provider_label="Test")
    import time

    seed.record([BucketUpdate("post", 25, 25, time.time() + 3600)], source="headers")
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[int] = context.Queue()  # type: ignore[type-arg]
    procs = [
        context.Process(target=_worker, args=(str(tmp_path / "shared"), results)) for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert sum(results.get(timeout=5) for _ in procs) == 25
