"""Gyazo's error answers (reference 2.5), mapped to UploaderErrors.

Gyazo documents one body shape, ``{"message": "...", "request": "/api/images", "method":
"GET"}``, and the statuses 400, 401, 402 (Pro required), 403, 404, 422, 429 and 500. No 429
body, no rate-limit headers and no size limit are documented (reference 2.5 GAPs), so the
status decides the error class and the message text only adds detail. Non-JSON bodies (proxy
pages, the legacy bare ``400`` with a newline) are described, never dumped.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from uploader.errors import (
    SHRINK,
    AuthError,
    ProviderError,
    RateLimitError,
    ServerError,
    UploaderError,
)
from uploader.http.translate import describe_body, json_or_none
from uploader.ratelimit.headers import retry_after_seconds, wait_hint_seconds

if TYPE_CHECKING:
    import httpx

TOKEN_PAGE = "https://gyazo.com/oauth/applications"  # noqa: S105 - a web page, not a secret
# Reference 2.5: 403 is "no permission" (e.g. another user's image); only a 403 that talks
# about the token or authentication is about the credentials.
_AUTH_TEXT = re.compile(r"token|authenticat|unauthori[sz]ed|scope|credential", re.IGNORECASE)


def gyazo_message(response: httpx.Response) -> str | None:
    """The ``message`` of a Gyazo error body; None when the body is not that shape."""
    body = json_or_none(response)
    if isinstance(body, dict):
        for key in ("message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return " ".join(value.split())
    return None


def error_for(
    response: httpx.Response, *, action: str, token_var: str, now: float
) -> UploaderError:
    """The UploaderError for a failed Gyazo answer (``action``: "upload", "lookup", ...)."""
    status = response.status_code
    message = gyazo_message(response)
    detail = message if message is not None else describe_body(response)
    header_wait = retry_after_seconds(response.headers.get("retry-after", ""), now)
    if status == 429:
        hinted = wait_hint_seconds(message) if message else None
        return RateLimitError(
            f"Gyazo refused the {action}: rate limit reached ({detail})",
            hint="Gyazo allows 12,500 API requests a day; see `uploader limits`",
            retry_after=header_wait if header_wait is not None else hinted,
            from_server=True,
        )
    if status == 401:
        return AuthError(
            f"Gyazo rejected the access token: {detail} (HTTP 401)",
            hint=f"check {token_var}; create a new token at {TOKEN_PAGE}",
        )
    if status == 403 and message and _AUTH_TEXT.search(message):
        return AuthError(
            f"Gyazo refused the access token: {detail} (HTTP 403)",
            hint=f"the token lacks permission for this; check {token_var} ({TOKEN_PAGE})",
        )
    if status == 403:
        return ProviderError(
            f"Gyazo refused the {action}: {detail} (HTTP 403)",
            status=status,
            hint="Gyazo lets a token read and delete only its own account's images",
        )
    if status >= 500:
        return ServerError(
            f"Gyazo failed the {action}: {detail} (HTTP {status})",
            status=status,
            retry_after=header_wait,
        )
    if status == 402:
        return ProviderError(
            f"Gyazo refused the {action}: it needs a Gyazo Pro account ({detail}, HTTP 402)",
            status=status,
            hint="upgrade the account to Gyazo Pro, or leave out the option that needs it",
        )
    if status == 404:
        return ProviderError(f"Gyazo has no such image: {detail} (HTTP 404)", status=status)
    if status == 413 or (message and "too large" in message.lower()):
        return ProviderError(
            f"Gyazo refused the file as too large: {detail} (HTTP {status})",
            status=status,
            hint=f"shrink the file ({SHRINK})",
        )
    if message is None:
        return ProviderError(
            f"Gyazo answered the {action} with HTTP {status} and a body that is not JSON "
            f"({detail})",
            status=status,
        )
    return ProviderError(f"Gyazo refused the {action}: {detail} (HTTP {status})", status=status)
