"""Network failures: each kind says what it was (TLS, refused, DNS, timeout), without
secrets, and TLS failures are not retried. Real sockets only on 127.0.0.1; kinds that would
need the outside world (DNS, certificates) are raised by a MockTransport as httpx does."""

from __future__ import annotations

import random
import socket
import ssl
from collections.abc import Callable

import httpx
import pytest

from tests.support.canned import Canned, canned_server
from tests.support.http import free_port
from uploader.errors import NetworkError, TlsError
from uploader.http.client import Timeouts, build_client
from uploader.http.retry import RetryPolicy, call_with_retries
from uploader.http.session import ApiSession


def _session(transport: httpx.BaseTransport | None = None) -> ApiSession:
    http = build_client(Timeouts(connect=5, read=5, write=5, pool=5), transport=transport)
    return ApiSession(http, None, lambda _r: [])


def _failure(session: ApiSession, url: str) -> NetworkError:
    with pytest.raises(NetworkError) as info:
        session.request("GET", url, costs={})
    assert "\n" not in info.value.message
    return info.value


def test_https_to_a_plain_http_server_is_a_tls_handshake_failure() -> None:
    with canned_server(Canned(200, b"{}")) as (url, recorder):
        port = url.rsplit(":", 1)[1]
        error = _failure(_session(), f"https://127.0.0.1:{port}/imgur/3/image")
    assert isinstance(error, TlsError)
    assert error.message.startswith(f"TLS handshake with 127.0.0.1:{port} failed: ")
    assert "does not speak TLS" in error.message
    assert "https:// needs a server that speaks TLS" in (error.hint or "")
    assert not error.sent
    assert recorder.requests == []  # no HTTP request was ever made


def test_a_tls_failure_is_tried_exactly_once() -> None:
    with canned_server(Canned(200, b"{}")) as (url, _):
        port = url.rsplit(":", 1)[1]
        session = _session()
        calls: list[int] = []
        sleeps: list[float] = []

        def attempt() -> httpx.Response:
            calls.append(1)
            return session.request("GET", f"https://127.0.0.1:{port}/x", costs={})

        with pytest.raises(TlsError):
            call_with_retries(
                attempt, RetryPolicy(attempts=4), sleep=sleeps.append, rng=random.Random(1)
            )
    assert calls == [1]
    assert sleeps == []


def test_connection_refused_says_so_and_is_retried() -> None:
    port = free_port()
    session = _session()
    error = _failure(session, f"http://127.0.0.1:{port}/imgur")
    assert type(error) is NetworkError
    assert error.message == f"connection refused by 127.0.0.1:{port}"
    assert "nothing listens there" in (error.hint or "")
    calls: list[int] = []
    sleeps: list[float] = []

    def attempt() -> httpx.Response:
        calls.append(1)
        return session.request("GET", f"http://127.0.0.1:{port}/imgur", costs={})

    with pytest.raises(NetworkError):
        call_with_retries(attempt, RetryPolicy(attempts=3), sleep=sleeps.append)
    assert len(calls) == 3
    assert len(sleeps) == 2
    assert all(wait > 0 for wait in sleeps)


def _raising(make: Callable[[httpx.Request], Exception]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise make(request)

    return httpx.MockTransport(handler)


def _chained(outer: type[httpx.TransportError], cause: BaseException) -> Callable[..., Exception]:
    def make(request: httpx.Request) -> Exception:
        error = outer(str(cause), request=request)
        error.__cause__ = cause  # what httpx's own transport does (raise ... from exc)
        return error

    return make


def test_name_resolution_failure_says_so() -> None:
    cause = socket.gaierror(-2, "Name or service not known")
    session = _session(_raising(_chained(httpx.ConnectError, cause)))
    error = _failure(session, "https://api.imgur.example/3/image")
    assert type(error) is NetworkError
    assert (
        error.message == "could not resolve the host name of api.imgur.example (DNS lookup failed)"
    )
    assert "DNS" in (error.hint or "")


def test_connect_timeout_says_so() -> None:
    session = _session(_raising(_chained(httpx.ConnectTimeout, TimeoutError("timed out"))))
    error = _failure(session, "https://api.imgur.com:8443/3/image")
    assert error.message == "timed out connecting to api.imgur.com:8443 (connect timeout)"
    assert not error.sent


def test_an_untrusted_certificate_is_named_and_not_retried() -> None:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] failed")
    cause.verify_message = "self-signed certificate"
    session = _session(_raising(_chained(httpx.ConnectError, cause)))
    error = _failure(session, "https://api.imgur.com/3/image")
    assert isinstance(error, TlsError)
    assert error.message == (
        "could not verify the TLS certificate of api.imgur.com: self-signed certificate"
    )
    assert "CA certificates" in (error.hint or "")


def test_no_secret_of_the_url_reaches_the_message() -> None:
    port = free_port()
    url = f"http://user:hunter2-secret@127.0.0.1:{port}/imgur/3/image?access_token=tok-secret"
    error = _failure(_session(), url)
    assert "secret" not in error.message
    assert "secret" not in (error.hint or "")
    assert error.message == f"connection refused by 127.0.0.1:{port}"
