"""The one seam between the CLI and the core: ``upload(config, request, runtime)``.

Flow (design section 3): choose the profile and its credential, check every file before any
request, build one httpx client and the profile's rate limiter, then upload the files in
input order, emitting each result as soon as it is known.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, NamedTuple

from uploader.commands.runtime import Runtime, limit_policy, open_provider
from uploader.config.settings import Config
from uploader.errors import (
    AmbiguousUploadError,
    AuthError,
    ExitCode,
    InputFileError,
    InterruptedUploadError,
    NetworkError,
    OutputClosedError,
    OutputError,
    RateLimitError,
    ServerError,
    SkippedError,
    UnreadableAnswerError,
    UploaderError,
    UsageError,
)
from uploader.http.retry import RetryEvent, RetryPolicy, call_with_retries
from uploader.imaging.inspect import inspect_path, spooled_stdin
from uploader.models import ImageFile, UploadOptions, UploadResult, UploadStatus
from uploader.output import one_line
from uploader.providers.base import check_limits
from uploader.providers.recovery import ADVICE, RunClaims, Window
from uploader.timewords import describe

if TYPE_CHECKING:
    from uploader.providers.base import Provider


@dataclass(frozen=True, eq=False, repr=False)  # lean: startup matters
class UploadRequest:
    """What the user asked for, already merged with flags, environment and config."""

    paths: tuple[str, ...]
    provider: str | None
    options: UploadOptions
    on_limit: str
    max_wait: float
    retry: RetryPolicy = field(default_factory=RetryPolicy)


Emit = Callable[[UploadResult, UploaderError | None], None]


class Outcome(NamedTuple):
    """The results in input order and the exit code they add up to."""

    results: tuple[UploadResult, ...]
    exit_code: ExitCode


def upload(config: Config, request: UploadRequest, runtime: Runtime, emit: Emit) -> Outcome:
    """Upload every path; per-file failures are emitted and folded into the exit code.

    Errors that concern the whole run (unknown profile, missing credential) are raised.
    """
    if request.paths.count("-") > 1:
        raise UsageError("'-' (standard input) can be given only once")
    policy = limit_policy(request.on_limit, request.max_wait)
    profile, provider, http = open_provider(config, request.provider, runtime, policy=policy)
    results: list[UploadResult] = []
    codes: list[ExitCode] = []
    with ExitStack() as stack:
        stack.enter_context(http)
        images: list[ImageFile | UploaderError] = []
        for label in request.paths:
            try:
                image = (
                    stack.enter_context(
                        spooled_stdin(runtime.stdin, lambda: max(provider.limits()[1:]))
                    )
                    if label == "-"
                    else inspect_path(label)
                )
                _check(provider, image)
                images.append(image)
            except InputFileError as exc:
                images.append(exc)
        remaining = sum(1 for item in images if isinstance(item, ImageFile))
        stop: UploaderError | None = None  # once set, the rest is not sent
        claims = RunClaims()  # what earlier files of the run account for (recovery)
        # While a file is being uploaded: the session's request count when it started.
        started_at: int | None = None
        try:
            for label, item in zip(request.paths, images, strict=True):
                if isinstance(item, UploaderError):
                    error: UploaderError = item
                elif stop is not None:
                    error = _not_sent(stop)
                else:
                    try:
                        started_at = provider.session.requests_sent
                        result = _upload_one(provider, item, request, remaining, runtime, claims)
                    except UploaderError as exc:
                        if isinstance(exc, AmbiguousUploadError):
                            claims.unresolved.append(item)  # its upload may exist
                        error = when_allowed(exc, provider, runtime.clock())
                        if isinstance(exc, AuthError) or (
                            isinstance(exc, RateLimitError) and not exc.from_server
                        ):
                            # Every later file would meet the same refusal (the credentials,
                            # or a budget the limiter will not wait for): sending them would
                            # only spend requests, and for Imgur the daily budget. A 429 the
                            # retries gave up on is different: the next file may get through.
                            stop = exc
                    else:
                        started_at = None
                        if result.id:  # never another file's upload
                            claims.claimed.add(result.id)
                        results.append(result)
                        codes.append(ExitCode.OK)
                        emit(result, None)
                        remaining -= 1
                        continue
                    started_at = None
                    remaining -= 1
                failed = _failure(label, profile.name, error)
                results.append(failed)
                codes.append(error.exit_code)
                emit(failed, error)
        except KeyboardInterrupt:
            # Account for every file before the interrupt goes on to the CLI (exit 130):
            # the one in flight may or may not have reached the server; the rest were not sent.
            interrupted = InterruptedUploadError(
                "interrupted while uploading: the upload may or may not have reached the server",
                hint="look for it before uploading it again",
            )
            pending = list(zip(request.paths, images, strict=True))[len(results) :]
            for index, (label, item) in enumerate(pending):
                if isinstance(item, UploaderError):
                    error = item
                elif (
                    index == 0
                    and started_at is not None
                    and provider.session.requests_sent > started_at
                ):
                    error = interrupted  # a request of it went out: it may exist
                else:
                    error = _not_sent(interrupted, reason="interrupted")
                failed = _failure(label, profile.name, error)
                results.append(failed)
                emit(failed, error)
            raise
        except OutputClosedError as exc:
            # The line of the file just done could not be printed: stop sending (every
            # later link would be lost too) and say what was lost, links included.
            raise _output_lost(exc, request.paths, images, results) from exc
    # A batch cut short by a refusal exits with that refusal's code (3 or 4), even when
    # some files went through before it: the rest still waits for the user to act.
    return Outcome(tuple(results), stop.exit_code if stop else fold_exit_codes(codes))


def _output_lost(
    exc: OutputClosedError,
    paths: Sequence[str],
    images: Sequence[ImageFile | UploaderError],
    results: Sequence[UploadResult],
) -> OutputError:
    """The error for a stdout that failed while a batch was printing: the link of the file
    whose line could not be printed (on stderr, the one place left), and the files that
    will not be sent. ``results`` ends with that file's record."""
    parts = [f"standard output could not be written ({exc.reason})"]
    last = results[-1] if results else None
    if last is not None and last.url and last.status != "failed":
        label = "standard input" if last.path == "-" else last.path
        lost = f"the link of {label}, uploaded, was not printed: {last.url}"
        if last.delete_id:
            lost += f" (delete id {last.delete_id})"
        parts.append(lost)
    unsent = [
        label
        for label, item in list(zip(paths, images, strict=True))[len(results) :]
        if isinstance(item, ImageFile)
    ]
    if unsent:
        files = "1 file was" if len(unsent) == 1 else f"{len(unsent)} files were"
        parts.append(f"{files} not sent: {', '.join(unsent)}")
    hints = []
    if len(parts) > 1 and "was not printed" in parts[1]:
        hints.append("keep the link printed here (signed in, `uploader list` also shows it)")
    where = "standard output going to a terminal, a file with room or a reader of every line"
    if unsent:
        hints.append(f"upload the files not sent again with {where}")
    else:
        hints.append(f"next time, run it with {where}")
    return OutputError("; ".join(parts), hint="; ".join(hints))


def _not_sent(cause: UploaderError, *, reason: str | None = None) -> SkippedError:
    why = reason or one_line(cause.message)
    return SkippedError(f"not sent: {why}", hint=None, exit_code=cause.exit_code)


def _failure(label: str, profile: str, error: UploaderError) -> UploadResult:
    status: UploadStatus = "skipped" if isinstance(error, SkippedError) else "failed"
    # The record has the path in its own field: the message need not repeat it.
    message = error.message.removeprefix(f"{label}: ")
    return UploadResult(
        path=label,
        provider=profile,
        status=status,
        id=error.created_id,  # e.g. Mastodon media uploaded before its status post failed
        delete_id=error.created_delete_id,
        error=message,
        ambiguous=isinstance(error, AmbiguousUploadError | InterruptedUploadError),
    )


def _check(provider: Provider, image: ImageFile) -> None:
    check_limits(image, provider.limits(), provider.display_name)


def _upload_one(
    provider: Provider,
    image: ImageFile,
    request: UploadRequest,
    pending: int,
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
        return _recover(provider, image, Window(started, lost_at), claims, runtime, waits)

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
            if provider.can_find_uploads():
                found = recover(LOOKUP_WAITS)  # AmbiguousUploadError: it cannot tell
                if found is not None:
                    return found
                lost_at = None
                # Proven absent: nothing was created, so sending again duplicates nothing.
                raise NetworkError(exc.message, sent=False) from exc
            raise AmbiguousUploadError(
                "the upload was sent but its answer was "
                f"{'lost' if isinstance(exc, NetworkError) else 'unreadable'} "
                f"({exc.message}); the image may or may not exist",
                # Only reached when the provider cannot list recent uploads (anonymous).
                hint="signed in, uploader looks for such an upload among the account's "
                "recent ones before sending again"
                + (
                    ""
                    if request.retry.retry_ambiguous
                    else "; --retry-ambiguous re-sends such uploads (they may then exist twice)"
                ),
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


# Waits between lookups while a lagging listing catches up (bounded: 1 + 3 lookups).
LOOKUP_WAITS = (1.0, 2.0, 4.0)


def _recover(
    provider: Provider,
    image: ImageFile,
    window: Window,
    claims: RunClaims,
    runtime: Runtime,
    waits: Sequence[float],
) -> UploadResult | None:
    """Ask the listing, again while it cannot tell yet: the proven upload, None when its
    absence is proven. A lookup that fails (no listing, timeout, 5xx, unreadable answer)
    or never settles it leaves the file ambiguous (AmbiguousUploadError)."""
    pauses = iter(waits)
    while True:  # bounded: one lookup per wait, and one more
        try:
            return provider.find_upload(image, window=window, claims=claims)
        except AmbiguousUploadError as exc:
            undecided: UploaderError = exc
        except UploaderError as exc:
            undecided = AmbiguousUploadError(
                f"{image.label}: the upload's answer was lost and the lookup among recent "
                f"uploads failed ({one_line(exc.message)}); the image may or may not exist",
                hint=ADVICE,
            )
            undecided.__cause__ = exc
            if not isinstance(exc, NetworkError | ServerError | UnreadableAnswerError):
                raise undecided from exc  # a 404 or a refusal: asking again will not help
        wait = next(pauses, None)
        if wait is None:
            raise undecided
        runtime.debug(f"{one_line(undecided.message)}; looking again in {wait:.0f} s")
        runtime.sleep(wait)


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


def fold_exit_codes(codes: Sequence[ExitCode]) -> ExitCode:
    """0 when all went well; 6 when some files were uploaded and some failed; when none
    was, the first failure's code that is not a file refused before sending (2), else 2."""
    failures = [code for code in codes if code != ExitCode.OK]
    if not failures:
        return ExitCode.OK
    if len(failures) < len(codes):
        return ExitCode.PARTIAL
    return next((code for code in failures if code != ExitCode.USAGE), ExitCode.USAGE)
