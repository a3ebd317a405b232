"""Publishing uploaded media in a status: ``POST /api/v1/statuses`` (reference 3.5).

The ``Idempotency-Key`` header (kept 1 h by the server) depends only on the media id and the
text, so a post retried here is never published twice. A failure after the media was
uploaded is final (never a retryable error class): retrying the whole upload would upload
the media again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from uploader.errors import (
    AuthError,
    NetworkError,
    ProviderError,
    RateLimitError,
    ServerError,
    UploaderError,
)

log = logging.getLogger("uploader.mastodon")

POST_ATTEMPTS = 3
FIRST_WAIT = 0.5  # seconds before the second attempt, doubling


def idempotency_key(media_id: str, text: str) -> str:
    """The same key for the same media and text, so the server drops a repeated post."""
    digest = hashlib.sha256(f"{media_id}\n{text}".encode()).hexdigest()
    return f"uploader-{digest[:40]}"


def status_form(media_id: str, text: str, visibility: str | None) -> dict[str, Any]:
    """The form fields: ``media_ids[]``, and ``status`` (optional with media) and
    ``visibility`` (the account's default when absent) only when given."""
    data: dict[str, Any] = {"media_ids[]": [media_id]}
    if text:
        data["status"] = text
    if visibility:
        data["visibility"] = visibility
    return data


def post_status(
    send: Callable[[], dict[str, Any]], media_id: str, sleep: Callable[[float], None]
) -> str:
    """Call ``send`` (one request with the same key each time) until it answers; the URL.

    5xx answers and network failures are retried up to POST_ATTEMPTS times; every other
    failure, and the last one, becomes a final error naming the uploaded media.
    """
    delay = FIRST_WAIT
    for attempt in range(1, POST_ATTEMPTS + 1):
        try:
            status = send()
        except (ServerError, NetworkError) as exc:
            if attempt == POST_ATTEMPTS:
                raise post_failure(media_id, exc) from exc
            log.debug("posting media %s failed (%s); retrying", media_id, exc.message)
            sleep(delay)
            delay *= 2
            continue
        except UploaderError as exc:
            raise post_failure(media_id, exc) from exc
        link = status.get("url") or status.get("uri")
        if not link:
            error = ProviderError(f"Mastodon posted media {media_id} but sent no status URL")
            error.created_id = error.created_delete_id = media_id
            raise error
        return str(link)
    raise AssertionError("unreachable")  # pragma: no cover


def post_failure(media_id: str, exc: UploaderError) -> UploaderError:
    """A final error for a status post that failed after its media was uploaded; it
    carries the media id (``created_id``) so the file's record keeps it."""
    error = _post_failure(media_id, exc)
    error.created_id = error.created_delete_id = media_id
    return error


def _post_failure(media_id: str, exc: UploaderError) -> UploaderError:
    message = f"uploaded media {media_id} but could not post it: {exc.message}"
    hint = (
        exc.hint
        or f"the media is uploaded but unattached; delete it with `uploader delete {media_id}`"
    )
    if isinstance(exc, AuthError):
        return AuthError(message, hint=hint)
    if isinstance(exc, RateLimitError):  # from_server=False: final for the retry policy
        return RateLimitError(
            message,
            hint=hint,
            bucket=exc.bucket,
            reset_at=exc.reset_at,
            retry_after=exc.retry_after,
        )
    return ProviderError(message, hint=hint, status=getattr(exc, "status", None))
