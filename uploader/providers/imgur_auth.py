"""Imgur credentials: which one a profile uses, its account endpoints, refreshing a stored
token (reference 1.9).

Anonymous calls send ``Client-ID <client_id>``; user calls ``Bearer <access token>``. A
token stored by ``uploader auth login`` comes with a refresh token and is refreshed with
the ``refresh_token`` grant shortly before it expires, or once after Imgur rejected it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from uploader.auth.credentials import Credential, resolve_secret, store_for
from uploader.auth.oauth import Endpoints
from uploader.errors import AuthError, UploaderError
from uploader.http.session import ApiSession
from uploader.providers.imgur_media import READ_COST

if TYPE_CHECKING:
    import httpx

    from uploader.config.settings import Profile

# Refresh a stored token this long before it expires.
REFRESH_MARGIN = 120.0
ADD_CLIENT = "https://api.imgur.com/oauth2/addclient"
# Reference 1.1, service changes 2024-26: the add-client page redirects to the home page.
NO_NEW_APPS = (
    f"Imgur registers no new apps since 2025 ({ADD_CLIENT} redirects home): a client id "
    "you already have still uploads; otherwise use Gyazo or a Mastodon account"
)


def authorize_page_check(response: httpx.Response) -> UploaderError | None:
    """Imgur's authorize page when it is a dead end: "Error (1024)", or the region block."""
    from uploader.providers.imgur_errors import closed_door  # start-up: sign-in only

    return closed_door(response, action="sign-in")


OAUTH = Endpoints(
    authorize="/oauth2/authorize",
    page_check=authorize_page_check,
    token="/oauth2/token",  # noqa: S106 - a path, not a secret
    whoami="/3/account/me",
    whoami_name=("data", "url"),
    whoami_costs=READ_COST,
)


def resolve_credential(profile: Profile, env: Mapping[str, str]) -> Credential:
    """Bearer when a user token is available (unless pinned anonymous), else Client-ID.

    Tokens come from the environment, ``access_token_command`` or the credential store;
    a stored token with a refresh token is refreshable.
    """
    token_var = profile.env_prefix + "ACCESS_TOKEN"
    id_var = profile.env_prefix + "CLIENT_ID"
    found = resolve_secret(profile, "access_token", env) if profile.auth != "anonymous" else None
    if found is not None:
        token, source = found
        stored = store_for(env).get(profile.name) if "credential store" in source else {}
        return Credential(
            "Bearer",
            token,
            source,
            refreshable=bool(stored.get("refresh_token")),
            key=f"imgur-oauth:{profile.name}:{stored.get('account_username', '')}"
            if stored
            else None,
        )
    if profile.auth == "oauth":
        raise AuthError(
            f'profile {profile.name!r} needs a user token (auth = "oauth") and has none',
            hint=f"run `uploader auth login {profile.name}` or set {token_var}",
        )
    client = resolve_secret(profile, "client_id", env)
    if client is not None:
        return Credential("Client-ID", client[0], client[1])
    if profile.client_id:
        return Credential(
            "Client-ID", profile.client_id, f"client_id in [providers.{profile.name}]"
        )
    raise AuthError(
        f"profile {profile.name!r} has no client_id for anonymous Imgur uploads",
        hint=f'add client_id = "..." to [providers.{profile.name}] or set {id_var} ({NO_NEW_APPS})',
    )


def refresh_if_due(
    profile: Profile,
    env: Mapping[str, str],
    credential: Credential,
    http: httpx.Client,
    clock: Callable[[], float],
    *,
    force: bool,
) -> Credential | None:
    """The refreshed credential when the stored token was due (or ``force``), else None.

    Under the store's lock: another process may have refreshed already, in which case its
    newer token is used as is.
    """
    # Imported on use: only a stored token ever refreshes (never a hotkey's anonymous upload).
    from uploader.auth.tokens import lifetime, refresh_grant, token_text

    store = store_for(env)
    stored = store.get(profile.name)
    expires = stored.get("expires_at")
    due = isinstance(expires, int | float) and expires - clock() < REFRESH_MARGIN
    if not (force or due):
        # Another process may have refreshed since this one read the store: its token is
        # the live one (the old one may already be revoked), so use it from the start.
        current = stored.get("access_token")
        if "credential store" in credential.source and current and current != credential.secret:
            return Credential(
                "Bearer", str(current), credential.source, refreshable=True, key=credential.key
            )
        return None
    client_id = resolve_secret(profile, "client_id", env)
    secret = resolve_secret(profile, "client_secret", env)
    cid = client_id[0] if client_id else profile.client_id
    if not cid or secret is None:
        raise AuthError(
            f"profile {profile.name!r}: the Imgur token needs refreshing, but the "
            "client id or secret is missing",
            hint=f"set {profile.env_prefix}CLIENT_SECRET or sign in again",
        )

    def refresh(refresh_token: str) -> dict[str, Any]:
        # Through the shared client, but a session of its own: a token request is in no
        # rate bucket, and is not one of the upload's requests.
        answer = refresh_grant(
            ApiSession(http),
            profile.base_url + OAUTH.token,
            cid,
            secret[0],
            refresh_token,
            provider="Imgur",
            profile=profile.name,
        )
        seconds = lifetime(answer.get("expires_in"))
        return {
            "access_token": str(answer["access_token"]),  # a string: post_oauth checks
            "refresh_token": token_text(answer.get("refresh_token")) or refresh_token,
            "expires_at": None if seconds is None else clock() + seconds,
        }

    token = store.refresh_once(profile.name, credential.secret, refresh)
    return Credential("Bearer", token, credential.source, refreshable=True, key=credential.key)


def rejected_hint(profile: Profile, credential: Credential) -> str:
    """What to do about rejected credentials, naming this profile's own variables."""
    name = profile.name
    if credential.scheme != "Bearer":
        return (
            f"check client_id in [providers.{name}] and {profile.env_prefix}CLIENT_ID "
            f"({NO_NEW_APPS})"
        )
    token_var = profile.env_prefix + "ACCESS_TOKEN"
    if token_var in credential.source:
        return (
            f"the token in {token_var} was rejected: set a fresh one, or unset it and "
            f"run `uploader auth login {name}`"
        )
    return f"sign in again: `uploader auth login {name}` (or set {token_var})"
