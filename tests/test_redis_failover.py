"""Redis unreachable: the local file store with a conservative share of the fleet's last
known budget (ratelimit/failover.py), counted down by what this host spends, whatever the
server's headers say, and kept across runs until the window ends. No server needed: the
Redis store points at a port nothing listens on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import FakeTime
from tests.support.redis import free_port
from uploader.errors import RateLimitError
from uploader.models import BucketUpdate
from uploader.ratelimit.failover import FLEET, SHARE, FailoverStore
from uploader.ratelimit.limiter import BucketSpec, LimitPolicy, RateLimiter
from uploader.ratelimit.redis_store import RedisStateStore
from uploader.ratelimit.store import FileStateStore

NOW = 1_785_000_000.0
KEY = "e" * 32
POST = BucketSpec("post", "Imgur POST bucket (per IP)", 1250, 3600.0)
FLEET_STATE = {
    "version": 1,
    "buckets": {"post": {"limit": 1250, "remaining": 40, "reset_at": NOW + 600}},
    "reservations": [],
}


def _limiter(tmp_path: Path, fake: FakeTime, notes: list[str], *, seen: bool) -> RateLimiter:
    primary = RedisStateStore(f"redis://127.0.0.1:{free_port()}/0", shown="redis://dead/0")
    if seen:  # this run had used Redis before it went away
        primary.last[KEY] = (FLEET_STATE, NOW)
    store = FailoverStore(
        primary, FileStateStore(tmp_path), on_error="fallback", notify=notes.append
    )
    return RateLimiter(
        store,
        KEY,
        (POST,),
        LimitPolicy("fail", 0.0),
        provider_label="Imgur (test)",
        clock=fake.clock,
        sleep=fake.sleep,
    )


def _send_all(lim: RateLimiter, remaining: int = 1000) -> int:
    sent = 0
    for _ in range(50):
        try:
            held = lim.acquire({"post": 1})
        except RateLimitError:
            break
        # The server (shared by the fleet) says plenty is left: the share still binds.
        lim.settle(held, [BucketUpdate("post", 1250, remaining, NOW + 600)])
        sent += 1
    return sent


def test_the_fallback_spends_a_quarter_of_the_fleets_last_figure(tmp_path: Path) -> None:
    fake, notes = FakeTime(NOW), []
    assert _send_all(_limiter(tmp_path, fake, notes, seen=True)) == 40 * SHARE == 10
    assert notes == [
        "warning: rate-limit state: redis://dead/0 unreachable (Error 111 connecting to "
        f"127.0.0.1:{notes[0].split('127.0.0.1:')[1].split('.')[0]}. Connection refused.): "
        "using the local file store with a conservative share of the last known budget"
    ]


def test_the_next_run_reads_the_local_fleet_copy_and_keeps_the_allowance(tmp_path: Path) -> None:
    def copy(state: dict[str, Any], _now: float) -> None:
        state["buckets"] = FLEET_STATE["buckets"]

    FileStateStore(tmp_path).update(KEY + FLEET, copy, lambda: NOW)
    fake = FakeTime(NOW)
    assert _send_all(_limiter(tmp_path, fake, [], seen=False)) == 10
    fake.now += 60
    assert _send_all(_limiter(tmp_path, fake, [], seen=False)) == 0  # not reset per run
    fake.now = NOW + 601  # the fleet's window ended: the local figures again
    assert _send_all(_limiter(tmp_path, fake, [], seen=False)) == 50


def test_without_any_fleet_figure_the_local_ones_apply(tmp_path: Path) -> None:
    assert _send_all(_limiter(tmp_path, FakeTime(NOW), [], seen=False)) == 50


def test_fail_mode_raises_exit_4_before_anything(tmp_path: Path) -> None:
    primary = RedisStateStore(f"redis://127.0.0.1:{free_port()}/0", shown="redis://dead/0")
    local = tmp_path / "ratelimit"
    store = FailoverStore(primary, FileStateStore(local), on_error="fail", notify=print)
    with pytest.raises(RateLimitError) as failed:
        store.probe()
    assert failed.value.message.startswith("rate-limit state: redis://dead/0 unreachable (")
    assert int(failed.value.exit_code) == 4
    assert not local.exists()


WIRE = """
import sys
from pathlib import Path
from uploader.commands.runtime import Runtime, wire
from uploader.config.settings import load_config
config = load_config(sys.argv[1], {})
lim = wire(config, None, Runtime(env={"XDG_STATE_HOME": sys.argv[2]})).limiter
lim.release(lim.acquire({"post": 1}))
print(sorted(m for m in sys.modules if m.startswith(("redis", "uploader.ratelimit"))))
"""


@pytest.mark.parametrize("backend", ["file", "redis"])
def test_the_redis_client_is_imported_only_with_the_redis_backend(
    tmp_path: Path, backend: str
) -> None:
    import subprocess
    import sys

    value = "file" if backend == "file" else f"redis://127.0.0.1:{free_port()}/0"
    config = tmp_path / "c.toml"
    config.write_text(
        f'[state]\nbackend = "{value}"\n'
        '[providers.im]\nkind = "imgur"\nclient_id = "cid"\nbase_url = "http://127.0.0.1:9"\n'
    )
    done = subprocess.run(
        [sys.executable, "-c", WIRE, str(config), str(tmp_path / "state")],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = eval(done.stdout)  # noqa: S307 - our own repr of a list of strings
    redis_modules = [m for m in loaded if m == "redis" or "redis" in m or "failover" in m]
    if backend == "file":
        assert redis_modules == []
    else:
        assert "redis" in loaded
        assert "uploader.ratelimit.redis_store" in loaded
        assert "uploader.ratelimit.failover" in loaded


def test_the_fleets_times_are_moved_onto_this_hosts_clock(tmp_path: Path) -> None:
    # Redis' clock is an hour behind this host's: the fleet's reset, NOW + 600 here, was
    # stored as NOW - 3000. Read on this host's clock as it stands, the window would have
    # ended and the share be a quarter of the whole limit (312), not of the 40 left.
    fake = FakeTime(NOW)
    lim = _limiter(tmp_path, fake, [], seen=False)
    primary = lim.store.primary  # type: ignore[attr-defined]
    primary.offset = -3600.0
    in_redis = {**FLEET_STATE, "buckets": {"post": {**FLEET_STATE["buckets"]["post"]}}}
    in_redis["buckets"]["post"]["reset_at"] = NOW - 3000
    primary.last[KEY] = (in_redis, NOW - 3600)
    lim.store._copy(KEY, force=True)  # type: ignore[attr-defined]
    copy = FileStateStore(tmp_path).read(KEY + FLEET)
    assert copy["buckets"]["post"]["reset_at"] == NOW + 600
    assert _send_all(lim) == 10
    fake.now = NOW + 601  # the fleet's window ended, by this host's clock too
    assert _send_all(lim) == 50


def test_state_migrate_does_not_copy_a_fallback_share_back_as_the_fleets_figure() -> None:
    from uploader.commands.state import merge

    # After a run on the local files with a quarter of the fleet's 40 left, "post" reads
    # 10: copied into Redis as the lowest remaining of that window, it would cut the whole
    # fleet to a quarter. A bucket this host knows by itself is copied.
    local = {
        "version": 1,
        "buckets": {
            "post": {"limit": 1250, "remaining": 10, "reset_at": NOW + 600},
            "post~share": {"remaining": 10, "reset_at": NOW + 600},
            "user": {"limit": 500, "remaining": 480, "reset_at": NOW + 600},
        },
        "reservations": [],
    }
    remote = {"version": 1, "buckets": {}, "reservations": []}
    assert merge(remote, local, NOW) == ["user 480/500"]
    assert list(remote["buckets"]) == ["user"]


def test_a_long_run_goes_back_to_redis_when_it_answers_again(tmp_path: Path) -> None:
    # `uploader serve` runs for days: a Redis that was down at some point is tried again
    # every RETRY seconds, and used again once it answers (said once), not never again.
    from tests.support.redis import Server
    from uploader.ratelimit.failover import RETRY

    port, ticks, notes = free_port(), [0.0], []
    primary = RedisStateStore(f"redis://127.0.0.1:{port}/0", shown="redis://r/0")
    store = FailoverStore(
        primary,
        FileStateStore(tmp_path),
        on_error="fallback",
        notify=notes.append,
        monotonic=lambda: ticks[0],
    )
    lim = RateLimiter(store, KEY, (POST,), LimitPolicy("fail", 0.0), provider_label="Imgur (test)")
    lim.settle(lim.acquire({"post": 1}), [])
    assert store.failed is not None
    server = Server(port)
    try:
        ticks[0] = RETRY - 1  # not yet tried again
        lim.settle(lim.acquire({"post": 1}), [])
        assert store.failed is not None
        ticks[0] = RETRY
        lim.settle(lim.acquire({"post": 1}), [])
        assert store.failed is None
        assert notes[1:] == [
            "rate-limit state: redis://r/0 answers again: the fleet's figures again"
        ]
        stored = primary.read(KEY)
        assert stored["buckets"]["post"]["remaining"] == 1249  # this send, in Redis
    finally:
        server.stop()
