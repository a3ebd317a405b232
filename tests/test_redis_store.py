"""The Redis state store against a real redis-server (issue 14): the Lua scripts, the
optimistic retry, Redis time instead of the hosts' clocks, leases, lowest remaining."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import redis as redis_support
from tests.support.redis import client
from uploader.errors import RateLimitError
from uploader.models import BucketUpdate
from uploader.ratelimit.limiter import BucketSpec, LimitPolicy, RateLimiter
from uploader.ratelimit.redis_store import COMMIT, LOAD, PREFIX, RedisStateStore

KEY = "f" * 32
POST = BucketSpec("post", "Imgur POST bucket (per IP)", 20, 10.0)
CLIENT = BucketSpec("client", "Imgur client bucket (per app, daily)", 12500, 86400.0, reserve=100)
ROOT = Path(__file__).resolve().parent.parent
redis_url = redis_support.redis_url  # the fixture: a database of a real redis-server


def _limiter(
    url: str, *specs: BucketSpec, clock: Any = time.time, on_limit: str = "fail"
) -> RateLimiter:
    return RateLimiter(
        RedisStateStore(url),
        KEY,
        specs or (POST,),
        LimitPolicy("fail" if on_limit == "fail" else "wait", 300.0),
        provider_label="Imgur (test)",
        clock=clock,
        sleep=lambda _s: None,
    )


def _stored(url: str) -> dict[str, Any]:
    raw = client(url).hget(PREFIX + KEY, "data")
    return dict(json.loads(raw))


def _redis_now(url: str) -> float:
    sec, usec = client(url).time()
    return float(sec) + usec / 1e6


def test_both_scripts_run_and_a_lost_commit_reruns_the_step(redis_url: str) -> None:
    store, other = RedisStateStore(redis_url), RedisStateStore(redis_url)
    runs: list[int] = []

    def step(state: dict[str, Any], _now: float) -> str:
        runs.append(len(state["reservations"]))
        if len(runs) == 1:  # another host writes between our load and our commit
            other.update(KEY, lambda s, _n: s["reservations"].append(_lease("theirs")), time.time)
        state["reservations"].append(_lease("ours"))
        return "done"

    assert store.update(KEY, step, time.time) == "done"
    assert runs == [0, 1]  # re-run on the state the other host left
    assert store.conflicts == 1
    ids = sorted(r["id"] for r in _stored(redis_url)["reservations"])
    assert ids == ["ours", "theirs"]
    conn = client(redis_url)
    assert int(conn.hget(PREFIX + KEY, "ver")) == 2
    assert 0 < conn.pttl(PREFIX + KEY) <= (900 + 3600) * 1000  # a lease + KEEP
    # EVALSHA: both scripts are cached on the server by their sha.
    assert conn.script_exists(*(conn.script_load(s) for s in (LOAD, COMMIT))) == [True, True]


def _lease(rid: str, expires: float | None = None, host: str = "elsewhere") -> dict[str, Any]:
    return {
        "id": rid,
        "costs": {"post": 1},
        "expires": time.time() + 600 if expires is None else expires,
        "owner": {"host": host, "boot": None, "pid": 4242, "start": None},
    }


def test_an_unchanged_state_is_not_written(redis_url: str) -> None:
    lim = _limiter(redis_url)
    lim.settle(lim.acquire({"post": 1}), [])
    ver = client(redis_url).hget(PREFIX + KEY, "ver")
    assert lim.blocked_until({"post": 1}) is None
    lim.states()
    assert client(redis_url).hget(PREFIX + KEY, "ver") == ver


SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from uploader.errors import RateLimitError
    from uploader.ratelimit.limiter import BucketSpec, LimitPolicy, RateLimiter
    from uploader.ratelimit.redis_store import RedisStateStore
    store = RedisStateStore(sys.argv[1])
    spec = BucketSpec("post", "P", 20, 600.0, reserve=int(sys.argv[4]))
    lim = RateLimiter(store, "f" * 32, (spec,),
                      LimitPolicy("fail", 0.0), provider_label="T", sleep=lambda s: None)
    got = 0
    for _ in range(int(sys.argv[2])):
        try:
            held = lim.acquire({"post": 1})
        except RateLimitError:
            continue
        got += 1
        if sys.argv[3] == "settle":
            lim.settle(held, [])
    print(json.dumps({"got": got, "conflicts": store.conflicts}), flush=True)
    sys.stdin.read()  # alive until the test has every answer: its leases stay live
    """
)


@pytest.mark.parametrize(("mode", "reserve"), [("hold", 0), ("settle", 0), ("settle", 5)])
def test_eight_processes_never_reserve_more_than_the_budget(
    redis_url: str, mode: str, reserve: int
) -> None:
    # 8 processes x 6 tries on one key whose bucket has 20 credits: exactly 20 succeed,
    # whether the credits stay reserved (leases) or are settled (counted as spent); with
    # a reserve of 5, exactly 15: the reserve is kept fleet-wide.
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, redis_url, "6", mode, str(reserve)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for _ in range(8)
    ]
    results = [json.loads(p.stdout.readline()) for p in procs]  # type: ignore[union-attr]
    for proc in procs:
        proc.communicate(timeout=60)
    assert sum(r["got"] for r in results) == 20 - reserve
    state = _stored(redis_url)
    if mode == "hold":
        assert len(state["reservations"]) == 20
    else:
        assert state["reservations"] == []
        assert state["buckets"]["post"]["remaining"] == reserve


def test_redis_time_not_the_hosts_clock_expires_leases(redis_url: str) -> None:
    now = _redis_now(redis_url)
    store = RedisStateStore(redis_url)

    def fill(state: dict[str, Any], _now: float) -> None:
        state["buckets"]["post"] = {"limit": 20, "remaining": 2, "reset_at": now + 300}
        # A crashed host's lease, expired in Redis time a second ago; a live one.
        state["reservations"] += [_lease("crashed", now - 1), _lease("live", now + 600)]

    store.update(KEY, fill, time.time)
    # This host's clock is an hour behind: by it the crashed lease would still hold.
    late = _limiter(redis_url, clock=lambda: time.time() - 3600)
    held = late.acquire({"post": 1})
    ids = sorted(r["id"] for r in _stored(redis_url)["reservations"])
    assert ids == sorted(["live", held.id])
    # And a clock an hour ahead does not expire the live lease of another host either.
    early = _limiter(redis_url, clock=lambda: time.time() + 3600)
    with pytest.raises(RateLimitError) as refused:
        early.acquire({"post": 1})
    assert "no credit free" in refused.value.message
    expires = {r["id"]: r["expires"] for r in _stored(redis_url)["reservations"]}
    assert abs(expires[held.id] - (now + 900)) < 60  # the lease is in Redis time


def test_pacing_and_resets_follow_redis_time_under_host_clock_skew(redis_url: str) -> None:
    skewed = _limiter(redis_url, clock=lambda: time.time() + 3600)
    now = _redis_now(redis_url)
    reset = skewed.clock() + 5  # as the session reads "resets in 5 s": this host's clock
    skewed.settle(skewed.acquire({"post": 1}), [BucketUpdate("post", 20, 0, reset)])
    with pytest.raises(RateLimitError) as refused:
        skewed.acquire({"post": 1})
    assert refused.value.retry_after is not None
    assert 0 < refused.value.retry_after <= 6  # not an hour off either way
    bucket = _stored(redis_url)["buckets"]["post"]
    assert abs(bucket["observed_at"] - now) < 60


@pytest.mark.parametrize("skew", [-3600.0, 3600.0])
def test_a_reset_read_on_a_skewed_host_is_stored_in_redis_time(redis_url: str, skew: float) -> None:
    # The headers say "resets in 30 s": the session turns that into an epoch on this
    # host's clock, an hour off; the fleet's state must hold Redis' now + 30.
    lim = _limiter(redis_url, clock=lambda: time.time() + skew)
    held = lim.acquire({"post": 1})
    lim.settle(held, [BucketUpdate("post", 20, 3, lim.clock() + 30)])
    now = _redis_now(redis_url)
    assert abs(_stored(redis_url)["buckets"]["post"]["reset_at"] - (now + 30)) < 5


def test_the_lowest_remaining_of_one_window_wins_across_hosts(redis_url: str) -> None:
    now = _redis_now(redis_url)
    a, b = _limiter(redis_url, CLIENT), _limiter(redis_url, CLIENT)
    held_a, held_b = a.acquire({"client": 10}), b.acquire({"client": 10})
    # b's answer came later but says more (a late answer): the lower figure stays,
    # and the reset stored once (the earlier of two estimates of one window).
    a.settle(held_a, [BucketUpdate("client", 12500, 9000, now + 3600)])
    b.settle(held_b, [BucketUpdate("client", 12500, 9500, now + 3601)])
    bucket = _stored(redis_url)["buckets"]["client"]
    assert bucket["remaining"] == 9000
    assert abs(bucket["reset_at"] - (now + 3600)) < 0.5  # a's, the earlier estimate
    a.settle(a.acquire({"client": 10}), [BucketUpdate("client", 12500, 8990, now + 3600.5)])
    assert _stored(redis_url)["buckets"]["client"]["remaining"] == 8990


def test_a_corrupt_state_in_redis_is_discarded_with_a_warning(redis_url: str) -> None:
    conn = client(redis_url)
    conn.hset(PREFIX + KEY, mapping={"data": "{not json", "ver": "7"})
    notes: list[str] = []
    lim = _limiter(redis_url)
    lim.store = RedisStateStore(redis_url, notify=notes.append, shown="redis://x/1")
    lim.settle(lim.acquire({"post": 1}), [])
    assert notes == [f"warning: rate-limit state redis://x/1 {PREFIX}{KEY}: not JSON: discarded"]
    assert _stored(redis_url)["buckets"]["post"]["remaining"] == 19


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (["SET", "garbage"], "a Redis string, not a state: discarded"),
        (["RPUSH", "a", "b"], "a Redis list, not a state: discarded"),
        (["SADD", "a"], "a Redis set, not a state: discarded"),
        (
            ["HSET", "data", '{"version": 1, "buckets": {}, "reservations": []}', "ver", "abc"],
            "a bad version: replaced",
        ),
        (["HSET", "data", "{}", "ver", "-3"], "a bad version: replaced"),
        (
            [
                "HSET",
                "data",
                '{"version": 1, "buckets": {"post": {"remaining": "x"}}, "reservations": [7]}',
            ],
            "discarded malformed entries (remaining, a reservation)",
        ),
    ],
)
def test_garbage_at_our_key_is_replaced_with_a_warning_never_a_backend_error(
    redis_url: str, damage: list[str], said: str
) -> None:
    # Another type at the key (or a version that is no counter) used to fail every script
    # ("WRONGTYPE", "hash value is not an integer" after the data was written): every run
    # fell back to the local files, for good. It is discarded like bad JSON instead.
    conn = client(redis_url)
    conn.execute_command(damage[0], PREFIX + KEY, *damage[1:])
    notes: list[str] = []
    lim = _limiter(redis_url)
    lim.store = RedisStateStore(redis_url, notify=notes.append, shown="redis://x/1")
    lim.settle(lim.acquire({"post": 1}), [])
    assert notes == [f"warning: rate-limit state redis://x/1 {PREFIX}{KEY}: {said}"]
    assert conn.type(PREFIX + KEY) == b"hash"
    assert int(conn.hget(PREFIX + KEY, "ver")) >= 1
    assert _stored(redis_url)["buckets"]["post"]["remaining"] == 19
    assert _stored(redis_url)["reservations"] == []
    assert conn.pttl(PREFIX + KEY) > 0


def test_a_time_far_ahead_neither_breaks_the_commit_nor_keeps_the_key_for_ever(
    redis_url: str,
) -> None:
    store = RedisStateStore(redis_url)
    for far in (1e12, 1e300):  # a damaged figure that no step has cut yet (state migrate)

        def fill(state: dict[str, Any], now: float, far: float = far) -> None:
            state["buckets"]["x"] = {"reset_at": now + far}

        store.update(KEY, fill, time.time)
        assert 0 < client(redis_url).pttl(PREFIX + KEY) <= 40 * 86400 * 1000


def test_scripts_flushed_from_the_server_are_loaded_again(redis_url: str) -> None:
    # EVALSHA answers NOSCRIPT after a SCRIPT FLUSH (or a restart, a failover to a
    # replica): the script is sent again, the step is not lost nor run twice.
    lim = _limiter(redis_url)
    lim.settle(lim.acquire({"post": 1}), [])
    client(redis_url).script_flush()
    lim.settle(lim.acquire({"post": 1}), [])
    assert _stored(redis_url)["buckets"]["post"]["remaining"] == 18


def test_a_machine_of_the_same_name_keeps_its_reservations(redis_url: str) -> None:
    # Hosts made from one image share a name; their boot ids differ. With the file store
    # another boot id means "this host rebooted: its processes are gone"; in Redis it is
    # another machine whose requests are in flight: its credits stay held until the lease.
    post = BucketSpec("post", "P", 2, 600.0)
    a, b = _limiter(redis_url, post), _limiter(redis_url, post)
    a._here = {**a._here, "boot": "boot-of-machine-a", "pid": 1 << 30}
    b._here = {**b._here, "boot": "boot-of-machine-b"}
    held = a.acquire({"post": 2})
    with pytest.raises(RateLimitError):
        b.acquire({"post": 1})
    assert [r["id"] for r in _stored(redis_url)["reservations"]] == [held.id]


@pytest.mark.parametrize("skew", [-3600.0, 3600.0])
def test_state_migrate_moves_this_hosts_times_onto_redis_time(
    redis_url: str, tmp_path: Path, skew: float
) -> None:
    from uploader.commands.runtime import Runtime
    from uploader.commands.state import migrate
    from uploader.ratelimit.store import FileStateStore

    host = time.time() + skew  # this host's clock, an hour off
    local = FileStateStore(tmp_path / "uploader" / "ratelimit")
    bucket = {"limit": 20, "remaining": 3, "reset_at": host + 300, "observed_at": host}
    local.update(KEY, lambda s, _n: s["buckets"].update(post=bucket), time.time)
    shown: list[str] = []
    runtime = Runtime(env={"XDG_STATE_HOME": str(tmp_path)}, clock=lambda: time.time() + skew)
    assert migrate(redis_url, runtime, config=None, dry_run=False, emit=shown.append) == 1
    assert shown == [f"copied {KEY}: post 3/20"]
    stored = _stored(redis_url)["buckets"]["post"]
    now = _redis_now(redis_url)
    assert abs(stored["reset_at"] - (now + 300)) < 30
    assert abs(stored["observed_at"] - now) < 30


@pytest.mark.parametrize("skew", [-3600.0, 3600.0])
def test_limits_judges_the_fleets_buckets_on_redis_time(redis_url: str, skew: float) -> None:
    # A host an hour ahead took the spent bucket (reset in 10 min) for reset and full; one
    # an hour behind showed its reset 70 min away. Judged on Redis' clock, shown on this
    # host's: 0 left, resets in 10 min by either host's clock.
    now = _redis_now(redis_url)
    RedisStateStore(redis_url).update(
        KEY,
        lambda s, _n: s["buckets"].update(
            client={"limit": 12500, "remaining": 0, "reset_at": now + 600}
        ),
        time.time,
    )
    lim = _limiter(redis_url, CLIENT, clock=lambda: time.time() + skew)
    (client_bucket,) = lim.states()
    assert client_bucket.remaining == 0
    assert client_bucket.reset_at is not None
    assert abs(client_bucket.reset_at - (lim.clock() + 600)) < 30
