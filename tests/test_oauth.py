"""The loopback listener, PKCE and the sandbox's Imgur OAuth endpoints."""

from __future__ import annotations

import base64
import hashlib
import threading
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from uploader.errors import AuthError
from uploader.oauth import FRAGMENT_PAGE, LoopbackListener, pkce_pair
from uploader.sandbox import Sandbox, SandboxConfig


def _serve(listener: LoopbackListener) -> tuple[threading.Thread, dict[str, object]]:
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["params"] = listener.wait()
        except AuthError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_code_redirect_with_matching_state_is_accepted_once() -> None:
    listener = LoopbackListener("s1", timeout=10)
    assert listener.redirect_uri.startswith("http://127.0.0.1:")
    thread, outcome = _serve(listener)
    answer = httpx.get(f"{listener.redirect_uri}?code=abc&state=s1")
    thread.join(10)
    assert answer.status_code == 200
    assert outcome["params"] == {"code": "abc", "state": "s1"}
    with pytest.raises(httpx.ConnectError):  # single use: the port is closed
        httpx.get(f"{listener.redirect_uri}?code=again&state=s1")


def test_state_mismatch_is_refused() -> None:
    listener = LoopbackListener("expected", timeout=10)
    thread, outcome = _serve(listener)
    answer = httpx.get(f"{listener.redirect_uri}?code=abc&state=forged")
    thread.join(10)
    assert answer.status_code == 400
    error = outcome["error"]
    assert isinstance(error, AuthError)
    assert "state does not match" in error.message
    assert error.exit_code == 3


def test_fragment_is_posted_back_by_the_page() -> None:
    listener = LoopbackListener("s2", timeout=10)
    thread, outcome = _serve(listener)
    page = httpx.get(listener.redirect_uri)
    assert page.content == FRAGMENT_PAGE
    assert b"location.hash" in page.content
    posted = httpx.post(
        listener.redirect_uri.replace("/callback", "/fragment"),
        content=b"access_token=t0k&state=s2&expires_in=3600",
    )
    thread.join(10)
    assert posted.status_code == 200
    assert outcome["params"] == {"access_token": "t0k", "state": "s2", "expires_in": "3600"}


def test_timeout() -> None:
    listener = LoopbackListener("s3", timeout=0.3)
    with pytest.raises(AuthError, match="timed out after 0 s waiting"):
        listener.wait()


def test_pkce_s256() -> None:
    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert challenge == expected.decode().rstrip("=")


def test_sandbox_imgur_token_flow_pin_refresh_and_expiry() -> None:
    with Sandbox(SandboxConfig(imgur_token_lifetime=0.5)) as sb:
        base = f"{sb.base_url}/imgur"
        redirect = httpx.get(
            f"{base}/oauth2/authorize",
            params={
                "client_id": "app",
                "response_type": "token",
                "state": "xyz",
                "redirect_uri": "http://127.0.0.1:5/callback",
            },
        )
        assert redirect.status_code == 302
        location = urlsplit(redirect.headers["location"])
        assert location.netloc == "127.0.0.1:5"
        tokens = dict(parse_qsl(location.fragment))
        assert tokens["state"] == "xyz"
        assert tokens["account_username"] == "sandbox-user"
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert httpx.get(f"{base}/3/account/me/images", headers=auth).status_code == 200
        token_url = f"{base}/oauth2/token"
        wrong = httpx.post(
            token_url,
            data={
                "client_id": "app",
                "client_secret": "nope",
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
            },
        )
        assert wrong.status_code == 401
        import time

        time.sleep(0.6)
        expired = httpx.get(f"{base}/3/account/me/images", headers=auth)
        assert expired.status_code == 403
        fresh = httpx.post(
            token_url,
            data={
                "client_id": "app",
                "client_secret": "sandbox-secret",
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
            },
        )
        assert fresh.status_code == 200
        assert fresh.json()["refresh_token"] == tokens["refresh_token"]
        page = httpx.get(
            f"{base}/oauth2/authorize",
            params={"client_id": "app", "response_type": "pin", "state": "p"},
        )
        pin = page.text.split('<code id="pin">')[1].split("</code>")[0]
        form = {
            "client_id": "app",
            "client_secret": "sandbox-secret",
            "grant_type": "pin",
            "pin": pin,
        }
        assert httpx.post(token_url, data=form).status_code == 200
        reused = httpx.post(token_url, data=form)
        assert reused.status_code == 400
        assert reused.json()["data"]["error"] == "Invalid grant"
        other = httpx.post(token_url, data={**form, "client_id": "other-app"})
        assert other.status_code == 400
