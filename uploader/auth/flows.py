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
Where each provider's endpoints are comes from ``uploader.providers`` (``ctx.endpoints``);
every request goes through ``ctx.session`` (the one HTTP boundary, without a rate limiter:
sign-in requests are in no rate bucket). Tokens are stored in the credential store, never
printed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from uploader.auth.oauth import Endpoints, LoopbackListener, new_state, pkce_pair
from uploader.auth.tokens import access_token_of, lifetime, post_oauth, revoke_token, token_text
from uploader.errors import AuthError, UploaderError, UsageError

if TYPE_CHECKING:
    from uploader.config.settings import Profile
    from uploader.http.session import ApiSession

OOB = "urn:ietf:wg:oauth:2.0:oob"
MASTODON_SCOPES = "write:media write:statuses read:accounts"
LOOPBACK_REGISTERED = "http://127.0.0.1/callback"


@dataclass(frozen=True)
class LoginContext:
    """Everything a flow needs from outside."""

    profile: Profile
    endpoints: Endpoints  # the provider's, from uploader.providers
    session: ApiSession
    show_url: Callable[[str], None]  # show (and maybe open) the address to sign in at
    ask: Callable[[str, bool], str]  # (label, secret) -> what the user typed
    secret: Callable[[str], str | None]  # "client_id"/"client_secret" -> value from env/store
    save: Callable[..., None]  # store changes for this profile
    # (get_app(base_url), set_app(base_url, **fields)): the apps registered per server
    apps: tuple[Callable[[str], dict[str, Any] | None], Callable[..., None]]
    paste: bool = False
    timeout: float = 300.0
    team: str | None = None
    clock: Callable[[], float] = time.time
    say: Callable[[str], None] = lambda _message: None  # a notice for the user (stderr)

    def url(self, path: str) -> str:
        return self.profile.base_url + path


def _post_form(
    ctx: LoginContext, url: str, form: Mapping[str, str], what: str, *, provider: str, action: str
) -> dict[str, Any]:
    return post_oauth(
        ctx.session,
        url,
        form,
        provider=provider,
        action=action,
        refused=f"{what} failed",
        hint="check the client id and secret, then sign in again",
        token=False,
    )


def _need(ctx: LoginContext, name: str, label: str) -> str:
    value = ctx.secret(name)
    if value:
        return value
    value = ctx.ask(label, name == "client_secret").strip()
    if not value:
        raise AuthError(f"profile {ctx.profile.name!r}: no {name.replace('_', ' ')} given")
    ctx.save(**{name: value})
    return value


def _redirect(ctx: LoginContext, state: str, url_for: Callable[[str], str]) -> dict[str, str]:
    listener = LoopbackListener(
        state, port=int(ctx.profile.option("redirect_port", 0)), timeout=ctx.timeout
    )
    try:
        ctx.show_url(url_for(listener.redirect_uri))
        return listener.wait()
    finally:
        listener.close()


def imgur(ctx: LoginContext) -> str:
    client_id = _need(ctx, "client_id", "Imgur client id")
    client_secret = _need(ctx, "client_secret", "Imgur client secret")
    state = new_state()
    if ctx.paste:
        query = urlencode({"client_id": client_id, "response_type": "pin", "state": state})
        ctx.show_url(_checked_page(ctx, f"{ctx.url(ctx.endpoints.authorize)}?{query}"))
        pin = ctx.ask("PIN shown by Imgur", False).strip()
        tokens: Mapping[str, Any] = _post_form(
            ctx,
            ctx.url(ctx.endpoints.token),
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "grant_type": "pin",
                "pin": pin,
            },
            "exchanging the Imgur PIN",
            provider="Imgur",
            action="PIN exchange",
        )
    else:
        tokens = _redirect(
            ctx,
            state,
            lambda redirect: _checked_page(
                ctx,
                f"{ctx.url(ctx.endpoints.authorize)}?"
                + urlencode(
                    {
                        "client_id": client_id,
                        "response_type": "token",
                        "state": state,
                        "redirect_uri": redirect,
                    }
                ),
            ),
        )
    if not tokens.get("access_token"):
        raise AuthError("Imgur's sign-in answer has no access token")
    save_imgur_tokens(ctx.save, tokens, ctx.clock())
    who = tokens.get("account_username") or "an Imgur account"
    return f"signed in to Imgur as {who} (profile {ctx.profile.name!r})"


def _checked_page(ctx: LoginContext, url: str) -> str:
    """``url``, after a GET of it showed no known dead end (``Endpoints.page_check``):
    Imgur's "Error (1024)" page or its region block raise their own error instead of
    leaving the user before a page that never comes back. No answer: the browser tells."""
    check = ctx.endpoints.page_check
    if check is None:
        return url
    try:
        response = ctx.session.request("GET", url, headers={"Accept": "text/html"})
    except UploaderError:
        return url
    error = check(response)
    if error is not None:
        raise error
    return url


def save_imgur_tokens(save: Callable[..., None], tokens: Mapping[str, Any], now: float) -> None:
    """Store a token answer; ``expires_in`` becomes an absolute expiry."""
    access = token_text(tokens.get("access_token"))
    if access is None:
        raise AuthError("Imgur's sign-in answer has no access token")
    seconds = lifetime(tokens.get("expires_in"))
    save(
        access_token=access,
        refresh_token=token_text(tokens.get("refresh_token")),
        expires_at=None if seconds is None else now + seconds,
        account_username=str(tokens.get("account_username") or "") or None,
        token_type="bearer",  # noqa: S106 - a token type, not a secret
        created_at=now,
    )


def gyazo(ctx: LoginContext) -> str:
    if ctx.paste:
        raise UsageError(
            "Gyazo has no PIN flow",
            hint="create a personal access token at https://gyazo.com/oauth/applications and "
            "store it with `uploader auth set-token NAME`",
        )
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
        return f"{ctx.url(ctx.endpoints.authorize)}?{urlencode(params)}"

    params = _redirect(ctx, state, url_for)
    tokens = _post_form(
        ctx,
        ctx.url(ctx.endpoints.token),
        {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "code": params.get("code", ""),
            "grant_type": "authorization_code",
        },
        "exchanging the Gyazo authorization code",
        provider="Gyazo",
        action="code exchange",
    )
    ctx.save(
        access_token=access_token_of(tokens, "Gyazo's token answer"),
        token_type="bearer",  # noqa: S106 - a token type, not a secret
        scope=str(tokens.get("scope") or ""),
        created_at=ctx.clock(),
    )
    return f"signed in to Gyazo (profile {ctx.profile.name!r})"


def mastodon(ctx: LoginContext) -> str:
    """Register the app once per server, then the code flow with PKCE.

    Some servers delete the registered app: snac2 on sign-out, Mastodon 4.2.0 to 4.2.8
    a day after its last token went. A stored app is checked first (a
    ``client_credentials`` grant, which answers ``invalid_client`` for an unknown app);
    when that check or the code exchange rejects the client, the app is registered
    again, once, and the user is told why.
    """
    base = ctx.profile.base_url
    app = ctx.apps[0](base)
    fresh = not app or not app.get("client_id") or not app.get("client_secret")
    if not app or fresh:
        app = _register_mastodon_app(ctx)
    elif _client_rejected(ctx, app):
        try:
            app, fresh = _register_mastodon_app(ctx), True
        except UploaderError:
            # A server that cannot register apps (not Mastodon-like) may also refuse this
            # grant for its own reasons: go on with the stored app, the flow will tell.
            pass
        else:
            ctx.say(REREGISTERED.format(base=base, when="before signing in"))
    try:
        tokens = _mastodon_code_flow(ctx, app)
    except AuthError as exc:
        if exc.oauth_error != "invalid_client" or fresh:
            raise
        ctx.say(REREGISTERED.format(base=base, when="at the code exchange") + "; sign in again")
        tokens = _mastodon_code_flow(ctx, _register_mastodon_app(ctx))
    ctx.save(
        access_token=access_token_of(tokens, "the server's token answer"),
        token_type=str(tokens.get("token_type") or "Bearer"),
        scope=str(tokens.get("scope") or ""),
        created_at=ctx.clock(),
    )
    return f"signed in to {base} (profile {ctx.profile.name!r})"


REREGISTERED = (
    "uploader's app is no longer known to {base} (some servers delete it on sign-out or "
    "after a while): registered it again {when}"
)


def _register_mastodon_app(ctx: LoginContext) -> dict[str, Any]:
    """``POST /api/v1/apps`` (reference 3.1); the app is stored for this server."""
    base = ctx.profile.base_url
    registered = _post_form(
        ctx,
        ctx.url(ctx.endpoints.register),
        {
            "client_name": "uploader",
            "redirect_uris": f"{LOOPBACK_REGISTERED}\n{OOB}",
            "scopes": MASTODON_SCOPES,
            "website": "https://github.com/uploader-cli/uploader",
        },
        f"registering uploader with {base}",
        provider=base,
        action="app registration",
    )
    client_id, client_secret = registered.get("client_id"), registered.get("client_secret")
    if not (isinstance(client_id, str) and client_id and isinstance(client_secret, str)):
        # Nothing stored: "None" or "" would be sent as the app's credentials for good.
        raise AuthError(
            f"registering uploader with {base} failed: the answer has no client id and "
            "secret (a Mastodon-compatible server answers POST /api/v1/apps with both)",
            hint="check the profile's base_url: it must be the server's own address",
        )
    app = {"client_id": client_id, "client_secret": client_secret, "scopes": MASTODON_SCOPES}
    ctx.apps[1](base, **app)
    return app


def _client_rejected(ctx: LoginContext, app: Mapping[str, Any]) -> bool:
    """Whether the server refuses the stored app's credentials (``invalid_client``).

    A ``client_credentials`` grant (reference 3.2) is the one request that checks them
    before the browser is involved (Mastodon's authorize page asks the user to log in
    before it looks at the client). Any other outcome, a server without that grant
    included, is not a rejection; the app token it may give is revoked at once.
    """
    form = {
        "grant_type": "client_credentials",
        "client_id": str(app["client_id"]),
        "client_secret": str(app["client_secret"]),
        "scope": "read",
    }
    try:
        answer = post_oauth(
            ctx.session,
            ctx.url(ctx.endpoints.token),
            form,
            provider=ctx.profile.base_url,
            action="app check",
            refused="checking uploader's app",
            hint="",
            token=True,
        )
    except AuthError as exc:
        return exc.oauth_error == "invalid_client"
    except UploaderError:
        return False
    if ctx.endpoints.revoke:
        # An app token with read scope only: a failure to revoke it is not worth a word.
        with contextlib.suppress(UploaderError):
            revoke_token(
                ctx.session,
                ctx.url(ctx.endpoints.revoke),
                form["client_id"],
                form["client_secret"],
                str(answer["access_token"]),
                who=ctx.profile.base_url,
            )
    return False


def _mastodon_code_flow(ctx: LoginContext, app: Mapping[str, Any]) -> dict[str, Any]:
    """The browser (or pasted code) step and the code exchange; the token answer."""
    verifier, challenge = pkce_pair()
    state = new_state()
    redirect_uri = OOB

    def url_for(redirect: str) -> str:
        nonlocal redirect_uri
        redirect_uri = redirect
        return f"{ctx.url(ctx.endpoints.authorize)}?" + urlencode(
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
        ctx.show_url(url_for(OOB))
        code = ctx.ask("authorization code shown by the server", False).strip()
    else:
        code = _redirect(ctx, state, url_for).get("code", "")
    return _post_form(
        ctx,
        ctx.url(ctx.endpoints.token),
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
        provider=ctx.profile.base_url,
        action="code exchange",
    )


FLOWS: dict[str, Callable[[LoginContext], str]] = {
    "imgur": imgur,
    "gyazo": gyazo,
    "mastodon": mastodon,
}
