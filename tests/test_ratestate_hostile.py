"""Rate-limit state that cannot hurt (issue 11, section 2), in process with a FakeTime.

Absurd headers are cut to the bucket's window before they are stored; nothing in the state
file crashes the limiter or `limits` (one warning, then on); reservations of processes that
are gone are released at once; dead writers' temp files are swept; a bucket with a reserve
is read live once before it is spent on defaults.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import FakeTime
from tests.support.limiter import CLIENT, KEY, POST, UPLOAD, USER, make_limiter
from uploader.commands.limits import ProfileLimits, bucket_line, to_json
from uploader.errors import RateLimitError
from uploader.models import BucketUpdate
from uploader.ratelimit import owner as owners
from uploader.ratelimit.bucket import RESET_SLACK
from uploader.ratelimit.headers import imgur_updates, retry_after_seconds
from uploader.ratelimit.limiter import RESERVATION_TTL
from uploader.ratelimit.store import FileStateStore
from uploader.timewords import clock, describe, relative, span

NOW = 1_785_000_000.0
HOUR_BOUND = NOW + 3600 + RESET_SLACK
DAY_BOUND = NOW + 86400 + RESET_SLACK


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime(NOW)


def _stored(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / f"{KEY}.json").read_text())
    return data


# -- 1. absurd headers are cut to the window before they are stored ---------------------------


@pytest.mark.parametrize(
    ("headers", "bucket", "bound"),
    [
        ({"X-Post-Rate-Limit-Reset": "1e16"}, "post", HOUR_BOUND),  # the example
        ({"X-Post-Rate-Limit-Reset": str(10 * 365 * 86400)}, "post", HOUR_BOUND),  # 10 years
        ({"X-Post-Rate-Limit-Reset": "9999999999999999999999"}, "post", HOUR_BOUND),
        ({"X-RateLimit-UserReset": str(int(NOW) + 10 * 365 * 86400)}, "user", HOUR_BOUND),
        ({"X-RateLimit-UserReset": "2036-01-01T00:00:00Z"}, "user", HOUR_BOUND),
        ({"X-RateLimit-ClientReset": str(10 * 365 * 86400)}, "client", DAY_BOUND),
        ({"X-RateLimit-ClientReset": "1e300"}, "client", DAY_BOUND),
    ],
)
def test_a_reset_far_ahead_is_cut_to_the_buckets_window(
    tmp_path: Path, fake: FakeTime, headers: dict[str, str], bucket: str, bound: float
) -> None:
    prefix = {"post": "X-Post-Rate-Limit-", "user": "X-RateLimit-User"}.get(
        bucket, "X-RateLimit-Client"
    )
    full = {f"{prefix}Limit": "1250", f"{prefix}Remaining": "0", **headers}
    notes: list[str] = []
    lim = make_limiter(tmp_path, fake, USER, CLIENT, POST, on_limit="fail", notes=notes)
    lim.settle(lim.acquire({bucket: 1}), imgur_updates(full, NOW))
    assert _stored(tmp_path)["buckets"][bucket]["reset_at"] == bound
    with pytest.raises(RateLimitError) as refused:
        lim.acquire({bucket: 1})
    assert refused.value.reset_at == bound
    assert refused.value.message.endswith(f"; it resets {describe(bound, NOW)}")
    fake.now = bound  # the window is over: the bucket is usable again, not in 10 years
    lim.acquire({bucket: 1})
    assert notes == []  # our own figures: nothing to warn about


@pytest.mark.parametrize(
    ("update", "remaining"),
    [
        (BucketUpdate("post", 1250, 5000, NOW + 60), 1250),  # above its own limit
        (BucketUpdate("post", None, 10**30, NOW + 60), 1250),  # above the known limit
        (BucketUpdate("post", 1250, -7, NOW + 60), 0),
        (BucketUpdate("post", 10**30, 10, NOW + 60), 10),  # an absurd limit is ignored
    ],
)
def test_counts_out_of_range_are_cut(
    tmp_path: Path, fake: FakeTime, update: BucketUpdate, remaining: int
) -> None:
    lim = make_limiter(tmp_path, fake)
    lim.record([update], source="headers")
    (state,) = lim.states()
    assert (state.limit, state.remaining) == (1250, remaining)


@pytest.mark.parametrize("retry_after", [1e16, 10 * 365 * 86400.0, math.inf, 3601e9])
def test_a_huge_retry_after_pauses_at_most_the_window(
    tmp_path: Path, fake: FakeTime, retry_after: float
) -> None:
    lim = make_limiter(tmp_path, fake, on_limit="fail")
    lim.reject(lim.acquire({"post": 1}), [], retry_after=retry_after)
    with pytest.raises(RateLimitError) as refused:
        lim.acquire({"post": 1})
    assert refused.value.reset_at == HOUR_BOUND
    assert refused.value.message.endswith(f"; it resets {describe(HOUR_BOUND, NOW)}")


@pytest.mark.parametrize("retry_after", [math.nan, -5.0, 0.0])
def test_a_senseless_retry_after_pauses_the_base_penalty(
    tmp_path: Path, fake: FakeTime, retry_after: float
) -> None:
    lim = make_limiter(tmp_path, fake, on_limit="fail")
    lim.reject(lim.acquire({"post": 1}), [], retry_after=retry_after)
    assert lim.blocked_until({"post": 1}) == NOW + 10


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e400", "", "soon"])
def test_unreadable_retry_after_values_are_none(value: str) -> None:
    assert retry_after_seconds(value, NOW) is None


# -- 1. nothing read from the state file can crash --------------------------------------------

GOOD_BUCKET = {"limit": 1250, "remaining": 1000, "reset_at": NOW + 600, "observed_at": NOW}


def _state(bucket: object = None, reservations: object = ()) -> str:
    buckets = {"post": GOOD_BUCKET if bucket is None else bucket}
    return json.dumps({"version": 1, "buckets": buckets, "reservations": list(reservations)})


HOSTILE_FILES = {
    "reset 1e16": _state({**GOOD_BUCKET, "reset_at": 1e16}),
    "reset 10 years": _state({**GOOD_BUCKET, "reset_at": NOW + 10 * 365 * 86400}),
    "observed in the far future": _state({**GOOD_BUCKET, "observed_at": 1e16}),
    "observed long before 1970": _state({**GOOD_BUCKET, "observed_at": -1e18}),
    "blocked until 1e16": _state({**GOOD_BUCKET, "blocked_until": 1e16}),
    "next_at 1e300": _state({**GOOD_BUCKET, "next_at": 1e300}),
    "remaining above the limit": _state({**GOOD_BUCKET, "remaining": 10**6}),
    "limit 10**30": _state({**GOOD_BUCKET, "limit": 10**30}),
    "limit 0": _state({**GOOD_BUCKET, "limit": 0}),
    "strikes 10**9": _state({**GOOD_BUCKET, "strikes": 10**9}),
    "a string for a count": _state({**GOOD_BUCKET, "remaining": "many"}),
    "a bool for a time": _state({**GOOD_BUCKET, "reset_at": True}),
    "NaN": _state({**GOOD_BUCKET}).replace(str(NOW + 600), "NaN"),
    "Infinity": _state({**GOOD_BUCKET}).replace(str(NOW + 600), "Infinity"),
    "1e400": _state({**GOOD_BUCKET}).replace(str(NOW + 600), "1e400"),
    "a bucket that is a list": _state([1, 2]),
    "reservation expiring in 1e16": _state(
        reservations=[{"id": "x", "costs": {"post": 1}, "expires": 1e16}]
    ),
    "reservation of 10**30 credits": _state(
        reservations=[{"id": "x", "costs": {"post": 10**30}, "expires": NOW + 60}]
    ),
    "reservation with a hostile owner": _state(
        reservations=[
            {"id": "x", "costs": {"post": 1}, "expires": NOW + 60, "owner": {"pid": 0}},
            {"id": "y", "costs": {"post": 1}, "expires": NOW + 60, "owner": [1]},
        ]
    ),
    "reservations not a list": json.dumps({"version": 1, "buckets": {}, "reservations": 3}),
    "truncated": _state()[:40],
    "nested too deep": "[" * 100_000,
    "not UTF-8": "\udcff",
    "a number": "12",
    "null": "null",
    "another version": json.dumps({"version": 99, "buckets": {}, "reservations": []}),
    "empty": "",
}


def _write_hostile(directory: Path, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{KEY}.json").write_bytes(text.encode("utf-8", "surrogateescape"))


@pytest.mark.parametrize("text", HOSTILE_FILES.values(), ids=HOSTILE_FILES.keys())
def test_no_state_file_crashes_the_limiter_or_limits(
    tmp_path: Path, fake: FakeTime, text: str
) -> None:
    _write_hostile(tmp_path, text)
    notes: list[str] = []
    lim = make_limiter(tmp_path, fake, USER, CLIENT, POST, on_limit="fail", notes=notes)
    states = lim.states()  # what `limits` shows
    lines = [bucket_line(state, NOW) for state in states]
    rows = to_json([ProfileLimits("p", "imgur", "http://x", tuple(states))], NOW)
    assert len(lines) == len(rows) == 3
    for state in states:
        assert state.reset_at is None or state.reset_at <= NOW + 86400 + RESET_SLACK
        assert state.remaining is None or 0 <= state.remaining <= (state.limit or 0)
    # An upload goes through and is counted, or is refused in words (a pause of an hour
    # at most).
    until = lim.blocked_until(UPLOAD)
    if until is None:
        lim.settle(lim.acquire(UPLOAD), [])
    else:
        assert until <= HOUR_BOUND
        with pytest.raises(RateLimitError) as refused:
            lim.acquire(UPLOAD)
        assert refused.value.message.endswith(f"; it resets {describe(until, NOW)}")
    # One warning line at most, and only for damage: never a traceback.
    assert len(notes) <= 2  # one from the store (file), one from the limiter (figures)
    assert all(n.startswith("warning: ") and "\n" not in n for n in notes)
    assert notes, "the damage was not reported"


def test_a_sound_state_file_gives_no_warning(tmp_path: Path, fake: FakeTime) -> None:
    _write_hostile(tmp_path, _state())
    notes: list[str] = []
    lim = make_limiter(tmp_path, fake, notes=notes)
    lim.settle(lim.acquire({"post": 1}), [])
    assert notes == []


def test_damage_is_reported_once_and_repaired_on_disk(tmp_path: Path, fake: FakeTime) -> None:
    _write_hostile(tmp_path, _state({**GOOD_BUCKET, "remaining": "many", "reset_at": 1e16}))
    notes: list[str] = []
    store = FileStateStore(tmp_path, notify=notes.append)
    with store.transaction(KEY) as state:
        assert "remaining" not in state["buckets"]["post"]
    with store.transaction(KEY):
        pass
    assert notes == [
        f"warning: rate-limit state {tmp_path / (KEY + '.json')}: discarded malformed "
        "entries (remaining)"
    ]
    assert "remaining" not in _stored(tmp_path)["buckets"]["post"]  # rewritten, not re-warned
    later: list[str] = []
    make_limiter(tmp_path, fake, notes=later).acquire({"post": 1})
    assert later == [
        "warning: Imgur (test): stored rate-limit figures out of bounds (reset_at): cut to "
        "the buckets' windows"
    ]
    assert _stored(tmp_path)["buckets"]["post"]["reset_at"] == HOUR_BOUND


def test_a_directory_where_the_state_file_should_be(tmp_path: Path, fake: FakeTime) -> None:
    (tmp_path / f"{KEY}.json").mkdir(parents=True)
    notes: list[str] = []
    lim = make_limiter(tmp_path, fake, notes=notes)
    lim.settle(lim.acquire({"post": 1}), [BucketUpdate("post", 1250, 9, NOW + 60)])
    assert lim.states()[0].remaining == 9  # kept in memory
    assert notes[0].startswith(f"warning: rate-limit state {tmp_path / (KEY + '.json')} ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_state_file(tmp_path: Path, fake: FakeTime) -> None:
    _write_hostile(tmp_path, _state())
    (tmp_path / f"{KEY}.json").chmod(0)
    notes: list[str] = []
    lim = make_limiter(tmp_path, fake, notes=notes)
    lim.settle(lim.acquire({"post": 1}), [])
    assert notes
    assert notes[0].startswith("warning: ")


# -- every formatting of a time survives any float ----------------------------------------------

FLOATS = [math.nan, math.inf, -math.inf, 1e16, -1e16, 1e300, -1e300, 0.0, -1.0, 2.0**63, 5e-324]


@pytest.mark.parametrize("value", FLOATS, ids=[repr(v) for v in FLOATS])
def test_time_words_never_fail(value: float) -> None:
    for text in (
        span(value),
        relative(value),
        clock(value, NOW),
        clock(NOW, value),
        describe(value, NOW),
        describe(NOW, value),
    ):
        assert text
        assert "nan" not in text.split()


def test_time_words_for_what_no_calendar_shows() -> None:
    assert clock(1e16, NOW) == "at an unknown time"
    assert clock(math.nan, NOW) == "at an unknown time"
    assert span(math.nan) == "an unknown time"
    assert span(1e16) == "over 100 years"
    assert relative(math.nan) == "at an unknown time"


# -- 2. reservations of processes that are gone ----------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _holder(**changes: Any) -> dict[str, Any]:
    return {**owners.me(), **changes}


def _hold(directory: Path, holder: dict[str, Any], remaining: int = 1) -> None:
    """A post bucket with ``remaining`` left, all of it held by ``holder``'s reservation."""
    state = {
        "version": 1,
        "buckets": {"post": {**GOOD_BUCKET, "remaining": remaining}},
        "reservations": [
            {"id": "r", "costs": {"post": remaining}, "expires": NOW + 900, "owner": holder}
        ],
    }
    _write_hostile(directory, json.dumps(state))


@pytest.mark.parametrize(
    "holder",
    [
        pytest.param(lambda: _holder(pid=_dead_pid(), start=None), id="pid gone"),
        pytest.param(lambda: _holder(pid=_dead_pid()), id="pid gone, start recorded"),
        pytest.param(
            lambda: _holder(start=(owners.me()["start"] or 0) + 1), id="pid reused (start differs)"
        ),
        pytest.param(lambda: _holder(boot="another-boot", pid=1), id="host rebooted since"),
    ],
)
def test_a_gone_process_releases_its_credits_at_once(
    tmp_path: Path, fake: FakeTime, holder: Any
) -> None:
    if owners.me()["start"] is None:
        pytest.skip("no /proc here")
    _hold(tmp_path, holder())
    lim = make_limiter(tmp_path, fake, on_limit="fail")
    assert lim.states()[0].held == 0
    lim.acquire({"post": 1})  # the last credit is free again: no 15-minute hold
    (item,) = _stored(tmp_path)["reservations"]
    assert item["owner"] == owners.me()


def test_a_zombie_holds_nothing(tmp_path: Path, fake: FakeTime) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        for _ in range(200):  # bounded: until it has exited (not reaped: a zombie)
            stat = owners._stat(proc.pid)
            if stat is None or stat[0] == "Z":
                break
            time.sleep(0.05)
        _hold(tmp_path, _holder(pid=proc.pid, start=None))
        make_limiter(tmp_path, fake, on_limit="fail").acquire({"post": 1})
    finally:
        proc.wait()


@pytest.mark.parametrize(
    "holder",
    [
        pytest.param(_holder, id="this very process"),
        pytest.param(lambda: _holder(host="another-host", pid=_dead_pid()), id="another host"),
        pytest.param(lambda: _holder(pid=os.getppid(), start=None), id="a live process"),
        pytest.param(lambda: None, id="no owner recorded (older versions)"),
    ],
)
def test_a_live_or_unknown_holder_keeps_its_credits_and_the_refusal_says_until_when(
    tmp_path: Path, fake: FakeTime, holder: Any
) -> None:
    _hold(tmp_path, holder())
    lim = make_limiter(tmp_path, fake, on_limit="fail")
    (state,) = lim.states()
    assert (state.held, state.held_until) == (1, NOW + 900)
    assert bucket_line(state, NOW).endswith(
        f"; 1 held by requests in flight (released {describe(NOW + 900, NOW)} at the latest)"
    )
    with pytest.raises(RateLimitError) as refused:
        lim.acquire({"post": 1})
    assert refused.value.message == (
        "Imgur POST bucket (per IP) has no credit free (1 of 1250 left, 1 held by requests in "
        f"flight, released {describe(NOW + 900, NOW)} at the latest)"
    )
    assert refused.value.reset_at == NOW + 600  # the reset comes before the expiry


def test_waiting_for_held_credits_looks_again_every_second(tmp_path: Path, fake: FakeTime) -> None:
    _hold(tmp_path, _holder())
    lim = make_limiter(tmp_path, fake, max_wait=3)
    with pytest.raises(RateLimitError, match="beyond --max-wait 3 s"):
        lim.acquire({"post": 1})
    assert fake.sleeps == [1.0, 1.0, 1.0]


def test_own_reservations_record_their_owner(tmp_path: Path, fake: FakeTime) -> None:
    lim = make_limiter(tmp_path, fake)
    lim.acquire({"post": 1})
    (item,) = _stored(tmp_path)["reservations"]
    assert item["owner"]["pid"] == os.getpid()
    assert item["expires"] == NOW + RESERVATION_TTL


# -- 3. temp files of killed writers ----------------------------------------------------------


def test_temp_files_of_dead_writers_are_swept(tmp_path: Path, fake: FakeTime) -> None:
    tmp_path.mkdir(exist_ok=True)
    other = "o" * 32
    dead = _dead_pid()
    ours_dead = tmp_path / f".{KEY}.{dead}.0a0b0c0d.tmp"
    ours_live = tmp_path / f".{KEY}.{os.getppid()}.0a0b0c0e.tmp"  # under our lock: stale too
    other_dead = tmp_path / f".{other}.{dead}.0a0b0c0f.tmp"
    other_live = tmp_path / f".{other}.{os.getppid()}.0a0b0c10.tmp"  # may be writing now
    other_old = tmp_path / f".{other}.{os.getppid()}.0a0b0c11.tmp"
    unrelated = tmp_path / ".notes.tmp"
    for path in (ours_dead, ours_live, other_dead, other_live, other_old, unrelated):
        path.write_text("{")
    old = time.time() - 7200
    os.utime(other_old, (old, old))
    make_limiter(tmp_path, fake).acquire({"post": 1})
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
    assert left == sorted([other_live.name, unrelated.name])


# -- 4. cold start: a bucket with a reserve is read live before it is spent ------------------


def test_the_live_figures_are_asked_once_under_the_lock_before_spending(
    tmp_path: Path, fake: FakeTime
) -> None:
    calls: list[float] = []

    def credits() -> list[BucketUpdate]:
        calls.append(fake.now)
        return [BucketUpdate("client", 12500, 130, None), BucketUpdate("user", None, None, None)]

    limiters = [make_limiter(tmp_path, fake, USER, CLIENT, POST, on_limit="fail") for _ in "abcd"]
    for lim in limiters:
        lim.refresh = credits
    for lim in limiters[:3]:  # 4 "processes", each one upload: 30 credits above the reserve
        lim.acquire(UPLOAD)
    with pytest.raises(RateLimitError) as refused:
        limiters[3].acquire(UPLOAD)
    assert refused.value.message.startswith(
        "Imgur client bucket (per app, daily) has no credit free (130 of 12500 left, 30 held "
    )
    assert refused.value.message.endswith(" at the latest, 100 kept back)")
    assert calls == [NOW]  # asked once; the reserve (100) never touched
    client = limiters[0].states()[1]
    assert (client.remaining, client.source, client.held) == (130, "live", 30)


def test_the_live_figures_are_asked_again_past_their_reset(tmp_path: Path, fake: FakeTime) -> None:
    calls: list[float] = []

    def credits() -> list[BucketUpdate]:
        calls.append(fake.now)
        return [BucketUpdate("client", 12500, 500, NOW + 3600)]

    lim = make_limiter(tmp_path, fake, CLIENT)
    lim.refresh = credits
    lim.settle(lim.acquire({"client": 10}), [])
    lim.settle(lim.acquire({"client": 10}), [])
    fake.now = NOW + 3600
    lim.settle(lim.acquire({"client": 10}), [])
    assert calls == [NOW, NOW + 3600]


def test_a_failing_live_check_is_not_repeated_and_does_not_stop_the_send(
    tmp_path: Path, fake: FakeTime
) -> None:
    calls: list[int] = []

    def broken() -> list[BucketUpdate]:
        calls.append(1)
        raise RateLimitError("credits lookup refused")

    lim = make_limiter(tmp_path, fake, CLIENT, POST)
    lim.refresh = broken
    lim.settle(lim.acquire({"client": 10, "post": 1}), [])
    lim.settle(lim.acquire({"client": 10, "post": 1}), [])
    assert calls == [1]


def test_buckets_without_a_reserve_are_never_checked_live(tmp_path: Path, fake: FakeTime) -> None:
    lim = make_limiter(tmp_path, fake, USER, POST)
    lim.refresh = lambda: pytest.fail("asked")  # type: ignore[assignment,return-value]
    lim.acquire({"user": 10, "post": 1})


def test_threads_racing_on_a_cold_start_never_spend_the_reserve(
    tmp_path: Path, fake: FakeTime
) -> None:
    calls: list[int] = []

    def credits() -> list[BucketUpdate]:
        calls.append(1)
        time.sleep(0.05)  # a slow answer: the others wait on the lock meanwhile
        return [BucketUpdate("client", 12500, 120, None)]

    results: list[str] = []

    def one() -> None:
        lim = make_limiter(tmp_path, fake, CLIENT, on_limit="fail")
        lim.refresh = credits
        try:
            lim.acquire({"client": 10})
            results.append("sent")
        except RateLimitError:
            results.append("refused")

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["refused"] * 4 + ["sent"] * 2
    assert calls == [1]
