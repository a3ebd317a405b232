"""Mastodon's error answers (reference 3.2, 3.4, 3.7, 3.8), mapped to UploaderErrors.

Bodies are ``{"error": "<message>"}``; OAuth answers add ``error_description`` to a code such
as ``invalid_grant``. A rejected token is a 401 with ``WWW-Authenticate: Bearer
realm="Doorkeeper", error="invalid_token", error_description="..."``. A 429 carries the
``X-RateLimit-*`` headers and no ``Retry-After`` (reference 3.7). Proxies in front of
compatible servers answer with HTML pages (413 from nginx, 502/503): those are described.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

from uploader.errors import (
    SHRINK,
    AuthError,
    ProviderError,
    RateLimitError,
    ServerError,
    UploaderError,
)
from uploader.http.translate import describe_body, json_or_none
from uploader.ratelimit.headers import (
    header,
    parse_reset,
    retry_after_seconds,
    server_skew,
    wait_hint_seconds,
)

if TYPE_CHECKING:
    import httpx

OAUTH_CODES = frozenset(
    {"invalid_grant", "invalid_client", "invalid_token", "invalid_scope", "unauthorized_client"}
)
_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
# A 403 about the token or the account's sign-in (scopes, a disabled or unconfirmed login)
# is about the credentials; "This action is not allowed" (reference 3.8) is permission.
_AUTH_403 = re.compile(
    r"scope|token|login|authori[sz]|authenticat|disabled|suspended|confirm|approv", re.IGNORECASE
)


class MastodonFailure(NamedTuple):
    """What an error answer says: the OAuth code (if any) and a readable message."""

    code: str | None
    message: str | None


def read_failure(response: httpx.Response) -> MastodonFailure:
    """The message of any Mastodon error body, with the WWW-Authenticate error as fallback."""
    code: str | None = None
    message: str | None = None
    body = json_or_none(response)
    if isinstance(body, dict):
        error, description = body.get("error"), body.get("error_description")
        if isinstance(error, str) and error.strip():
            if error in OAUTH_CODES:
                code = error
            message = error
        if isinstance(description, str) and description.strip():
            message = f"{description} ({error})" if code else description
    challenge = dict(_AUTH_PARAM.findall(header(response.headers, "www-authenticate") or ""))
    code = code or (challenge.get("error") or None)
    if message is None and challenge.get("error_description"):
        message = challenge["error_description"]
    return MastodonFailure(code, " ".join(message.split()) if message else None)


def error_for(
    response: httpx.Response, *, action: str, media_id: str | None, token_var: str, now: float
) -> UploaderError:
    """The UploaderError for a failed answer (``action``: "upload", "lookup", "delete", ...)."""
    status = response.status_code
    failure = read_failure(response)
    detail = failure.message or describe_body(response)
    headers = response.headers
    header_wait = retry_after_seconds(headers.get("retry-after", ""), now)
    if status == 429:
        raw_reset = header(headers, "X-RateLimit-Reset")
        reset = parse_reset(raw_reset, now, server_skew(headers, now)) if raw_reset else None
        hinted = wait_hint_seconds(failure.message) if failure.message else None
        return RateLimitError(
            f"Mastodon refused the {action}: rate limit reached ({detail})",
            hint="see `uploader limits` for when the budget resets",
            reset_at=reset,
            retry_after=header_wait if header_wait is not None else hinted,
            from_server=True,
        )
    if status == 401 or failure.code in OAUTH_CODES:
        hint = (
            f"the token is invalid or revoked: sign in again, or check {token_var}"
            if failure.code in (None, "invalid_token")
            else f"check the app's credentials and {token_var}"
        )
        return AuthError(f"Mastodon rejected the access token: {detail} (HTTP {status})", hint=hint)
    if status == 403 and (failure.code or _AUTH_403.search(failure.message or "")):
        return AuthError(
            f"Mastodon refused the {action}: {detail} (HTTP 403)",
            hint="the token may lack a scope (write:media, write:statuses) or the account "
            f"may be disabled; check {token_var}",
        )
    if status == 403:
        return ProviderError(
            f"Mastodon refused the {action}: {detail} (HTTP 403)",
            status=status,
            hint="the account may not do this: media can be changed or deleted only by its owner",
        )
    if status >= 500:
        return ServerError(
            f"Mastodon failed the {action}: {detail} (HTTP {status})",
            status=status,
            retry_after=header_wait,
        )
    which = f" {media_id}" if media_id else ""
    if status == 404:
        return ProviderError(
            f"Mastodon has no such media{which}: {detail} (HTTP 404)",
            status=status,
            hint="media can be looked up or deleted only while it is yours and not attached "
            "to a post; for posted media give the post's link (`status_url`)",
        )
    if status == 413:
        return ProviderError(
            f"Mastodon refused the file as too large: {detail} (HTTP 413)",
            status=status,
            hint=f"the server's upload limit is lower than it announces; shrink the file "
            f"({SHRINK})",
        )
    if failure.message is None:
        return ProviderError(
            f"Mastodon answered the {action} with HTTP {status} and a body that is not JSON "
            f"({detail})",
            status=status,
        )
    return ProviderError(
        f"Mastodon refused the {action}{which}: {detail} (HTTP {status})", status=status
    )
