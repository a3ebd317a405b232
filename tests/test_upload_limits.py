"""Uploads meeting the rate limiter, in process through ``commands.upload`` with the clock
and sleep injected: against the sandbox (sharing the fake clock, so its windows move with
the limiter's waits) or against scripted answers (``httpx.MockTransport``)."""

from __future__ import annotations

from pathlib import Path

from tests.support.clock import FakeTime
from tests.support.images import write_png
from tests.support.pipeline import run_upload
from tests.support.providers import config_of, imgur_toml
from uploader.ratelimit.limiter import RESET_MARGIN
from uploader.sandbox import Sandbox, SandboxConfig

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
