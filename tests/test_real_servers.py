"""Real servers (issue 11, section 6): apps the server forgot, proxies, Imgur's closed doors."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

from tests.support.clock import FakeTime
from uploader.auth import flows
from uploader.config.settings import parse_config
from uploader.errors import AuthError
from uploader.http.session import ApiSession
from uploader.providers.mastodon_auth import OAUTH
from uploader.sandbox import Sandbox, SandboxConfig

CHECK = "checking uploader's app"


class Signer:
    """``flows.mastodon`` in paste mode against ``base``: the pasted code is read from the
    server's out-of-band page, as a user would copy it; apps are kept as the store would."""

    def __init__(self, tmp_path: Path, base: str, http: httpx.Client) -> None:
        self.profile = parse_config(
            f'[providers.m]\nkind = "mastodon"\nbase_url = "{base}"\n', tmp_path / "c.toml"
        ).profile("m")
        self.http = http
        self.apps: dict[str, dict[str, object]] = {}
        self.said: list[str] = []
        self.saved: dict[str, object] = {}
        self.shown: list[str] = []

    def ask(self, _label: str, _secret: bool) -> str:
        page = self.http.get(self.shown[-1]).text
        return page.split('value="')[1].split('"')[0] if 'value="' in page else "no-code"

    def login(self) -> str:
        ctx = flows.LoginContext(
            profile=self.profile,
            endpoints=OAUTH,
            session=ApiSession(self.http),
            show_url=self.shown.append,
            ask=self.ask,
            secret=lambda _key: None,
            save=lambda **changes: self.saved.update(changes),
            paste=True,
            apps=(self.apps.get, lambda base, **app: self.apps.__setitem__(base, app)),
            say=self.said.append,
        )
        return flows.mastodon(ctx)

    def logout(self) -> None:
        app = self.apps[self.profile.base_url]
        form = {**app, "token": self.saved["access_token"]}
        form.pop("scopes", None)
        answer = self.http.post(f"{self.profile.base_url}/oauth/revoke", data=form)
        assert answer.status_code == 200


def _registrations(sandbox: Sandbox) -> int:
    return sum(
        1
        for r in sandbox.requests()
        if r["path"] == "/mastodon/api/v1/apps" and r["method"] == "POST"
    )


def _works(http: httpx.Client, base: str, token: object) -> bool:
    check = f"{base}/api/v1/accounts/verify_credentials"
    return http.get(check, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_an_app_deleted_on_revoke_is_registered_again_once(tmp_path: Path) -> None:
    knobs = SandboxConfig(mastodon_delete_app_on_revoke=True, mastodon_tokens=("x",))
    with Sandbox(knobs) as sandbox, httpx.Client() as http:
        base = f"{sandbox.base_url}/mastodon"
        signer = Signer(tmp_path, base, http)
        assert signer.login() == f"signed in to {base} (profile 'm')"
        assert (_registrations(sandbox), signer.said) == (1, [])
        first = signer.apps[base]["client_id"]
        for round_ in (2, 3):  # sign out (the server drops the app), sign in: every time
            signer.logout()
            assert not _works(http, base, signer.saved["access_token"])
            assert signer.login() == f"signed in to {base} (profile 'm')"
            assert _registrations(sandbox) == round_
            assert signer.said[-1] == (
                f"uploader's app is no longer known to {base} (some servers delete it on "
                "sign-out or after a while): registered it again before signing in"
            )
            assert _works(http, base, signer.saved["access_token"])
        assert len(signer.said) == 2
        assert signer.apps[base]["client_id"] != first


def test_an_app_the_server_still_knows_is_kept(tmp_path: Path) -> None:
    with Sandbox(SandboxConfig(mastodon_tokens=("x",))) as sandbox, httpx.Client() as http:
        base = f"{sandbox.base_url}/mastodon"
        signer = Signer(tmp_path, base, http)
        signer.login()
        signer.logout()  # Mastodon keeps the app
        signer.login()
        assert (_registrations(sandbox), signer.said) == (1, [])
        assert _works(http, base, signer.saved["access_token"])
        # The check's app token (client_credentials) was revoked at once.
        checks = [r for r in sandbox.requests() if r["path"] == "/mastodon/oauth/revoke"]
        assert len(checks) == 2  # one by the check, one by the test's logout


def test_a_tokenless_app_forgotten_after_a_day_is_registered_again(tmp_path: Path) -> None:
    fake = FakeTime(1_800_000_000.0)
    knobs = SandboxConfig(mastodon_tokenless_app_lifetime=86400.0, mastodon_tokens=("x",))
    with Sandbox(knobs, clock=fake.clock) as sandbox, httpx.Client() as http:
        base = f"{sandbox.base_url}/mastodon"
        signer = Signer(tmp_path, base, http)
        signer.login()
        signer.logout()  # no valid token left: Mastodon 4.2.0-4.2.8 deletes it a day later
        fake.now += 86399
        signer.login()
        assert _registrations(sandbox) == 1  # still known: kept
        signer.logout()
        fake.now += 86400
        signer.login()
        assert _registrations(sandbox) == 2
        assert "registered it again before signing in" in signer.said[-1]
        assert _works(http, base, signer.saved["access_token"])


def _scripted(exchanges: list[int]) -> tuple[httpx.Client, list[dict[str, str]]]:
    """A server whose app check passes and whose code exchanges answer ``exchanges`` in
    turn (401: invalid_client)."""
    seen: list[dict[str, str]] = []
    left = list(exchanges)

    def handler(request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        seen.append({"path": request.url.path, **form})
        if request.url.path == "/api/v1/apps":
            number = sum(1 for s in seen if s["path"] == "/api/v1/apps")
            return httpx.Response(200, json={"client_id": f"app{number}", "client_secret": "s"})
        if request.url.path == "/oauth/revoke":
            return httpx.Response(200, json={})
        if form.get("grant_type") == "client_credentials":
            return httpx.Response(200, json={"access_token": "app-token", "token_type": "Bearer"})
        if request.url.path == "/oauth/token" and left.pop(0) == 401:
            return httpx.Response(401, json={"error": "invalid_client", "error_description": "x"})
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "user-token", "scope": "read"})
        return httpx.Response(200, text='<input value="code-1">')

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def _exchanges(seen: list[dict[str, str]]) -> list[str]:
    return [s["client_id"] for s in seen if s.get("grant_type") == "authorization_code"]


def test_a_code_exchange_rejecting_the_client_registers_again_and_signs_in(
    tmp_path: Path,
) -> None:
    http, seen = _scripted([401, 200])
    with http:
        signer = Signer(tmp_path, "http://127.0.0.1:9", http)
        signer.apps["http://127.0.0.1:9"] = {"client_id": "app0", "client_secret": "s"}
        assert signer.login() == "signed in to http://127.0.0.1:9 (profile 'm')"
    assert _exchanges(seen) == ["app0", "app1"]
    assert signer.saved["access_token"] == "user-token"
    assert signer.apps["http://127.0.0.1:9"]["client_id"] == "app1"
    assert signer.said == [
        "uploader's app is no longer known to http://127.0.0.1:9 (some servers delete it "
        "on sign-out or after a while): registered it again at the code exchange; sign in again"
    ]
    assert len(signer.shown) == 2  # the user was shown the new app's address


@pytest.mark.parametrize("stored", [True, False])
def test_the_client_is_registered_again_at_most_once(tmp_path: Path, stored: bool) -> None:
    http, seen = _scripted([401, 401, 401])
    with http:
        signer = Signer(tmp_path, "http://127.0.0.1:9", http)
        if stored:
            signer.apps["http://127.0.0.1:9"] = {"client_id": "app0", "client_secret": "s"}
        with pytest.raises(AuthError, match="invalid_client"):
            signer.login()
    assert _exchanges(seen) == (["app0", "app1"] if stored else ["app1"])
    assert sum(1 for s in seen if s["path"] == "/api/v1/apps") == 1
    assert signer.saved == {}
