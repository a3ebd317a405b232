"""`uploader state migrate` end to end (issue 14): the local figures into a real Redis
(tests/support/redis.py), merged there, named by their profiles."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support import redis as redis_support
from tests.support.e2e import CLI, run_cli, sandbox_process, write_config
from tests.support.redis import client, free_port
from tests.test_e2e_redis import _config, _files, _lines, _stored
from uploader.errors import ExitCode
from uploader.ratelimit.redis_store import PREFIX

redis_url = redis_support.redis_url  # the fixture: a database of the shared test server


def test_state_migrate_copies_the_local_figures_lowest_remaining_wins(
    tmp_path: Path, hermetic_env: dict[str, str], redis_url: str
) -> None:
    with sandbox_process() as base:
        config = str(write_config(tmp_path / "file.toml", base))
        done = run_cli(["--config", config, "upload", *_files(tmp_path, 2)], hermetic_env)
        assert done.returncode == 0, done.stderr
    (key,) = [p.stem for p in Path(hermetic_env["XDG_STATE_HOME"]).rglob("*.json")]
    local = json.loads(next(Path(hermetic_env["XDG_STATE_HOME"]).rglob("*.json")).read_text())
    # Redis already knows a lower figure for the user bucket of the same window (its reset
    # estimated a second later: one window, whole-second resets).
    local_reset = local["buckets"]["user"]["reset_at"]
    user = dict(local["buckets"]["user"], remaining=100, reset_at=local_reset + 1)
    seeded = {"version": 1, "buckets": {"user": user}, "reservations": []}
    client(redis_url).hset(PREFIX + key, mapping={"data": json.dumps(seeded), "ver": "1"})
    dry = run_cli(["state", "migrate", "--to", redis_url, "--dry-run"], hermetic_env)
    assert dry.returncode == 0, dry.stderr
    assert _lines(dry.stdout) == [
        f"would copy {key}: client 12480/12500, post 1248/1250, user 100/500"
    ]
    assert _stored(redis_url)[key] == seeded  # nothing written
    done = run_cli(["state", "migrate", "--to", redis_url], hermetic_env)
    assert done.returncode == 0, done.stderr
    assert _lines(done.stdout) == [
        f"copied {key}: client 12480/12500, post 1248/1250, user 100/500"
    ]
    merged = _stored(redis_url)[key]["buckets"]
    # Lower in Redis: kept; the reset stored once, the earlier of the two estimates.
    assert (merged["user"]["remaining"], merged["user"]["reset_at"]) == (100, local_reset)
    assert merged["post"]["remaining"] == 1248
    assert merged["post"]["reset_at"] == local["buckets"]["post"]["reset_at"]
    again = run_cli(["state", "migrate", "--to", redis_url], hermetic_env)
    assert _lines(again.stdout) == [f"{key}: nothing new"]
    dead = run_cli(["state", "migrate", "--to", f"redis://127.0.0.1:{free_port()}/0"], hermetic_env)
    assert dead.returncode == 5
    assert _lines(dead.stderr)[0].endswith("0 of 1 keys copied")
    bad = run_cli(["state", "migrate", "--to", "redis://h:x/0"], hermetic_env)
    assert bad.returncode == 2
    assert _lines(bad.stderr) == [
        "error: --to: 'redis://h:x/0' is not a valid URL (its port?)",
        'hint: use "redis://HOST:PORT/DB" ("rediss://" for TLS; the password in '
        "UPLOADER_REDIS_PASSWORD or as redis://:PASSWORD@HOST:PORT/DB)",
    ]
    # The config names the key's profile; without --to, its [state] backend is the target.
    named = run_cli(["--config", config, "state", "migrate", "--to", redis_url], hermetic_env)
    assert _lines(named.stdout) == [f"{key} (sb): nothing new"]
    nowhere = run_cli(["--config", config, "state", "migrate"], hermetic_env)
    assert nowhere.returncode == 2
    assert _lines(nowhere.stderr) == [
        "error: state migrate: no --to, and the configured [state] backend is the local files",
        "hint: give the Redis to copy into: --to redis://HOST:PORT/DB",
    ]
    client(redis_url).flushdb()
    to_redis = _config(tmp_path, base, redis_url)  # the same profile, with Redis
    configured = run_cli(["--config", to_redis, "state", "migrate"], hermetic_env)
    assert configured.returncode == 0, configured.stderr
    assert _lines(configured.stdout) == [
        f"copied {key} (sb): client 12480/12500, post 1248/1250, user 480/500"
    ]


def _three_local_keys(tmp_path: Path, env: dict[str, str]) -> list[str]:
    """One real key (an upload to the sandbox), copied under two more key names."""
    with sandbox_process() as base:
        config = str(write_config(tmp_path / "file.toml", base))
        done = run_cli(["--config", config, "upload", *_files(tmp_path, 1)], env)
        assert done.returncode == 0, done.stderr
    (first,) = Path(env["XDG_STATE_HOME"]).rglob("*.json")
    for name in ("0" * 32, "f" * 32):
        (first.parent / f"{name}.json").write_bytes(first.read_bytes())
    return sorted(p.stem for p in first.parent.glob("*.json"))


@pytest.mark.parametrize("where", ["full", "reader gone"])
def test_state_migrate_that_cannot_print_stops_and_says_how_far_it_got(
    tmp_path: Path, hermetic_env: dict[str, str], redis_url: str, where: str
) -> None:
    # A line that cannot be written stops the copy, with exit 7 even when the reader left
    # (`| head -1`): exit 0 would say every key was copied.
    keys = _three_local_keys(tmp_path, hermetic_env)
    if where == "full":
        if not Path("/dev/full").exists():
            pytest.skip("no /dev/full here")
        out = os.open("/dev/full", os.O_WRONLY)
    else:
        read, out = os.pipe()
        os.close(read)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")}
    env.update(hermetic_env)
    try:
        for args, copied in (["--dry-run"], 0), ([], 1):
            done = subprocess.run(
                [*CLI, "state", "migrate", "--to", redis_url, *args],
                stdout=out,
                stderr=subprocess.PIPE,
                env=env,
                timeout=60,
                check=False,
            )
            assert done.returncode == ExitCode.OUTPUT
            reason = "no space left on device" if where == "full" else "broken pipe"
            assert _lines(done.stderr)[0] == (
                f"error: state migrate: could not write to standard output ({reason}): "
                f"stopped after 1 of 3 keys ({copied} copied), the rest not read"
            )
            assert _lines(done.stderr)[1].startswith("hint: run the command again")
            assert list(_stored(redis_url)) == keys[:copied]
    finally:
        os.close(out)
