"""The OAuth code + PKCE and refresh paths against a real authorization server.

pytest-iam runs Canaille (an OpenID Connect server built on Authlib) on localhost: this
checks our requests against an independent implementation, not only our own sandbox.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from uploader import login as flows
from uploader.config import parse_config
from uploader.errors import AuthError

pytest.importorskip("pytest_iam")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BrowserUI:
    """Records the authorization URL; the test plays the browser."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.ready = threading.Event()

    def show_url(self, url: str) -> None:
        self.urls.append(url)
        self.ready.set()

    def prompt(self, label: str, *, secret: bool = False) -> str:
        raise AssertionError(f"unexpected prompt {label}")


def _client(iam_server: Any, redirect: str) -> Any:
    client = iam_server.models.Client(
        client_id=f"uploader-{_free_port()}",
        client_secret="s3cret",
        client_name="uploader",
        redirect_uris=[redirect],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="client_secret_post",
        scope=flows.MASTODON_SCOPES.split(),
    )
    iam_server.backend.save(client)
    return client


def test_code_flow_with_pkce_against_canaille(iam_server: Any, tmp_path: Path) -> None:
    port = _free_port()
    client = _client(iam_server, f"http://127.0.0.1:{port}/callback")
    user = iam_server.random_user()
    iam_server.login(user)
    iam_server.consent(user, client)
    base = iam_server.url.rstrip("/")
    profile = parse_config(
        f'[providers.x]\nkind = "mastodon"\nbase_url = "{base}"\nredirect_port = {port}\n',
        tmp_path / "c.toml",
    ).profile("x")
    saved: dict[str, Any] = {}
    ui = BrowserUI()
    app = {"client_id": client.client_id, "client_secret": "s3cret"}
    with httpx.Client() as http:
        ctx = flows.LoginContext(
            profile=profile,
            http=http,
            ui=ui,
            secret=lambda _key: None,
            save=lambda **changes: saved.update(changes),
            timeout=30,
            apps=(lambda _base: app, lambda *_a, **_k: None),
        )
        outcome: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: outcome.update(msg=flows.mastodon(ctx)))
        worker.start()
        assert ui.ready.wait(10)
        assert "code_challenge_method=S256" in ui.urls[0]
        answer = httpx.get(ui.urls[0], follow_redirects=True)  # the browser
        worker.join(30)
    assert answer.status_code == 200
    assert outcome["msg"] == f"signed in to {base} (profile 'x')"
    assert saved["access_token"]
    assert saved["token_type"].lower() == "bearer"


def test_refresh_grant_against_canaille(iam_server: Any) -> None:
    client = _client(iam_server, "http://127.0.0.1:1/callback")
    token = iam_server.random_token(subject=iam_server.random_user(), client=client)
    url = iam_server.url + "oauth/token"
    with httpx.Client() as http:
        fresh = flows.refresh_grant(
            http, url, client.client_id, "s3cret", token.refresh_token, provider="Canaille"
        )
        assert fresh["access_token"]
        assert fresh["access_token"] != token.access_token
        with pytest.raises(AuthError) as info:
            flows.refresh_grant(
                http, url, client.client_id, "wrong", token.refresh_token, provider="Canaille"
            )
    assert info.value.exit_code == 3
    assert "Canaille refused to refresh the access token: invalid_client" in info.value.message
