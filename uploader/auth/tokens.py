"""Requests about a token: an OAuth form exchanged for one, a refresh, whose it is, revoking it.

Provider-neutral (RFC 6749, RFC 7009): where each provider's endpoints are comes from
``uploader.providers.<kind>_auth``, and every request goes through the given
:class:`~uploader.http.session.ApiSession`. Servers that quote the form back in their
error text do not make us print a secret (:func:`uploader.auth.oauth.redact`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from uploader.auth.oauth import redact
from uploader.config.checks import text_problem
from uploader.errors import AuthError, ProviderError
from uploader.http.translate import json_body, json_or_none
from uploader.ratelimit.headers import decimal

if TYPE_CHECKING:
    from uploader.auth.oauth import Endpoints
    from uploader.config.settings import Profile
    from uploader.http.session import ApiSession


def post_oauth(
    session: ApiSession,
    url: str,
    form: Mapping[str, str],
    *,
    provider: str,
    action: str,
    refused: str,
    hint: str,
    token: bool,
) -> dict[str, Any]:
    """POST an OAuth form through the session and return the JSON answer.

    No answer is the session's NetworkError; a 200 whose body is not JSON is an
    UnreadableAnswerError ("<provider> answered the <action> with HTTP 200 and a body that
    is not JSON ..."); a refusal, a body that is not a JSON object or (with ``token``) one
    without an access token is an AuthError ("<refused>: <reason>").
    """
    response = session.request("POST", url, data=dict(form), headers={"Accept": "application/json"})
    if response.status_code == 200:
        body = json_body(response, provider, action)
    else:
        body = json_or_none(response)
    if (
        response.status_code != 200
        or not isinstance(body, dict)
        or (token and not token_text(body.get("access_token")))
    ):
        reason = redact(oauth_error(body) or f"HTTP {response.status_code}", form)
        error = AuthError(f"{refused}: {reason}", hint=hint)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            error.oauth_error = body["error"]
        raise error
    return body


def token_text(value: Any) -> str | None:
    """A token from an answer: non-empty text a header can carry (the rule a configured
    token is held to, ``config.checks.text_problem``); None for anything else (a number,
    an object, null, spaces, a line break, non-ASCII), which is no token."""
    if not isinstance(value, str) or not value or text_problem(value) is not None:
        return None
    return value


def lifetime(value: Any) -> float | None:
    """``expires_in`` (seconds; Imgur sends 3600 or 315360000, as a number or in a URL
    fragment as text) as seconds; None for what is not a finite number of seconds, 0 or
    more (null, a boolean, "soon", -5, 1e400): the token then has no known expiry."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str):
        seconds = decimal(value)  # plain ASCII digits, as a header's number
    else:
        try:
            seconds = float(value)
        except OverflowError:
            return None
    return seconds if seconds is not None and 0 <= seconds < 1e12 else None  # NaN: false


def access_token_of(tokens: Mapping[str, Any], what: str) -> str:
    """The answer's ``access_token``: text a header can carry (visible ASCII, RFC 6750's
    b64token and then some), else an AuthError; nothing else is stored or sent."""
    token = tokens.get("access_token")
    if not token:
        raise AuthError(f"{what} has no access token")
    if token_text(token) is None:
        raise AuthError(
            f"{what} has an access token that is not a token (not visible ASCII text)",
            hint="the server is not answering as the OAuth 2 standard says; sign in again later",
        )
    return str(token)


def oauth_error(body: Any) -> str | None:
    """The reason in an OAuth error answer: RFC 6749's ``error`` (with its description) or
    Imgur's ``data.error``; None for any other body."""
    if not isinstance(body, dict):
        return None
    data = body.get("data")
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    if isinstance(body.get("error"), str):
        described = body.get("error_description")
        return f"{body['error']}" + (f" ({described})" if described else "")
    return None


def refresh_grant(
    session: ApiSession,
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
    return post_oauth(
        session,
        token_url,
        form,
        provider=provider,
        action="token refresh",
        refused=f"{provider} refused to refresh the access token",
        hint=f"sign in again: uploader auth login {profile}",
        token=True,
    )


def account_name(
    session: ApiSession, profile: Profile, where: Endpoints, authorization: str, provider: str
) -> str:
    """Who a token belongs to, from the provider's ``whoami`` endpoint (``auth status``).

    A 401 or 403 is an AuthError; an answer without the name is a ProviderError.
    """
    response = session.request(
        "GET",
        profile.base_url + where.whoami,
        costs=where.whoami_costs,
        headers={"Authorization": authorization, "Accept": "application/json"},
    )
    status = response.status_code
    if status in (401, 403):
        raise AuthError(
            f"the token was rejected (HTTP {status})",
            hint=f"sign in again: uploader auth login {profile.name}",
        )
    found: Any = json_body(response, provider, "token check") if status == 200 else None
    for key in where.whoami_name:
        found = found.get(key) if isinstance(found, dict) else None
    if found is None or isinstance(found, dict | list):
        raise ProviderError(f"unexpected answer from {where.whoami} (HTTP {status})")
    return str(found)


def revoke_token(
    session: ApiSession, url: str, client_id: str, client_secret: str, token: str, *, who: str
) -> None:
    """Revoke ``token`` (RFC 7009, the client's credentials in the form); a refusal is a
    ProviderError naming ``who``."""
    form = {"client_id": client_id, "client_secret": client_secret, "token": token}
    response = session.request("POST", url, data=form)
    if response.status_code != 200:
        raise ProviderError(f"{who} refused to revoke the token (HTTP {response.status_code})")
