"""The OAuth code + PKCE and refresh paths against a real authorization server.

pytest-iam runs Canaille (an OpenID Connect server built on Authlib): this checks our
requests against an independent implementation, not only our own sandbox. pytest-iam binds
its server to the name ``localhost`` (hard-coded in ``pytest_iam.Server``), which is the
IPv4 loopback; these tests reach it only as ``127.0.0.1`` and tell Canaille that is its
name (``SERVER_NAME``), so every URL it builds is a literal loopback address too.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.support.http import free_port
from uploader.auth import flows, tokens
from uploader.config.settings import parse_config
from uploader.errors import AuthError
from uploader.http.session import ApiSession
from uploader.providers.mastodon_auth import OAUTH

pytest.importorskip("pytest_iam")

SECRET = "fake-canaille-secret"


@pytest.fixture(scope="session")
def iam_configuration(iam_configuration: dict[str, Any], iam_server_port: int) -> dict[str, Any]:
    """pytest-iam's configuration, with Canaille named by its literal loopback address."""
    return {**iam_configuration, "SERVER_NAME": f"127.0.0.1:{iam_server_port}"}


def _base(iam_server: Any) -> str:
    return f"http://127.0.0.1:{iam_server.port}"


class BrowserUI:
    """Records the authorization URL; the test plays the browser."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.ready = threading.Event()

    def show_url(self, url: str) -> None:
        self.urls.append(url)
        self.ready.set()

    def ask(self, label: str, secret: bool) -> str:
        raise AssertionError(f"unexpected prompt {label}")


def _client(iam_server: Any, redirect: str) -> Any:
    client = iam_server.models.Client(
        client_id=f"uploader-{free_port()}",
        client_secret=SECRET,
        client_name="uploader",
        redirect_uris=[redirect],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="client_secret_post",
        scope=flows.MASTODON_SCOPES.split(),
    )
    iam_server.backend.save(client)
    client.audience = [client]  # lets the client introspect its tokens (saved first: an id)
    iam_server.backend.save(client)
    return client


class Recorder:
    """httpx event hooks keeping every request body and every JSON answer."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, str]]] = []
        self.answers: list[tuple[str, Any]] = []

    def request(self, request: httpx.Request) -> None:
        assert request.url.host == "127.0.0.1"  # literal loopback only
        self.sent.append((request.url.path, dict(parse_qsl(request.content.decode()))))

    def response(self, response: httpx.Response) -> None:
        response.read()
        try:
            body = response.json()
        except ValueError:
            body = None  # e.g. the revocation's empty answer
        self.answers.append((response.request.url.path, body))


def _sign_in(
    iam_server: Any, tmp_path: Path, client: Any, port: int, recorder: Recorder
) -> tuple[dict[str, Any], dict[str, Any], BrowserUI]:
    """Run our Mastodon flow against Canaille, playing the browser; returns (what the flow
    saved or raised, the browser's last answer, the UI)."""
    profile = parse_config(
        f'[providers.x]\nkind = "mastodon"\nbase_url = "{_base(iam_server)}"\n'
        f"redirect_port = {port}\n",
        tmp_path / "c.toml",
    ).profile("x")
    saved: dict[str, Any] = {}
    ui = BrowserUI()
    app = {"client_id": client.client_id, "client_secret": SECRET}
    hooks = {"request": [recorder.request], "response": [recorder.response]}
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["msg"] = flows.mastodon(ctx)
        except AuthError as exc:
            outcome["error"] = exc

    with httpx.Client(event_hooks=hooks) as http:
        ctx = flows.LoginContext(
            profile=profile,
            endpoints=OAUTH,
            session=ApiSession(http),
            show_url=ui.show_url,
            ask=ui.ask,
            secret=lambda _key: None,
            save=lambda **changes: saved.update(changes),
            timeout=30,
            apps=(lambda _base: app, lambda *_a, **_k: None),
        )
        worker = threading.Thread(target=run)
        worker.start()
        assert ui.ready.wait(10)
        assert urlsplit(ui.urls[0]).hostname == "127.0.0.1"
        answer = httpx.get(ui.urls[0], follow_redirects=True)  # the browser
        worker.join(30)
        assert not worker.is_alive()
    return {**outcome, "saved": saved}, {"status": answer.status_code}, ui


def test_code_flow_with_pkce_against_canaille(iam_server: Any, tmp_path: Path) -> None:
    port = free_port()
    client = _client(iam_server, f"http://127.0.0.1:{port}/callback")
    user = iam_server.random_user()
    iam_server.login(user)
    iam_server.consent(user, client)
    recorder = Recorder()
    outcome, browser, ui = _sign_in(iam_server, tmp_path, client, port, recorder)
    assert browser["status"] == 200
    base = _base(iam_server)
    assert outcome.get("msg") == f"signed in to {base} (profile 'x')", outcome
    # PKCE: the verifier went with the code exchange and matches the challenge we sent.
    query = dict(parse_qsl(urlsplit(ui.urls[0]).query))
    assert query["code_challenge_method"] == "S256"
    # The stored app is checked first (client_credentials, its token revoked at once).
    check, *_, (path, form) = recorder.sent
    assert check[1]["grant_type"] == "client_credentials"
    assert path == "/oauth/token"
    assert form["grant_type"] == "authorization_code"
    digest = hashlib.sha256(form["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).decode().rstrip("=") == query["code_challenge"]
    # What was saved is exactly what Canaille issued, and Canaille says it is live.
    *_, (_, issued) = recorder.answers
    saved = outcome["saved"]
    assert saved["access_token"] == issued["access_token"]
    assert saved["token_type"].lower() == "bearer"
    introspected = httpx.post(
        f"{base}/oauth/introspect",
        data={"token": saved["access_token"]},
        auth=(client.client_id, SECRET),  # Canaille's introspection takes Basic only
    ).json()
    assert introspected["active"] is True
    assert introspected["client_id"] == client.client_id
    assert introspected["sub"] == user.user_name
    assert set(flows.MASTODON_SCOPES.split()) <= set(introspected["scope"].split())


def test_canaille_refuses_our_exchange_without_the_right_verifier(
    iam_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Shows the server really checks PKCE, so the test above proves our verifier is right.
    port = free_port()
    client = _client(iam_server, f"http://127.0.0.1:{port}/callback")
    user = iam_server.random_user()
    iam_server.login(user)
    iam_server.consent(user, client)
    real = flows.pkce_pair
    monkeypatch.setattr(flows, "pkce_pair", lambda: (real()[0], real()[1]))  # mismatched
    recorder = Recorder()
    outcome, _, _ = _sign_in(iam_server, tmp_path, client, port, recorder)
    error = outcome.get("error")
    assert isinstance(error, AuthError), outcome
    assert error.message == (
        "exchanging the Mastodon authorization code failed: invalid_grant (Code challenge failed.)"
    )
    assert outcome["saved"] == {}


def test_refresh_grant_against_canaille(iam_server: Any) -> None:
    client = _client(iam_server, "http://127.0.0.1:1/callback")
    token = iam_server.random_token(subject=iam_server.random_user(), client=client)
    url = f"{_base(iam_server)}/oauth/token"
    with httpx.Client() as http:
        fresh = tokens.refresh_grant(
            ApiSession(http),
            url,
            client.client_id,
            SECRET,
            token.refresh_token,
            provider="Canaille",
        )
        assert fresh["access_token"]
        assert fresh["access_token"] != token.access_token
        with pytest.raises(AuthError) as info:
            tokens.refresh_grant(
                ApiSession(http),
                url,
                client.client_id,
                "wrong",
                token.refresh_token,
                provider="Canaille",
            )
    assert info.value.exit_code == 3
    assert "Canaille refused to refresh the access token: invalid_client" in info.value.message
