"""Imgur's error answers, all five shapes (reference section 1.2), mapped to UploaderErrors.

1. legacy:     {"data": {"error": "<text>", "request": ...}, "success": false, "status": N}
2. structured: {"data": {"error": {"code": 1002, "message": "...", "type": "ImgurException"}}}
3. gateway:    {"errors": [{"id": ..., "code": "429", "status": ..., "detail": ...}]} (str code)
4. new 413:    {"id": ..., "code": 413, "detail": "file is over the size limit", "status": ...}
5. HTML pages:  404 "imgur: the simple 404 page", 503 Varnish pages, 405.

A rate-limit refusal can come in any of them and with any status: a 429 in shape 3 or 1
("Daily client requests exceeded"), the structured code 429 "You are uploading too fast"
in an HTTP 400, or a 429 whose body is HTML or two JSON documents back to back (1.2 #6).
:func:`refusal_for` reads all of them for the limiter, :func:`error_for` for the user; both
rest on :func:`rate_limited`, so they never disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uploader.errors import (
    SHRINK,
    AuthError,
    ProviderError,
    RateLimitError,
    ServerError,
    UploaderError,
)
from uploader.http.translate import describe_body, json_or_none
from uploader.ratelimit.headers import imgur_updates, retry_after_seconds, wait_hint_seconds
from uploader.ratelimit.limiter import Refusal

if TYPE_CHECKING:
    import httpx

# Texts of rate-limit refusals (reference 1.2, 1.10), whatever status carried them.
_RATE_TEXT = re.compile(
    r"too fast|too many requests|rate.?limit|(?:requests?|credits?) (?:limit )?exceeded",
    re.IGNORECASE,
)
# A 403 about the credentials themselves (reference 1.9: a bad or expired Bearer gives 403
# "Unauthorized"; 1.2 #1: "Invalid client_id"); any other 403 is about permission.
_AUTH_TEXT = re.compile(r"unauthori[sz]ed|client.?id|token|authenticat|credential", re.IGNORECASE)
_UPLOAD_PATHS = ("/3/image", "/3/upload", "/3/image.json", "/3/upload.json")
# Imgur's closed doors (reference 1.1, service changes 2024-26): the UK block since 30 Sep
# 2025 ("content not available in your region", some with 403), and the authorize page's
# "Error (1024)" that many users get since new applications stopped being registered.
_REGION_TEXT = re.compile(
    r"(?:not|n't) (?:be )?available in your (?:region|country|location)", re.IGNORECASE
)
_ERROR_1024 = re.compile(r"error\W{0,3}1024\b", re.IGNORECASE)
WORKING_PATHS = (
    "an Imgur client id registered before 2025 still uploads anonymously (client_id, no "
    "sign-in); or use Gyazo (an access token: `uploader auth set-token`) or a Mastodon "
    "account (`uploader auth login NAME`)"
)


@dataclass(frozen=True)
class ImgurFailure:
    """The code and message an Imgur error body carries, whatever its shape."""

    status: int
    code: int | None
    message: str


def read_failure(response: httpx.Response) -> ImgurFailure | None:
    """Extract code and message from any of the JSON error shapes; None if not JSON.

    Only the first JSON document counts: some 429s carry two back to back (1.2 #6).
    """
    body = json_or_none(response)
    if body is None:
        return None
    status = response.status_code
    if not isinstance(body, dict):
        return ImgurFailure(status, None, "unexpected JSON answer")
    data = body.get("data")
    if isinstance(data, dict) and "error" in data:
        error = data["error"]
        if isinstance(error, dict):  # shape 2
            return ImgurFailure(status, _int(error.get("code")), _line(error.get("message", "")))
        return ImgurFailure(status, _int(body.get("status")), _line(error))  # shape 1
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):  # shape 3
        first = errors[0]
        text = first.get("detail") or first.get("status") or "error"
        return ImgurFailure(status, _int(first.get("code")), _line(text))
    if "detail" in body and "code" in body:  # shape 4
        return ImgurFailure(status, _int(body.get("code")), _line(body["detail"]))
    if body.get("success") is False:
        return ImgurFailure(status, _int(body.get("status")), "the request failed")
    return None


def _int(value: Any) -> int | None:
    """A code or status as an int (Imgur sends ``429`` and ``"429"``, reference 1.2 #3);
    None for null, a boolean, 1e400 (JSON's infinity), NaN or text that is not a number."""
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _line(value: object) -> str:
    """Server text as one short line (messages stay one line); "" for null, a list or an
    object (never the text "None")."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return " ".join(str(value).split())[:300]


def rate_limited(status: int, failure: ImgurFailure | None) -> bool:
    """Whether an error answer (4xx/5xx) is a rate-limit refusal, whatever its shape.

    A 2xx is never one: the session only shows error answers to the limiter.
    """
    if status == 429:
        return True
    if failure is None or status < 400:
        return False
    return failure.code == 429 or _RATE_TEXT.search(failure.message) is not None


def _is_upload(response: httpx.Response) -> bool:
    try:
        request = response.request
    except RuntimeError:  # a response built without its request (tests)
        return False
    return request.method == "POST" and request.url.path.endswith(_UPLOAD_PATHS)


def refusal_for(response: httpx.Response, *, now: float) -> Refusal | None:
    """What a rate-limit refusal tells the limiter; None for any other answer.

    * "Daily client requests exceeded" (reference 1.10): the client bucket is spent until
      its daily reset, with or without headers; a user-bucket text likewise spends "user".
    * Otherwise, on an upload: pause only the POST side. Imgur refuses uploads with user
      and client credits left ("uploading too fast", reference 1.2 #2 and 1.10), a
      throttle of uploads, not of reads: GETs stay allowed.
    * Otherwise: the limiter pauses what the request touched (unless headers say 0 left).
    """
    status = response.status_code
    failure = read_failure(response) if status >= 400 else None
    if not rate_limited(status, failure):
        return None
    text = failure.message if failure is not None else ""
    lowered = text.lower()
    wait = wait_hint_seconds(text) if text else None
    if wait is None:
        wait = retry_after_seconds(response.headers.get("retry-after", ""), now)
    said = f'Imgur said "{text}"' if text else f"Imgur refused (HTTP {status})"
    if "exceeded" in lowered and ("client" in lowered or "daily" in lowered):
        return Refusal(wait, spent=("client",), note=said)
    if "exceeded" in lowered and "user" in lowered:
        return Refusal(wait, spent=("user",), note=said)
    if not _is_upload(response):
        return Refusal(wait)
    updates = imgur_updates(response.headers, now)
    if any(u.remaining == 0 for u in updates):
        return Refusal(wait)  # a spent bucket explains it; the limiter keeps to its reset
    credits = " with user and client credits left" if updates else ""
    quoted = f' ("{text}")' if text and text.lower() != "too many requests" else ""
    note = f"Imgur's upload throttle refused an upload{credits}{quoted}"
    return Refusal(wait, pause=("post",), note=note)


def _page_text(response: httpx.Response) -> str:
    """The first 64 KiB of a body as text ("" when it cannot be read)."""
    try:
        return response.content[:65536].decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - a body that cannot be read says nothing
        return ""


def closed_door(response: httpx.Response, *, action: str) -> UploaderError | None:
    """Imgur's region block or its "Error (1024)" sign-in page, whatever the status and
    body shape (JSON or HTML); None for any other answer. Neither is retried: waiting does
    not open them."""
    text = _page_text(response)
    if _REGION_TEXT.search(text):
        return ProviderError(
            f"Imgur refused the {action}: not available in your region "
            f"(HTTP {response.status_code}); Imgur blocks the UK since 30 September 2025, "
            "API uploads included",
            status=response.status_code,
            hint="use another provider from here: " + WORKING_PATHS,
        )
    if _ERROR_1024.search(text):
        return AuthError(
            f'Imgur\'s sign-in page fails with "Error (1024)" (HTTP {response.status_code}): '
            "Imgur no longer lets many apps sign users in, and registers no new apps",
            hint=WORKING_PATHS,
        )
    return None


def error_for(
    response: httpx.Response, *, action: str, now: float, rejected_hint: str
) -> UploaderError:
    """The UploaderError for a failed Imgur answer (``action``: "upload", "lookup", ...).

    ``rejected_hint`` is what to do when the credentials are rejected (the provider knows
    the profile, its variable names and where the token came from).
    """
    status = response.status_code
    closed = closed_door(response, action=action)
    if closed is not None:
        return closed
    failure = read_failure(response)
    header_wait = retry_after_seconds(response.headers.get("retry-after", ""), now)
    if rate_limited(status, failure):
        text = failure.message.strip() if failure is not None else ""
        wait = wait_hint_seconds(text) if text else None
        return RateLimitError(
            f"Imgur refused the {action}: rate limit reached ({text or describe_body(response)})",
            hint="see `uploader limits` for when the budget resets",
            retry_after=wait if wait is not None else header_wait,
            from_server=True,
        )
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
        if status == 401:
            return AuthError(
                f"Imgur rejected the credentials (HTTP 401, {what})", hint=rejected_hint
            )
        return ProviderError(
            f"Imgur answered the {action} with HTTP {status} and a body that is not JSON ({what})",
            status=status,
        )
    text = failure.message.strip() or "no message"
    lowered = text.lower()
    code = failure.code
    if status == 401 or (status == 403 and _AUTH_TEXT.search(text)):
        return AuthError(
            f"Imgur rejected the credentials: {text} (HTTP {status})", hint=rejected_hint
        )
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
            # Reference 1.12: the API documents 10 MB; 20 MB and 200 MB are website limits.
            hint="Imgur's API documents 10 MB per image (the website allows 20 MB; GIF and "
            f"video up to 200 MB); shrink the file ({SHRINK})",
        )
    if code == 1003 or "type invalid" in lowered:
        return ProviderError(f"Imgur refused the file type: {text} (HTTP {status})", status=status)
    if status == 417:
        return ProviderError(
            f"Imgur refused the {action}: {text} (HTTP 417)",
            status=status,
            # Reference 1.2 #1 and 1.12: the ShareX maintainer traces this to GIFs over ~10 MB.
            hint="Imgur answers this for animated GIFs over about 10 MB; shrink the GIF "
            "(--fit, or --max-dimension PX) or convert it to MP4",
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
    if status == 403 or code == 403 or "permission" in lowered or "forbidden" in lowered:
        # Valid credentials, not allowed to do this: refreshing the token cannot help.
        return ProviderError(
            f"Imgur refused the {action}: {text} (HTTP {status}{code_part})",
            status=status,
            hint=_permission_hint(action),
        )
    return ProviderError(
        f"Imgur refused the {action}: {text} (HTTP {status}{code_part})", status=status
    )


def _permission_hint(action: str) -> str:
    if action == "delete":
        # Reference 1.5: the deletehash deletes anonymously; an id needs the owner's token.
        return (
            "only the owner can delete an image by its id: use its deletehash (the "
            "upload's delete_id), or sign in as the account that uploaded it"
        )
    if action == "upload":
        return (
            "Imgur refuses this upload from this client or address (not the file): check "
            "the app's status at https://api.imgur.com, or try again later"
        )
    return "the credentials are valid but may not do this; check the image belongs to them"
