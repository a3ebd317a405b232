"""Uploads meeting the rate limiter, in process through ``commands.upload`` with the clock
and sleep injected: against the sandbox (sharing the fake clock, so its windows move with
the limiter's waits) or against scripted answers (``httpx.MockTransport``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support.clock import FakeTime
from tests.support.http import Routes
from tests.support.images import png_bytes, write_png
from tests.support.imgur import gateway_429, uploaded
from tests.support.pipeline import Run, run_upload
from tests.support.providers import config_of, imgur_toml
from uploader.commands import limits
from uploader.commands.runtime import Runtime
from uploader.errors import ExitCode, RateLimitError
from uploader.http.retry import RetryPolicy
from uploader.ratelimit.bucket import PENALTY_BASE
from uploader.ratelimit.limiter import RESET_MARGIN
from uploader.sandbox import Sandbox, SandboxConfig
from uploader.timewords import clock, describe

START = 1_785_000_000.0


def test_wait_policy_waits_for_the_reset_and_says_so(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    fake = FakeTime(START)
    knobs = SandboxConfig(imgur_post_limit=1, imgur_post_window=5)
    files = [str(write_png(tmp_path / f"{i}.png", seed=i)) for i in range(2)]
    with Sandbox(knobs, clock=fake) as sb:
        config = config_of(imgur_toml(f"{sb.base_url}/imgur", name="sb"), tmp_path)
        run = run_upload(config, files, hermetic_env, fake, provider="sb")
        stats = sb.stats()
    assert [r.status for r in run.results] == ["uploaded", "uploaded"]
    # The second upload waited for the POST bucket's reset (5 s after the first), said so,
    # and was not refused.
    assert run.notes == ["waiting 5 s for Imgur POST bucket (per IP) to reset"]
    assert fake.sleeps == [5 + RESET_MARGIN]
    assert stats["responses_429"] == 0
    assert stats["uploads_stored"] == 2


# -- scripted Imgur answers --------------------------------------------------------------------


def _user_left(left: int, reset: float) -> httpx.Response:
    """A successful upload whose headers say the user bucket has ``left`` until ``reset``."""
    headers = {
        "X-RateLimit-UserLimit": "500",
        "X-RateLimit-UserRemaining": str(left),
        "X-RateLimit-UserReset": str(int(reset)),
    }
    return httpx.Response(200, json=uploaded(), headers=headers)


def _batch(
    tmp_path: Path, env: dict[str, str], answers: list[httpx.Response], **kwargs: Any
) -> tuple[Routes, FakeTime, Run]:
    fake = FakeTime(START)
    routes = Routes({"POST /imgur/3/image": answers}, clock=fake.clock)
    files = [str(write_png(tmp_path / f"{i}.png", seed=i)) for i in range(len(answers))]
    config = config_of(imgur_toml("http://127.0.0.1:1/imgur"), tmp_path)
    run = run_upload(config, files, env, fake, transport=httpx.MockTransport(routes), **kwargs)
    return routes, fake, run


def test_the_pending_count_falls_as_the_batch_goes(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # After the first file 25 user credits are left: enough for the 2 uploads still to come
    # (20), so nothing is paced. Counted as 3 still to come (30), the batch would be paced.
    reset = START + 300
    answers = [_user_left(25, reset), _user_left(15, reset), _user_left(5, reset)]
    routes, fake, run = _batch(tmp_path, hermetic_env, answers)
    assert [r.status for r in run.results] == ["uploaded"] * 3
    assert routes.times_of("POST") == [START, START, START]
    assert fake.sleeps == []
    assert run.notes == []


def test_a_batch_is_paced_by_imgurs_upload_cost_of_10_credits(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # 25 credits left for 3 more uploads of 10 (30): spread over the 300 s to the reset, one
    # upload per 120 s (300 s / 2.5 uploads). Then 5 left, less than one upload: wait for
    # the reset itself.
    reset = START + 300
    answers = [_user_left(n, reset) for n in (25, 15, 5)] + [_user_left(490, START + 3900)]
    routes, fake, run = _batch(tmp_path, hermetic_env, answers, max_wait=600)
    assert [r.status for r in run.results] == ["uploaded"] * 4
    assert routes.times_of("POST") == [START, START, START + 120, START + 300 + RESET_MARGIN]
    assert fake.sleeps == [120, 180 + RESET_MARGIN]
    assert run.notes == [
        "pacing: waiting 120 s to spread the remaining Imgur (im) budget",
        "waiting 180 s for Imgur user bucket (per IP) to reset",
    ]


def test_a_server_refusal_the_retries_gave_up_on_says_when_the_next_try_is_allowed(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # The gateway's 429 says nothing of when: the limiter pauses the POST bucket 10 s
    # (its first penalty), and the message says so with the local time.
    refused = httpx.Response(429, json=gateway_429())
    _, fake, run = _batch(tmp_path, hermetic_env, [refused], retry=RetryPolicy(attempts=1))
    (error,) = run.errors
    assert isinstance(error, RateLimitError)
    assert run.exit_code == ExitCode.RATE_LIMITED
    assert error.message == (
        "Imgur refused the upload: rate limit reached (Too Many Requests); the next try is allowed "
        f"{describe(START + PENALTY_BASE, START)}"
    )
    assert error.reset_at == START + PENALTY_BASE
    assert error.hint == "try again then, or see `uploader limits`"
    assert fake.sleeps == []


# -- uploader limits --refresh -------------------------------------------------------------------


def test_limits_refresh_asks_imgur_for_its_credits_and_shows_them(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    fake = FakeTime(START)
    knobs = SandboxConfig(imgur_user_limit=300, imgur_client_limit=9000)
    with Sandbox(knobs, clock=fake) as sb:
        # One upload the limiter never saw (another machine, say): only a live check knows.
        sent = httpx.post(
            f"{sb.base_url}/imgur/3/image",
            headers={"Authorization": "Client-ID cid-123"},
            files={"image": ("a.png", png_bytes())},
            trust_env=False,
        )
        assert sent.status_code == 200
        config = config_of(imgur_toml(f"{sb.base_url}/imgur", name="sb"), tmp_path)
        runtime = Runtime(env=hermetic_env, clock=fake.clock, sleep=fake.sleep)
        items = limits.gather(config, "sb", runtime, refresh=True)
        asked = [(r["method"], r["path"]) for r in sb.requests()][1:]
    assert asked == [("GET", "/imgur/3/credits")]
    assert limits.render_text(items, now=fake.now)[1:] == [
        "  Imgur user bucket (per IP): 290/300 left; resets "
        f"{describe(START + 3600, START)}; live check {clock(START, START)}",
        # No reset in the credits answer: a day from the check (the bucket rules' bound).
        "  Imgur client bucket (per app, daily): 8990/9000 left (reserve 100); resets "
        f"{describe(START + 86400, START)}; live check {clock(START, START)}",
        "  Imgur POST bucket (per IP): 1250/1250 left; not seen yet (documented default)",
        # Issue 14: where the figures are kept.
        f"state: {hermetic_env['XDG_STATE_HOME']}/uploader/ratelimit (local file store)",
    ]
