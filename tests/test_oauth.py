"""The loopback listener, PKCE and the sandbox's Imgur OAuth endpoints."""

from __future__ import annotations

import base64
import hashlib
import threading
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.support.clock import FakeTime
from uploader.auth.oauth import FRAGMENT_PAGE, LoopbackListener, pkce_pair
from uploader.errors import AuthError
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
    assert not thread.is_alive()
    assert answer.status_code == 200
    assert outcome["params"] == {"code": "abc", "state": "s1"}
    with pytest.raises(httpx.ConnectError):  # single use: the port is closed
        httpx.get(f"{listener.redirect_uri}?code=again&state=s1")


def test_state_mismatch_is_refused() -> None:
    listener = LoopbackListener("expected", timeout=10)
    thread, outcome = _serve(listener)
    answer = httpx.get(f"{listener.redirect_uri}?code=abc&state=forged")
    thread.join(10)
    assert not thread.is_alive()
    assert "params" not in outcome
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
    assert not thread.is_alive()
    assert posted.status_code == 200
    assert outcome["params"] == {"access_token": "t0k", "state": "s2", "expires_in": "3600"}


def test_timeout_is_counted_on_the_given_clock() -> None:
    listener = LoopbackListener("s3", timeout=300)
    ticks = iter([1000.0, 1301.0])  # start, then the first check: past the deadline
    with pytest.raises(AuthError) as info:
        listener.wait(clock=lambda: next(ticks))
    assert info.value.message == "timed out after 300 s waiting for the sign-in redirect"
    assert info.value.hint == "run `uploader auth login` again, or use --paste"
    with pytest.raises(httpx.ConnectError):  # the port was closed
        httpx.get(f"{listener.redirect_uri}?code=late&state=s3")


def test_a_refusal_on_the_redirect_is_an_auth_error() -> None:
    listener = LoopbackListener("s4", timeout=10)
    thread, outcome = _serve(listener)
    answer = httpx.get(
        f"{listener.redirect_uri}?error=access_denied&error_description=User+said+no&state=s4"
    )
    thread.join(10)
    assert not thread.is_alive()
    assert answer.status_code == 400
    error = outcome["error"]
    assert isinstance(error, AuthError)
    assert error.message == "the provider refused the sign-in: access_denied (User said no)"


def test_pkce_s256() -> None:
    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert challenge == expected.decode().rstrip("=")


def _imgur_authorize(base: str) -> dict[str, str]:
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
    return dict(parse_qsl(location.fragment))


SANDBOX_SECRET = "sandbox-secret"


def _refresh_form(refresh_token: str, secret: str = SANDBOX_SECRET) -> dict[str, str]:
    return {
        "client_id": "app",
        "client_secret": secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }


def test_sandbox_imgur_token_flow_pin_and_refresh() -> None:
    # Tokens live an hour here: nothing in this test depends on how fast it runs.
    with Sandbox() as sb:
        base = f"{sb.base_url}/imgur"
        tokens = _imgur_authorize(base)
        assert tokens["state"] == "xyz"
        assert tokens["account_username"] == "sandbox-user"
        assert tokens["expires_in"] == "3600"
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert httpx.get(f"{base}/3/account/me/images", headers=auth).status_code == 200
        token_url = f"{base}/oauth2/token"
        wrong = httpx.post(token_url, data=_refresh_form(tokens["refresh_token"], "nope"))
        assert wrong.status_code == 401
        assert wrong.json()["data"]["error"] == "Invalid client_secret"
        unknown = httpx.post(token_url, data=_refresh_form("fake-unknown-refresh"))
        assert unknown.status_code == 400
        fresh = httpx.post(token_url, data=_refresh_form(tokens["refresh_token"]))
        assert fresh.status_code == 200
        body = fresh.json()
        assert body["refresh_token"] == tokens["refresh_token"]  # refresh tokens last
        assert body["access_token"] != tokens["access_token"]
        new_auth = {"Authorization": f"Bearer {body['access_token']}"}
        assert httpx.get(f"{base}/3/account/me/images", headers=new_auth).status_code == 200
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
        from_pin = httpx.post(token_url, data=form)
        assert from_pin.status_code == 200
        pin_auth = {"Authorization": f"Bearer {from_pin.json()['access_token']}"}
        assert httpx.get(f"{base}/3/account/me/images", headers=pin_auth).status_code == 200
        reused = httpx.post(token_url, data=form)
        assert reused.status_code == 400
        assert reused.json()["data"]["error"] == "Invalid grant"
        page = httpx.get(
            f"{base}/oauth2/authorize",
            params={"client_id": "app", "response_type": "pin", "state": "q"},
        )
        other_pin = page.text.split('<code id="pin">')[1].split("</code>")[0]
        other = httpx.post(token_url, data={**form, "pin": other_pin, "client_id": "other-app"})
        assert other.status_code == 400  # a PIN is bound to the app it was issued to
        assert other.json()["data"]["error"] == "Invalid grant"


def test_sandbox_imgur_token_expiry_and_refresh_after_it() -> None:
    # The sandbox's clock is moved by hand: valid until its lifetime is over, then expired.
    clock = FakeTime(1_700_000_000.0)
    with Sandbox(SandboxConfig(imgur_token_lifetime=60.0), clock=clock) as sb:
        base = f"{sb.base_url}/imgur"
        tokens = _imgur_authorize(base)
        assert tokens["expires_in"] == "60"
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        me = f"{base}/3/account/me/images"
        clock.now += 59
        assert httpx.get(me, headers=auth).status_code == 200
        clock.now += 1
        expired = httpx.get(me, headers=auth)
        assert expired.status_code == 403
        assert expired.json()["data"]["error"] == "Unauthorized"
        fresh = httpx.post(f"{base}/oauth2/token", data=_refresh_form(tokens["refresh_token"]))
        assert fresh.status_code == 200  # refresh tokens never expire (reference 1.9)
        assert fresh.json()["refresh_token"] == tokens["refresh_token"]
        assert fresh.json()["access_token"] != tokens["access_token"]


def _echoing_server(status: int, seen: list[dict[str, str]]) -> httpx.Client:
    """A token endpoint that quotes every form value back in its error text, as some
    careless servers do."""

    def handler(request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        seen.append(form)
        quoted = " ".join(f"{k}={v}" for k, v in form.items())
        return httpx.Response(
            status, json={"error": "invalid_grant", "error_description": f"rejected {quoted}"}
        )

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_a_refusal_quoting_the_request_does_not_leak_its_secrets() -> None:
    from uploader.auth.tokens import refresh_grant
    from uploader.http.session import ApiSession

    seen: list[dict[str, str]] = []
    with _echoing_server(400, seen) as http, pytest.raises(AuthError) as info:
        refresh_grant(
            ApiSession(http),
            "http://127.0.0.1:9/oauth/token",
            "fake-client",
            "fake-client-secret",
            "fake-refresh-token",
            provider="Test",
        )
    assert seen[0]["refresh_token"] == "fake-refresh-token"  # it was sent, and echoed
    message = info.value.message
    assert message.startswith("Test refused to refresh the access token: invalid_grant (")
    assert "client_id=fake-client" in message  # not a secret: kept
    assert "fake-client-secret" not in message
    assert "fake-refresh-token" not in message
    assert "client_secret=****" in message


def test_a_mastodon_exchange_refusal_hides_code_verifier_and_secret(tmp_path: Path) -> None:
    from uploader.auth import flows
    from uploader.config.settings import parse_config
    from uploader.http.session import ApiSession
    from uploader.providers.mastodon_auth import OAUTH

    profile = parse_config(
        '[providers.m]\nkind = "mastodon"\nbase_url = "http://127.0.0.1:9"\n',
        tmp_path / "c.toml",
    ).profile("m")
    shown: list[str] = []
    app = {"client_id": "fake-app", "client_secret": "fake-app-secret"}
    seen: list[dict[str, str]] = []
    saved: dict[str, object] = {}
    with _echoing_server(400, seen) as http:
        ctx = flows.LoginContext(
            profile=profile,
            endpoints=OAUTH,
            session=ApiSession(http),
            show_url=shown.append,
            ask=lambda _label, _secret: "fake-auth-code-1234",
            secret=lambda _key: None,
            save=lambda **changes: saved.update(changes),
            paste=True,
            apps=(lambda _base: app, lambda *_a, **_k: None),
        )
        with pytest.raises(AuthError) as info:
            flows.mastodon(ctx)
    check, form = seen  # the stored app is checked first (client_credentials), then the code
    assert check["grant_type"] == "client_credentials"
    assert form["grant_type"] == "authorization_code"
    verifier = form["code_verifier"]
    assert len(verifier) >= 43
    assert form["code"] == "fake-auth-code-1234"
    assert form["redirect_uri"] == flows.OOB
    challenge = dict(parse_qsl(urlsplit(shown[0]).query))["code_challenge"]
    digest = hashlib.sha256(verifier.encode()).digest()
    assert base64.urlsafe_b64encode(digest).decode().rstrip("=") == challenge
    message = info.value.message
    assert message.startswith("exchanging the Mastodon authorization code failed: invalid_grant")
    for secret in (verifier, "fake-auth-code-1234", "fake-app-secret"):
        assert secret not in message
        assert secret not in (info.value.hint or "")
    assert verifier not in shown[0]
    assert saved == {}  # nothing stored after a refusal
