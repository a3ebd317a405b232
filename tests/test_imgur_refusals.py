"""Imgur's rate-limit refusals through the real pipeline (retry policy, limiter, state on
disk) against httpx.MockTransport, with an injected clock and sleep.

Every refusal the server signals, whatever its HTTP status or body (reference 1.2, 1.10),
must reach the limiter, so that the next attempt waits or fails instead of re-sending.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.http import Routes
from tests.support.images import write_png
from tests.support.imgur import gateway_429, legacy_error, too_fast_body, uploaded
from tests.support.pipeline import run_upload
from tests.support.providers import config_of
from uploader.commands import lookup
from uploader.commands import runtime as runtime_module
from uploader.config.settings import Config
from uploader.errors import ExitCode, RateLimitError, UploaderError
from uploader.http.retry import RetryPolicy
from uploader.ratelimit.limiter import LimitPolicy
from uploader.timewords import clock

NOW = 1_785_000_000.0
IMAGE = {**uploaded()["data"], "size": 100, "datetime": 1_700_000_000}
OK = {"data": IMAGE, "success": True, "status": 200}
FULL_CREDITS = {
    "X-RateLimit-UserLimit": "500",
    "X-RateLimit-UserRemaining": "500",
    "X-RateLimit-UserReset": "3600",
    "X-RateLimit-ClientLimit": "12500",
    "X-RateLimit-ClientRemaining": "12500",
    "X-RateLimit-ClientReset": "86400",
    "X-Post-Rate-Limit-Limit": "1250",
    "X-Post-Rate-Limit-Remaining": "1180",
    "X-Post-Rate-Limit-Reset": "3000",
}


def too_fast(minutes: int) -> httpx.Response:
    """Reference 1.2 #2: the structured ImgurException, code 429, HTTP and body status 400."""
    return httpx.Response(400, json=too_fast_body(minutes))


def daily_exceeded(headers: dict[str, str] | None = None) -> httpx.Response:
    """Reference 1.10: the legacy string error, HTTP 429."""
    body = legacy_error("Daily client requests exceeded", status=429)
    return httpx.Response(429, json=body, headers=headers or {})


GATEWAY_429 = gateway_429("legacy-api-7756c5f445-v8sw6/FWkdEyQ56Y-1829229")


def _config(tmp_path: Path, extra: str = "") -> Config:
    return config_of(
        '[defaults]\nretries = 4\n[providers.im]\nkind = "imgur"\nclient_id = "cid-123"\n'
        f'base_url = "http://127.0.0.1:1/imgur"\n{extra}',
        tmp_path,
    )


def _gets(server: Routes) -> int:
    """GET requests but the limiter's free cold-start credits check."""
    return len([r for r in server.seen if r.method == "GET" and r.url.path != "/imgur/3/credits"])


def _runtime(
    env: dict[str, str], server: Routes, fake: FakeTime, notes: list[str]
) -> runtime_module.Runtime:
    server.clock = fake.clock
    return runtime_module.Runtime(
        env=env,
        clock=fake.clock,
        sleep=fake.sleep,
        notify=notes.append,
        transport=httpx.MockTransport(server),
    )


def _upload(
    tmp_path: Path,
    env: dict[str, str],
    server: Routes,
    fake: FakeTime,
    *,
    on_limit: str = "wait",
    max_wait: float = 300.0,
    notes: list[str] | None = None,
) -> tuple[ExitCode, list[UploaderError | None]]:
    server.clock = fake.clock
    image = str(write_png(tmp_path / "a.png"))
    transport = httpx.MockTransport(server)
    run = run_upload(
        _config(tmp_path),
        [image],
        env,
        fake,
        transport=transport,
        provider="im",
        on_limit=on_limit,
        max_wait=max_wait,
        retry=RetryPolicy(),
    )
    if notes is not None:
        notes.extend(run.notes)
    return run.exit_code, run.errors


def _local(epoch: float) -> str:
    """How a reset at ``epoch`` reads at NOW (the format itself: tests/test_timewords.py)."""
    return clock(epoch, NOW)


# -- 1. "uploading too fast" in a 400 --------------------------------------------------------


def test_too_fast_in_a_400_beyond_max_wait_fails_at_once_with_the_reset(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    server = Routes({"POST /imgur/3/image": [too_fast(37)]})
    fake = FakeTime(NOW)
    code, (error,) = _upload(tmp_path, hermetic_env, server, fake)
    assert code == ExitCode.RATE_LIMITED
    assert server.count("POST") == 1  # no re-send at all
    assert fake.sleeps == [0.0]  # the retry policy's own wait; the limiter refused at once
    assert isinstance(error, RateLimitError)
    assert error.message == (
        "Imgur POST bucket (per IP) is paused: Imgur's upload throttle refused an upload "
        '("You are uploading too fast. Please wait 37 more minutes."); it resets '
        f"{_local(NOW + 2220)} (in 37 min), beyond --max-wait 300 s"
    )
    assert error.reset_at == NOW + 2220
    assert error.hint == "use --max-wait 2221 to wait for it, or see `uploader limits`"


def test_too_fast_in_a_400_within_max_wait_waits_then_sends_again(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    server = Routes({"POST /imgur/3/image": [too_fast(2), httpx.Response(200, json=OK)]})
    fake = FakeTime(NOW)
    notes: list[str] = []
    code, (error,) = _upload(tmp_path, hermetic_env, server, fake, notes=notes)
    assert (code, error) == (ExitCode.OK, None)
    first, second = server.times_of("POST")
    assert second - first >= 120  # the server's "wait 2 more minutes", honoured
    assert notes == ["waiting 120 s for Imgur POST bucket (per IP) to reset"]


def test_too_fast_under_on_limit_fail_sends_once(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    server = Routes({"POST /imgur/3/image": [too_fast(2)]})
    code, (error,) = _upload(tmp_path, hermetic_env, server, FakeTime(NOW), on_limit="fail")
    assert code == ExitCode.RATE_LIMITED
    assert server.count("POST") == 1
    assert isinstance(error, RateLimitError)
    assert "; it resets " in error.message


# -- 2. 429 bodies that are not JSON ---------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(
            429,
            text="<html><title>429 Too Many Requests</title></html>",
            headers={"content-type": "text/html"},
        ),
        # Reference 1.2 #6: "Additional text encountered after finished reading JSON content".
        httpx.Response(
            429,
            content=(json.dumps(GATEWAY_429) + json.dumps(GATEWAY_429)).encode(),
            headers={"content-type": "application/vnd.imgur.v1+json"},
        ),
        httpx.Response(429, content=b""),
    ],
    ids=["html", "two-json-documents", "empty"],
)
def test_a_429_whose_body_is_not_json_is_a_rate_limit(
    tmp_path: Path, hermetic_env: dict[str, str], response: httpx.Response
) -> None:
    server = Routes({"POST /imgur/3/image": [response]})
    fake = FakeTime(NOW)
    code, (error,) = _upload(tmp_path, hermetic_env, server, fake, on_limit="fail")
    assert code == ExitCode.RATE_LIMITED
    assert isinstance(error, RateLimitError)
    assert server.count("POST") == 1


def test_the_first_of_two_json_documents_is_read() -> None:
    from uploader.providers.imgur_errors import error_for, read_failure

    body = json.dumps(GATEWAY_429) + '{"errors": []}'
    response = httpx.Response(429, content=body.encode())
    failure = read_failure(response)
    assert failure is not None
    assert (failure.code, failure.message) == (429, "Too Many Requests")
    error = error_for(response, action="upload", now=NOW, rejected_hint="")
    assert isinstance(error, RateLimitError)
    assert error.exit_code == ExitCode.RATE_LIMITED


# -- 3. Imgur's hidden upload throttle -------------------------------------------------------


def test_an_unexplained_upload_429_pauses_only_the_post_side(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    refused = httpx.Response(429, json=GATEWAY_429, headers=FULL_CREDITS)
    server = Routes(
        {
            "POST /imgur/3/image": [refused],
            "GET /imgur/3/image/AbCdEf1": [httpx.Response(200, json=OK)],
        }
    )
    fake = FakeTime(NOW)
    code, (error,) = _upload(tmp_path, hermetic_env, server, fake, on_limit="fail")
    assert code == ExitCode.RATE_LIMITED
    assert server.count("POST") == 1
    assert isinstance(error, RateLimitError)
    assert error.bucket == "post"
    assert error.message.startswith(
        "Imgur POST bucket (per IP) is paused: Imgur's upload throttle refused an upload "
        "with user and client credits left; it resets "
    )
    # A lookup (GET) is not throttled by it: it is sent, and answered.
    runtime = _runtime(hermetic_env, server, fake, [])
    info = lookup.with_provider(
        _config(tmp_path), "im", runtime, LimitPolicy("fail"), lambda p: p.info("AbCdEf1")
    )
    assert info.id == "AbCdEf1"
    assert _gets(server) == 1


def test_a_429_with_a_spent_user_bucket_holds_back_lookups_too(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    headers = {**FULL_CREDITS, "X-RateLimit-UserRemaining": "0"}
    server = Routes(
        {"POST /imgur/3/image": [httpx.Response(429, json=GATEWAY_429, headers=headers)]}
    )
    fake = FakeTime(NOW)
    code, (error,) = _upload(tmp_path, hermetic_env, server, fake, on_limit="fail")
    assert code == ExitCode.RATE_LIMITED
    assert isinstance(error, RateLimitError)
    assert error.bucket == "user"
    runtime = _runtime(hermetic_env, server, fake, [])
    with pytest.raises(RateLimitError, match="Imgur user bucket \\(per IP\\) is spent"):
        lookup.with_provider(
            _config(tmp_path), "im", runtime, LimitPolicy("fail"), lambda p: p.info("AbCdEf1")
        )
    assert _gets(server) == 0


# -- 4. the daily client budget --------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reset"),
    [
        ({}, NOW + 86400),
        (
            {
                "X-RateLimit-ClientLimit": "12500",
                "X-RateLimit-ClientRemaining": "0",
                "X-RateLimit-ClientReset": "50000",
            },
            NOW + 50000,
        ),
    ],
    ids=["no-headers", "with-headers"],
)
def test_daily_client_requests_exceeded_spends_the_client_bucket_until_its_reset(
    tmp_path: Path, hermetic_env: dict[str, str], headers: dict[str, str], reset: float
) -> None:
    server = Routes(
        {"POST /imgur/3/image": [daily_exceeded(headers)], "GET /imgur/3/image/AbCdEf1": []}
    )
    fake = FakeTime(NOW)
    code, (error,) = _upload(tmp_path, hermetic_env, server, fake, max_wait=300)
    assert code == ExitCode.RATE_LIMITED
    assert server.count("POST") == 1  # never again against an exhausted daily budget
    assert fake.sleeps == [0.0]
    assert isinstance(error, RateLimitError)
    assert (error.bucket, error.reset_at) == ("client", reset)
    assert error.message.startswith(
        "Imgur client bucket (per app, daily) is spent (0 of 12500 left; Imgur said "
        f'"Daily client requests exceeded"); it resets {_local(reset)} (in '
    )
    assert error.hint == "a daily budget the server says is exhausted: wait for its reset"
    # Lookups spend client credits too: refused without sending.
    runtime = _runtime(hermetic_env, server, fake, [])
    with pytest.raises(RateLimitError, match="client bucket"):
        lookup.with_provider(
            _config(tmp_path), "im", runtime, LimitPolicy("fail"), lambda p: p.info("AbCdEf1")
        )
    assert [r for r in server.seen if not r.url.path.endswith("/3/credits")] == server.seen[-1:]


def test_user_requests_exceeded_spends_the_user_bucket(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    body = legacy_error("User request limit exceeded", status=429, route=None)
    server = Routes({"POST /imgur/3/image": [httpx.Response(429, json=body)]})
    code, (error,) = _upload(tmp_path, hermetic_env, server, FakeTime(NOW), on_limit="fail")
    assert code == ExitCode.RATE_LIMITED
    assert isinstance(error, RateLimitError)
    assert (error.bucket, error.reset_at) == ("user", NOW + 3600)
    assert server.count("POST") == 1
