"""The retry backoff has a floor: ``--max-wait`` (a rate-limit wait bound) never shrinks it
(issue 11, section 3: ``--max-wait 0`` made three instant re-sends of a 5xx)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import httpx
import pytest

from tests.support.cli import clock as fake_clock
from tests.support.cli import invoke, lines
from tests.support.http import Routes
from tests.support.images import write_png
from tests.support.imgur import uploaded
from tests.support.providers import imgur_toml
from uploader.commands.runtime import Runtime, retry_policy
from uploader.config.settings import Defaults
from uploader.http.retry import RetryPolicy, backoff


def _run(tmp_path: Path, *args: str) -> tuple[list[float], Routes, int, str]:
    fake = fake_clock()
    routes = Routes(
        {
            "POST /3/image": [
                httpx.Response(503, json={"data": {"error": "busy"}, "status": 503}),
                httpx.Response(502, json={"data": {"error": "busy"}, "status": 502}),
                httpx.Response(200, json=uploaded()),
            ]
        },
        prefix="/imgur",
        clock=fake.clock,
    )
    config = tmp_path / "c.toml"
    config.write_text(imgur_toml("http://127.0.0.1:9/imgur"))
    image = write_png(tmp_path / "a.png")
    runtime = Runtime(clock=fake.clock, sleep=fake.sleep, transport=httpx.MockTransport(routes))
    done = invoke(["--config", str(config), "upload", *args, str(image)], runtime=runtime)
    return fake.sleeps, routes, done.exit_code, done.stdout


@pytest.mark.parametrize("max_wait", ["0", "0.1"])
def test_max_wait_below_the_backoff_does_not_make_retries_instant(
    tmp_path: Path, max_wait: str
) -> None:
    sleeps, routes, code, out = _run(tmp_path, "--max-wait", max_wait)
    assert code == 0
    assert lines(out) == ["https://i.imgur.com/AbCdEf1.png"]
    times = routes.times_of("POST")
    assert len(times) == 3
    # Equal jitter over base 0.5: the first wait is 0.25..0.5 s, the second 0.5..1 s.
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 0.25 <= gaps[0] <= 0.5
    assert 0.5 <= gaps[1] <= 1.0
    assert all(wait >= 0.25 for wait in sleeps)


def test_max_wait_from_the_environment_does_not_shrink_the_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPLOADER_MAX_WAIT", "0")
    _, routes, code, _ = _run(tmp_path)
    times = routes.times_of("POST")
    assert code == 0
    assert len(times) == 3
    assert times[1] - times[0] >= 0.25
    assert times[2] - times[1] >= 0.5


def test_the_retry_policy_ignores_the_rate_limit_max_wait() -> None:
    policy = retry_policy(Defaults())
    assert policy.cap == 10.0
    assert (policy.attempts, policy.max_time) == (4, 30.0)


@pytest.mark.parametrize("cap", [0.0, 0.1, 0.2])
def test_backoff_never_drops_below_half_the_base(cap: float) -> None:
    policy = RetryPolicy(base=0.5, cap=cap)
    rng = random.Random(1)
    waits = [backoff(attempt, policy, rng) for attempt in range(1, 6) for _ in range(20)]
    assert min(waits) >= 0.25
    assert max(waits) <= 0.5
