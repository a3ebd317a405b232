"""``uploader auth login``: run a provider's sign-in flow and keep the tokens.

The flow itself lives in :mod:`uploader.auth.flows`; this module connects it to the config,
the credential store, the browser and the terminal.
"""

from __future__ import annotations

import sys
import webbrowser
from collections.abc import Callable, Mapping
from typing import Any

from uploader.config import paths
from uploader.config.settings import Config
from uploader.errors import UsageError


class TerminalUI:
    """Shows the authorization URL (and opens the browser unless told not to)."""

    def __init__(
        self, *, open_browser: bool, say: Callable[[str], None], ask: Callable[[str, bool], str]
    ) -> None:
        self.open_browser = open_browser
        self.say = say
        self.ask = ask

    def show_url(self, url: str) -> None:
        self.say(f"open this address to sign in:\n{url}")
        if self.open_browser:
            try:
                webbrowser.open(url, new=2)
            except webbrowser.Error:
                self.say("(could not open a browser; open the address yourself)")

    def prompt(self, label: str, *, secret: bool = False) -> str:
        return self.ask(label, secret)


def has_display(env: Mapping[str, str]) -> bool:
    return sys.platform == "darwin" or bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def login(
    config: Config,
    name: str,
    env: Mapping[str, str],
    ui: Any,
    *,
    paste: bool,
    timeout: float,
    team: str | None = None,
) -> str:
    """Sign the profile ``name`` in; returns the line to print."""
    from uploader.auth import credentials, flows
    from uploader.http.client import Timeouts, build_client

    profile = config.profile(name)
    flow = flows.FLOWS.get(profile.kind)
    if flow is None:
        raise UsageError(f"profile {name!r}: {profile.kind} has no sign-in flow")
    store = credentials.CredentialStore(paths.config_dir(env) / "credentials.toml")

    def secret(key: str) -> str | None:
        if key == "client_id" and profile.client_id:
            return profile.client_id
        found = credentials.resolve_secret(profile, key, env)
        return found[0] if found else None

    def save(**changes: Any) -> None:
        store.update(profile.name, **{k: v for k, v in changes.items() if v is not None})

    tls = profile.base_url.startswith("https://")
    with build_client(Timeouts(), tls=tls) as http:
        context = flows.LoginContext(
            profile=profile,
            http=http,
            ui=ui,
            secret=secret,
            save=save,
            paste=paste,
            timeout=timeout,
            team=team,
            apps=(store.get_app, store.set_app),
        )
        return flow(context)


# A cheap authenticated call per kind, and where the account name is in its answer.
WHOAMI: dict[str, tuple[str, tuple[str, ...]]] = {
    "imgur": ("/3/account/me", ("data", "url")),
    "gyazo": ("/api/users/me", ("user", "name")),
    "mastodon": ("/api/v1/accounts/verify_credentials", ("acct",)),
}


def verify(config: Config, profile: Any, env: Mapping[str, str]) -> str:
    """Ask the provider who the token belongs to; raises UploaderError when refused."""
    import json

    from uploader.commands.runtime import Runtime, open_provider
    from uploader.errors import AuthError, ProviderError
    from uploader.ratelimit.limiter import LimitPolicy

    path, keys = WHOAMI[profile.kind]
    _, provider, http = open_provider(
        config, profile.name, Runtime(env=dict(env)), policy=LimitPolicy("fail", 0.0)
    )
    with http:
        response = provider.session.request(
            "GET",
            profile.base_url + path,
            costs={"user": 1, "client": 1, "api": 1, "daily": 1},
            headers={
                "Authorization": provider.credential.authorization(),
                "Accept": "application/json",
            },
        )
    if response.status_code in (401, 403):
        raise AuthError(
            f"the token was rejected (HTTP {response.status_code})",
            hint=f"sign in again: uploader auth login {profile.name}",
        )
    try:
        found: Any = json.loads(response.content)
        for key in keys:
            found = found[key]
    except (ValueError, KeyError, TypeError):
        raise ProviderError(
            f"unexpected answer from {path} (HTTP {response.status_code})"
        ) from None
    return f"verified: signed in as {found}"


def revoke(config: Config, profile: Any, token: str, env: Mapping[str, str]) -> str:
    """Revoke a token on the server where the provider supports it (Mastodon)."""
    from uploader.auth import credentials
    from uploader.errors import ProviderError
    from uploader.http.client import Timeouts, build_client

    if profile.kind != "mastodon":
        return f"{profile.kind} has no token revocation; the token stays valid until it expires"
    store = credentials.CredentialStore(paths.config_dir(env) / "credentials.toml")
    app = store.get_app(profile.base_url) or {}
    with build_client(Timeouts(), tls=profile.base_url.startswith("https://")) as http:
        response = http.post(
            f"{profile.base_url}/oauth/revoke",
            data={
                "client_id": app.get("client_id", ""),
                "client_secret": app.get("client_secret", ""),
                "token": token,
            },
        )
    if response.status_code != 200:
        raise ProviderError(
            f"{profile.base_url} refused to revoke the token (HTTP {response.status_code})"
        )
    return f"revoked the token on {profile.base_url}"
