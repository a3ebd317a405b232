"""One file through the retry policy and, after a lost answer, the recovery rules.

An attempt whose body was sent but whose answer was lost may have created the image. Where
the provider lists recent uploads, the listing must prove it (the object is reported) or
prove its absence (the file is sent again); otherwise, or when the lookup fails, the file
is ambiguous and sent again only with ``--retry-ambiguous``, its record then saying it may
exist twice (README "Retries").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from uploader.commands.recheck import LOOKUP_WAITS, lookup
from uploader.errors import (
    AmbiguousUploadError,
    NetworkError,
    RateLimitError,
    UnreadableAnswerError,
    UploaderError,
)
from uploader.http.retry import RetryEvent, call_with_retries
from uploader.providers.recovery import RunClaims, Window
from uploader.timewords import describe

if TYPE_CHECKING:
    from uploader.commands.runtime import Runtime
    from uploader.commands.upload import UploadRequest
    from uploader.models import ImageFile, Pending, UploadResult
    from uploader.providers.base import Provider


def upload_one(
    provider: Provider,
    image: ImageFile,
    request: UploadRequest,
    pending: Pending,
    runtime: Runtime,
    claims: RunClaims,
) -> UploadResult:
    """One file through the retry policy; the file is reopened on every attempt.

    An attempt whose body was sent but whose answer was lost may have created the image.
    Where the provider lists recent uploads, the listing must prove it (the object is
    reported) or prove its absence (the file is sent again); otherwise, or when the lookup
    fails, the file is ambiguous and sent again only with ``--retry-ambiguous``, its record
    then saying it may exist twice (README "Retries").
    """
    started = runtime.clock()
    lost_at: float | None = None  # when the last answer was lost; None: nothing may exist
    twice = False  # sent again while an earlier copy may exist

    def recover(waits: Sequence[float]) -> UploadResult | None:
        assert lost_at is not None
        return lookup(provider, image, Window(started, lost_at), claims, runtime, waits)

    def attempt() -> UploadResult:
        nonlocal lost_at, twice
        if lost_at is not None:
            try:
                # One more look before sending again: the listing had time to catch up.
                found = recover(()) if provider.can_find_uploads() else None
            except AmbiguousUploadError:
                if not request.retry.retry_ambiguous:
                    raise
                twice = True  # allowed: the re-sent file may then exist twice
            else:
                if found is not None:
                    return found
                if provider.can_find_uploads():
                    lost_at = None  # proven absent: re-sending duplicates nothing
                else:
                    twice = True
        try:
            return provider.upload(image, request.options, pending=pending)
        except (NetworkError, UnreadableAnswerError) as exc:
            # A 2xx whose body we cannot read is as ambiguous as a lost answer: the image
            # was most likely created.
            if isinstance(exc, NetworkError) and not exc.sent:
                raise
            lost_at = runtime.clock()
            claims.lost[id(image)] = Window(started, lost_at)  # for the end-of-batch look
            if provider.can_find_uploads():
                try:
                    found = recover(LOOKUP_WAITS)  # AmbiguousUploadError: it cannot tell
                except AmbiguousUploadError as unknown:
                    raise _keeping(unknown, exc) from exc
                if found is not None:
                    return found
                if not exc.created_id:
                    lost_at = None
                    # Proven absent: nothing was created, so sending again duplicates nothing.
                    raise NetworkError(exc.message, sent=False) from exc
                # The answer named what it created: missing from the listing is a lag.
            raise _keeping(
                AmbiguousUploadError(
                    "the upload was sent but its answer was "
                    f"{'lost' if isinstance(exc, NetworkError) else 'unreadable'} "
                    f"({exc.message}); the image may or may not exist",
                    # Only reached when the provider cannot list recent uploads (an anonymous
                    # profile, a custom host): the user is the one who can look.
                    hint="look for it on the host before sending it again (uploader looks "
                    "by itself only where it can list an account's uploads: a signed-in "
                    "profile of Imgur, Gyazo or Mastodon)"
                    + (
                        ""
                        if request.retry.retry_ambiguous
                        else "; --retry-ambiguous re-sends such uploads (they may then exist twice)"
                    ),
                ),
                exc,
            ) from exc

    def on_retry(event: RetryEvent) -> None:
        runtime.debug(
            f"{image.label}: attempt {event.attempt} failed ({event.reason}); "
            f"{retry_wait_text(event.wait)}"
        )

    try:
        result = call_with_retries(attempt, request.retry, sleep=runtime.sleep, on_retry=on_retry)
    except AmbiguousUploadError as exc:
        if not twice:
            raise
        raise AmbiguousUploadError(
            f"{exc.message}; it was sent again after an earlier attempt's answer was lost: "
            "it may exist twice",
            hint=exc.hint,
        ) from exc
    if twice and result.status == "uploaded":
        # A re-sent upload after a lost answer: the first one may exist too. Say so.
        return replace(
            result,
            ambiguous=True,
            error="uploaded, but an earlier attempt's answer was lost: it may exist twice",
        )
    return result


def _keeping(error: AmbiguousUploadError, cause: UploaderError) -> AmbiguousUploadError:
    """``error`` with what the unreadable answer did name (the id of what it created), so
    that the file's record can reach the object (``uploader info``, ``delete``)."""
    error.created_id = error.created_id or cause.created_id
    error.created_delete_id = error.created_delete_id or cause.created_delete_id
    return error


def when_allowed(error: UploaderError, provider: Provider, now: float) -> UploaderError:
    """A server's rate-limit refusal that the retries gave up on says when the limiter
    will let the request go again (the server itself often does not say)."""
    until = provider.session.refused_until
    if (
        isinstance(error, RateLimitError)
        and error.from_server
        and error.reset_at is None
        and until is not None
        and until > now
    ):
        return error.rephrased(
            f"{error.message}; the next try is allowed {describe(until, now)}",
            hint="try again then, or see `uploader limits`",
            reset_at=until,
        )
    return error


def retry_wait_text(wait: float) -> str:
    """``retrying in 1.3 s``; after a rate-limit refusal the wait is the limiter's, which
    says so itself (``waiting N s for ...``)."""
    return f"retrying in {wait:.1f} s" if wait > 0 else "retrying once the limiter allows"
