"""Imgur's error answers, all five shapes (reference section 1.2), mapped to UploaderErrors.

1. legacy:     {"data": {"error": "<text>", "request": ...}, "success": false, "status": N}
2. structured: {"data": {"error": {"code": 1002, "message": "...", "type": "ImgurException"}}}
3. gateway:    {"errors": [{"id": ..., "code": "429", "status": ..., "detail": ...}]} (str code)
4. new 413:    {"id": ..., "code": 413, "detail": "file is over the size limit", "status": ...}
5. HTML pages:  404 "imgur: the simple 404 page", 503 Varnish pages, 405.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uploader.errors import (
    AuthError,
    ProviderError,
    RateLimitError,
    ServerError,
    UploaderError,
)
from uploader.providers.base import describe_body
from uploader.rateheaders import retry_after_seconds, wait_hint_seconds

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class ImgurFailure:
    """The code and message an Imgur error body carries, whatever its shape."""

    status: int
    code: int | None
    message: str


def read_failure(response: httpx.Response) -> ImgurFailure | None:
    """Extract code and message from any of the JSON error shapes; None if not JSON."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    status = response.status_code
    if not isinstance(body, dict):
        return ImgurFailure(status, None, "unexpected JSON answer")
    data = body.get("data")
    if isinstance(data, dict) and "error" in data:
        error = data["error"]
        if isinstance(error, dict):  # shape 2
            return ImgurFailure(status, _int(error.get("code")), str(error.get("message", "")))
        return ImgurFailure(status, _int(body.get("status")), str(error))  # shape 1
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):  # shape 3
        first = errors[0]
        text = first.get("detail") or first.get("status") or "error"
        return ImgurFailure(status, _int(first.get("code")), str(text))
    if "detail" in body and "code" in body:  # shape 4
        return ImgurFailure(status, _int(body.get("code")), str(body["detail"]))
    if body.get("success") is False:
        return ImgurFailure(status, _int(body.get("status")), "the request failed")
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def error_for(response: httpx.Response, *, action: str, bearer: bool, now: float) -> UploaderError:
    """The UploaderError for a failed Imgur answer (``action``: "upload", "lookup", ...)."""
    status = response.status_code
    failure = read_failure(response)
    header_wait = retry_after_seconds(response.headers.get("retry-after", ""), now)
    if failure is None:
        what = describe_body(response)
        if status >= 500:
            return ServerError(
                f"Imgur failed the {action}: HTTP {status} ({what})",
                status=status,
                retry_after=header_wait,
            )
        if status == 404:
            return ProviderError(f"Imgur has no such image (HTTP 404, {what})", status=status)
        return ProviderError(
            f"Imgur answered the {action} with HTTP {status} and a body that is not JSON ({what})",
            status=status,
        )
    text = failure.message.strip() or "no message"
    lowered = text.lower()
    code = failure.code
    if status == 429 or code == 429 or "too fast" in lowered or "exceeded" in lowered:
        wait = wait_hint_seconds(text)
        return RateLimitError(
            f"Imgur refused the {action}: rate limit reached ({text})",
            hint="see `uploader limits` for when the budget resets",
            retry_after=wait if wait is not None else header_wait,
            from_server=True,
        )
    if status == 401 or (status == 403 and ("client_id" in lowered or bearer)):
        hint = (
            "the access token was rejected; sign in again or unset UPLOADER_<NAME>_ACCESS_TOKEN"
            if bearer
            else "check client_id in the profile (apps: https://api.imgur.com/oauth2/addclient)"
        )
        return AuthError(f"Imgur rejected the credentials: {text} (HTTP {status})", hint=hint)
    if status >= 500 or code in (500, 1203) or "over capacity" in lowered:
        return ServerError(
            f"Imgur failed the {action}: {text} (HTTP {status})",
            status=status,
            retry_after=header_wait,
        )
    if code in (1002, 413) or status == 413 or "size limit" in lowered:
        return ProviderError(
            f"Imgur refused the file: {text} (HTTP {status})",
            status=status,
            hint="Imgur's API takes images up to 20 MB (older accounts 10 MB); shrink the file "
            "and lower max_image_size in the profile to catch this before sending",
        )
    if code == 1003 or "type invalid" in lowered:
        return ProviderError(f"Imgur refused the file type: {text} (HTTP {status})", status=status)
    if status == 417:
        return ProviderError(
            f"Imgur refused the {action}: {text} (HTTP 417)",
            status=status,
            hint="Imgur answers this for animated GIFs over about 10 MB; convert it to MP4",
        )
    if "forbidden" in lowered and response.headers.get("cdn-error"):
        return ProviderError(
            f"Imgur's CDN refused the request: {text} (HTTP {status})",
            status=status,
            hint="Imgur blocks some networks (VPNs, some regions); try another connection",
        )
    if status == 404:
        return ProviderError(f"Imgur has no such image: {text} (HTTP 404)", status=status)
    code_part = f", code {code}" if code is not None and code != status else ""
    return ProviderError(
        f"Imgur refused the {action}: {text} (HTTP {status}{code_part})", status=status
    )
