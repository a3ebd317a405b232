"""``uploader auth login``: the OAuth 2 flows of the three providers.

* Imgur (reference 1.9): ``response_type=token`` with the tokens in the redirect's fragment
  (the loopback listener's page posts the fragment back); ``--paste`` uses
  ``response_type=pin`` and the ``pin`` grant. Imgur sends the browser to the callback URL
  registered for the app: register ``http://127.0.0.1:PORT/callback`` and set
  ``redirect_port = PORT`` in the profile (the sandbox accepts any loopback port).
* Gyazo (reference 2.4): authorization code with ``state`` (and ``team``), exchanged at
  ``POST /oauth/token`` with the client secret.
* Mastodon (reference 3.1, 3.2): the app is registered once per instance (loopback and
  out-of-band redirect URIs), then authorization code with ``state`` and PKCE S256;
  ``--paste`` uses ``urn:ietf:wg:oauth:2.0:oob``. A loopback redirect URI is registered
  without a port: RFC 8252 section 7.3 lets the port vary.
Tokens are stored in the credential store, never printed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from uploader.auth.oauth import LoopbackListener, new_state, pkce_pair, redact
from uploader.errors import AuthError, ProviderError, UsageError

if TYPE_CHECKING:
    import httpx

    from uploader.config.settings import Profile

OOB = "urn:ietf:wg:oauth:2.0:oob"
MASTODON_SCOPES = "write:media write:statuses read:accounts"
LOOPBACK_REGISTERED = "http://127.0.0.1/callback"


class LoginUI(Protocol):
    def show_url(self, url: str) -> None: ...

    def prompt(self, label: str, *, secret: bool = False) -> str: ...


@dataclass(frozen=True)
class LoginContext:
    """Everything a flow needs from outside."""

    profile: Profile
    http: httpx.Client
    ui: LoginUI
    secret: Callable[[str], str | None]  # "client_id"/"client_secret" -> value from env/store
    save: Callable[..., None]  # store changes for this profile
    paste: bool = False
    timeout: float = 300.0
    team: str | None = None
    clock: Callable[[], float] = time.time
    apps: Any = None  # (get_app(base_url), set_app(base_url, **fields)) for Mastodon


def _post_oauth(
    http: httpx.Client,
    url: str,
    form: Mapping[str, str],
    *,
    doing: str,
    refused: str,
    hint: str,
    token: bool,
) -> dict[str, Any]:
    """POST an OAuth form and return the JSON answer.

    A network failure is a ProviderError ("<doing>: ..."); a refusal, a body that is not a
    JSON object or (with ``token``) one without an access token is an AuthError
    ("<refused>: <reason>").
    """
    from uploader.http.client import describe_network_error, import_httpx

    httpx_mod = import_httpx()
    try:
        response = http.post(url, data=dict(form), headers={"Accept": "application/json"})
    except httpx_mod.HTTPError as exc:
        raise ProviderError(f"{doing}: {describe_network_error(exc, url)}") from exc
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if (
        response.status_code != 200
        or not isinstance(body, dict)
        or (token and not body.get("access_token"))
    ):
        reason = redact(_oauth_error(body) or f"HTTP {response.status_code}", form)
        raise AuthError(f"{refused}: {reason}", hint=hint)
    return body


def _post_form(ctx: LoginContext, url: str, form: Mapping[str, str], what: str) -> dict[str, Any]:
    return _post_oauth(
        ctx.http,
        url,
        form,
        doing=what,
        refused=f"{what} failed",
        hint="check the client id and secret, then sign in again",
        token=False,
    )


def _oauth_error(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    data = body.get("data")
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    if isinstance(body.get("error"), str):
        described = body.get("error_description")
        return f"{body['error']}" + (f" ({described})" if described else "")
    return None


def _need(ctx: LoginContext, name: str, label: str) -> str:
    value = ctx.secret(name)
    if value:
        return value
    value = ctx.ui.prompt(label, secret=name == "client_secret").strip()
    if not value:
        raise AuthError(f"profile {ctx.profile.name!r}: no {name.replace('_', ' ')} given")
    ctx.save(**{name: value})
    return value


def _redirect(ctx: LoginContext, state: str, url_for: Callable[[str], str]) -> dict[str, str]:
    listener = LoopbackListener(
        state, port=int(ctx.profile.option("redirect_port", 0)), timeout=ctx.timeout
    )
    try:
        ctx.ui.show_url(url_for(listener.redirect_uri))
        return listener.wait()
    finally:
        listener.close()


def imgur(ctx: LoginContext) -> str:
    base = ctx.profile.base_url
    client_id = _need(ctx, "client_id", "Imgur client id")
    client_secret = _need(ctx, "client_secret", "Imgur client secret")
    state = new_state()
    if ctx.paste:
        query = urlencode({"client_id": client_id, "response_type": "pin", "state": state})
        ctx.ui.show_url(f"{base}/oauth2/authorize?{query}")
        pin = ctx.ui.prompt("PIN shown by Imgur").strip()
        tokens: Mapping[str, Any] = _post_form(
            ctx,
            f"{base}/oauth2/token",
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "grant_type": "pin",
                "pin": pin,
            },
            "exchanging the Imgur PIN",
        )
    else:
        tokens = _redirect(
            ctx,
            state,
            lambda redirect: (
                f"{base}/oauth2/authorize?"
                + urlencode(
                    {
                        "client_id": client_id,
                        "response_type": "token",
                        "state": state,
                        "redirect_uri": redirect,
                    }
                )
            ),
        )
    if not tokens.get("access_token"):
        raise AuthError("Imgur's sign-in answer has no access token")
    save_imgur_tokens(ctx.save, tokens, ctx.clock())
    who = tokens.get("account_username") or "an Imgur account"
    return f"signed in to Imgur as {who} (profile {ctx.profile.name!r})"


def save_imgur_tokens(save: Callable[..., None], tokens: Mapping[str, Any], now: float) -> None:
    """Store a token answer; ``expires_in`` becomes an absolute expiry."""
    try:
        expires_at: float | None = now + float(tokens["expires_in"])
    except (KeyError, TypeError, ValueError):
        expires_at = None
    save(
        access_token=str(tokens["access_token"]),
        refresh_token=str(tokens["refresh_token"]) if tokens.get("refresh_token") else None,
        expires_at=expires_at,
        account_username=str(tokens.get("account_username") or "") or None,
        token_type="bearer",  # noqa: S106 - a token type, not a secret
        created_at=now,
    )


def imgur_refresh(
    http: httpx.Client,
    base_url: str,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    *,
    profile: str,
) -> dict[str, Any]:
    """Imgur's ``grant_type=refresh_token`` at ``/oauth2/token`` (reference 1.9)."""
    return refresh_grant(
        http,
        f"{base_url}/oauth2/token",
        client_id,
        client_secret,
        refresh_token,
        provider="Imgur",
        profile=profile,
    )


def refresh_grant(
    http: httpx.Client,
    token_url: str,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    *,
    provider: str,
    profile: str = "NAME",
) -> dict[str, Any]:
    """The standard refresh-token grant (RFC 6749 section 6) with the secret in the form;
    AuthError (exit 3) when the server refuses it, with a hint to sign ``profile`` in."""
    form = {
        "refresh_token": refresh_token,
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "refresh_token",
    }
    return _post_oauth(
        http,
        token_url,
        form,
        doing=f"refreshing the {provider} token",
        refused=f"{provider} refused to refresh the access token",
        hint=f"sign in again: uploader auth login {profile}",
        token=True,
    )


def gyazo(ctx: LoginContext) -> str:
    if ctx.paste:
        raise UsageError(
            "Gyazo has no PIN flow",
            hint="create a personal access token at https://gyazo.com/oauth/applications and "
            "store it with `uploader auth set-token NAME`",
        )
    base = ctx.profile.base_url
    client_id = _need(ctx, "client_id", "Gyazo client id")
    client_secret = _need(ctx, "client_secret", "Gyazo client secret")
    state = new_state()
    redirect_uri = ""

    def url_for(redirect: str) -> str:
        nonlocal redirect_uri
        redirect_uri = redirect
        params = {
            "client_id": client_id,
            "redirect_uri": redirect,
            "response_type": "code",
            "state": state,
        }
        if ctx.team:
            params["team"] = ctx.team
        return f"{base}/oauth/authorize?{urlencode(params)}"

    params = _redirect(ctx, state, url_for)
    tokens = _post_form(
        ctx,
        f"{base}/oauth/token",
        {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "code": params.get("code", ""),
            "grant_type": "authorization_code",
        },
        "exchanging the Gyazo authorization code",
    )
    if not tokens.get("access_token"):
        raise AuthError("Gyazo's token answer has no access token")
    ctx.save(
        access_token=str(tokens["access_token"]),
        token_type="bearer",  # noqa: S106 - a token type, not a secret
        scope=str(tokens.get("scope") or ""),
        created_at=ctx.clock(),
    )
    return f"signed in to Gyazo (profile {ctx.profile.name!r})"


def mastodon(ctx: LoginContext) -> str:
    base = ctx.profile.base_url
    get_app, set_app = ctx.apps
    app = get_app(base)
    if not app or not app.get("client_id") or not app.get("client_secret"):
        registered = _post_form(
            ctx,
            f"{base}/api/v1/apps",
            {
                "client_name": "uploader",
                "redirect_uris": f"{LOOPBACK_REGISTERED}\n{OOB}",
                "scopes": MASTODON_SCOPES,
                "website": "https://github.com/uploader-cli/uploader",
            },
            f"registering uploader with {base}",
        )
        app = {
            "client_id": str(registered.get("client_id", "")),
            "client_secret": str(registered.get("client_secret", "")),
            "scopes": MASTODON_SCOPES,
        }
        set_app(base, **app)
    verifier, challenge = pkce_pair()
    state = new_state()
    redirect_uri = OOB

    def url_for(redirect: str) -> str:
        nonlocal redirect_uri
        redirect_uri = redirect
        return f"{base}/oauth/authorize?" + urlencode(
            {
                "response_type": "code",
                "client_id": app["client_id"],
                "redirect_uri": redirect,
                "scope": MASTODON_SCOPES,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )

    if ctx.paste:
        ctx.ui.show_url(url_for(OOB))
        code = ctx.ui.prompt("authorization code shown by the server").strip()
    else:
        code = _redirect(ctx, state, url_for).get("code", "")
    tokens = _post_form(
        ctx,
        f"{base}/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "code_verifier": verifier,
            "scope": MASTODON_SCOPES,
        },
        "exchanging the Mastodon authorization code",
    )
    if not tokens.get("access_token"):
        raise AuthError("the server's token answer has no access token")
    ctx.save(
        access_token=str(tokens["access_token"]),
        token_type=str(tokens.get("token_type") or "Bearer"),
        scope=str(tokens.get("scope") or ""),
        created_at=ctx.clock(),
    )
    return f"signed in to {base} (profile {ctx.profile.name!r})"


def mastodon_app_token(
    http: httpx.Client, base_url: str, client_id: str, client_secret: str
) -> str:
    """An app-level token (``grant_type=client_credentials``, reference 3.2): for calls that
    need the registered app but no user, such as ``GET /api/v1/apps/verify_credentials``."""
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
        "scope": "read",
    }
    body = _post_oauth(
        http,
        f"{base_url}/oauth/token",
        form,
        doing="getting an app token",
        refused=f"{base_url} refused an app token",
        hint="the app registration may be gone: run `uploader auth login` again",
        token=True,
    )
    return str(body["access_token"])


FLOWS: dict[str, Callable[[LoginContext], str]] = {
    "imgur": imgur,
    "gyazo": gyazo,
    "mastodon": mastodon,
}
