"""``uploader auth login``, and the server side of ``auth status`` and ``auth logout``.

The flows live in :mod:`uploader.auth.flows`, each provider's endpoints in its
``uploader.providers.<kind>_auth`` module; this module connects them to the config, the
credential store, the browser and the terminal. Every request goes through an
:class:`~uploader.http.session.ApiSession`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from uploader.auth import credentials, flows
from uploader.auth.tokens import account_name, revoke_token
from uploader.commands.runtime import Runtime, open_provider
from uploader.config.settings import Config
from uploader.errors import UsageError
from uploader.http.client import Timeouts, build_client
from uploader.http.session import ApiSession
from uploader.ratelimit.limiter import LimitPolicy

if TYPE_CHECKING:
    from uploader.auth.oauth import Endpoints
    from uploader.config.settings import Profile


def has_display(env: Mapping[str, str]) -> bool:
    return sys.platform == "darwin" or bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def endpoints(kind: str) -> Endpoints | None:
    """The account endpoints of a provider kind; None for a kind without sign-in."""
    # start-up: each loads its whole provider; `auth status --offline` and --help need none
    from uploader.providers import gyazo_auth, imgur_auth, mastodon_auth

    by_kind = {
        "imgur": imgur_auth.OAUTH,
        "gyazo": gyazo_auth.OAUTH,
        "mastodon": mastodon_auth.OAUTH,
    }
    return by_kind.get(kind)


def login(
    config: Config,
    name: str | None,
    env: Mapping[str, str],
    *,
    say: Callable[[str], None],
    ask: Callable[[str, bool], str],
    open_browser: bool,
    paste: bool,
    timeout: float,
    team: str | None = None,
) -> str:
    """Sign the profile ``name`` (None: the default one) in; returns the line to print.

    ``say`` shows a line to the user, ``ask(label, secret)`` reads an answer; the address
    to sign in at is shown, and opened in a browser when ``open_browser``.
    """
    profile = config.profile(name)
    flow = flows.FLOWS.get(profile.kind)
    where = endpoints(profile.kind)
    if flow is None or where is None:
        raise UsageError(f"profile {profile.name!r}: {profile.kind} has no sign-in flow")
    store = credentials.store_for(env)

    def secret(key: str) -> str | None:
        if key == "client_id" and profile.client_id:
            return profile.client_id
        found = credentials.resolve_secret(profile, key, env)
        return found[0] if found else None

    def save(**changes: Any) -> None:
        store.update(profile.name, **{k: v for k, v in changes.items() if v is not None})

    def show_url(url: str) -> None:
        say(f"open this address to sign in:\n{url}")
        if open_browser:
            import webbrowser  # start-up: only a browser sign-in needs it, not `auth status`

            try:
                webbrowser.open(url, new=2)
            except webbrowser.Error:
                say("(could not open a browser; open the address yourself)")

    tls = profile.base_url.startswith("https://")
    with build_client(Timeouts(), tls=tls) as http:
        context = flows.LoginContext(
            profile=profile,
            endpoints=where,
            session=ApiSession(http),  # sign-in requests are in no rate bucket
            show_url=show_url,
            ask=ask,
            secret=secret,
            save=save,
            paste=paste,
            timeout=timeout,
            team=team,
            apps=(store.get_app, store.set_app),
            say=say,
        )
        return flow(context)


def verify(config: Config, profile: Profile, env: Mapping[str, str]) -> str:
    """Ask the provider who the token belongs to; raises UploaderError when refused."""
    where = endpoints(profile.kind)
    if where is None:
        raise UsageError(f"{profile.kind} has no token check")
    _, provider, http = open_provider(
        config, profile.name, Runtime(env=dict(env)), policy=LimitPolicy("fail", 0.0)
    )
    with http:
        name = account_name(
            provider.session,
            profile,
            where,
            provider.credential.authorization(),
            provider.display_name,
        )
    return f"verified: signed in as {name}"


def revoke(config: Config, profile: Profile, token: str, env: Mapping[str, str]) -> str:
    """Revoke a token on the server where the provider can (Mastodon)."""
    where = endpoints(profile.kind)
    if where is None or not where.revoke:
        return f"{profile.kind} has no token revocation; the token stays valid until it expires"
    app = credentials.store_for(env).get_app(profile.base_url) or {}
    with build_client(Timeouts(), tls=profile.base_url.startswith("https://")) as http:
        revoke_token(
            ApiSession(http),  # in no rate bucket
            profile.base_url + where.revoke,
            str(app.get("client_id", "")),
            str(app.get("client_secret", "")),
            token,
            who=profile.base_url,
        )
    return f"revoked the token on {profile.base_url}"
