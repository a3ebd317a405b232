"""What a request that never got its answer costs: the session settles (counts as spent)
what may have reached the server and releases (gives back) what surely did not.

The real session and limiter; the transport raises what httpx raises. The POST bucket
starts with 1 credit left, so the next reservation shows which way the credit went.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.limiter import POST, make_limiter
from uploader.errors import NetworkError, RateLimitError
from uploader.http.session import ApiSession
from uploader.models import BucketUpdate
from uploader.ratelimit.limiter import RateLimiter
from uploader.timewords import describe

NOW = 1_785_000_000.0
URL = "http://127.0.0.1:1/imgur/3/image"


def _one_credit_left(tmp_path: Path) -> tuple[RateLimiter, FakeTime]:
    fake = FakeTime(NOW)
    limiter = make_limiter(tmp_path / "ratelimit", fake, POST, on_limit="fail")
    limiter.record([BucketUpdate("post", 1250, 1, NOW + 600)], source="headers")
    return limiter, fake


def _session(limiter: RateLimiter, fails_with: BaseException) -> ApiSession:
    def handler(request: httpx.Request) -> httpx.Response:
        raise fails_with

    http = httpx.Client(transport=httpx.MockTransport(handler))
    return ApiSession(http, limiter, lambda _r: [])


def _post(session: ApiSession) -> Callable[[], httpx.Response]:
    return lambda: session.request("POST", URL, costs={"post": 1})


def _assert_spent(limiter: RateLimiter) -> None:
    """The credit is gone: the bucket shows 0 and the next request is refused."""
    (state,) = limiter.states()
    assert state.remaining == 0
    with pytest.raises(RateLimitError) as refused:
        limiter.acquire({"post": 1})
    reset = describe(NOW + 600, NOW)
    assert refused.value.message == (
        f"Imgur POST bucket (per IP) is spent (0 of 1250 left); it resets {reset}"
    )


def test_ctrl_c_during_a_request_keeps_its_credit_spent(tmp_path: Path) -> None:
    limiter, _ = _one_credit_left(tmp_path)
    session = _session(limiter, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        _post(session)()
    assert session.requests_sent == 1
    _assert_spent(limiter)  # the server may have counted it: no refund


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (httpx.ReadError("boom"), "the connection to 127.0.0.1:1 broke while reading the answer"),
        (httpx.ReadTimeout("slow"), "127.0.0.1:1 did not answer in time (read timeout)"),
        (
            httpx.RemoteProtocolError("cut"),
            "127.0.0.1:1 closed the connection without a full answer",
        ),
    ],
)
def test_a_request_that_may_have_reached_the_server_is_settled_as_spent(
    tmp_path: Path, failure: httpx.HTTPError, message: str
) -> None:
    limiter, _ = _one_credit_left(tmp_path)
    with pytest.raises(NetworkError) as error:
        _post(_session(limiter, failure))()
    assert (error.value.message, error.value.sent) == (message, True)
    _assert_spent(limiter)


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (httpx.ConnectError("refused"), "could not connect to 127.0.0.1:1"),
        (httpx.ConnectTimeout("slow"), "timed out connecting to 127.0.0.1:1 (connect timeout)"),
        (httpx.PoolTimeout("busy"), "no free connection (pool timeout)"),
    ],
)
def test_a_request_that_never_left_is_released_and_counts_as_not_sent(
    tmp_path: Path, failure: httpx.HTTPError, message: str
) -> None:
    limiter, fake = _one_credit_left(tmp_path)
    with pytest.raises(NetworkError) as error:
        _post(_session(limiter, failure))()
    assert (error.value.message, error.value.sent) == (message, False)
    (state,) = limiter.states()
    assert state.remaining == 1  # given back
    limiter.acquire({"post": 1})  # and free to use at once: no reservation left behind
    assert fake.sleeps == []
