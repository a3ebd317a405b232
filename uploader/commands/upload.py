"""The one seam between the CLI and the core: ``upload(config, request, runtime)``.

Flow (design section 3): choose the profile and its credential, check every file before any
request, build one httpx client and the profile's rate limiter, then upload the files in
input order, emitting each result as soon as it is known (from a file a lagging listing
could not settle on, once the end-of-batch look is done: commands/recheck.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from uploader.commands.attempt import upload_one, when_allowed
from uploader.commands.batch import Batch, Slot, Watch, not_sent
from uploader.commands.journal import Journal, open_journal
from uploader.commands.lost import output_lost
from uploader.commands.pictures import Pictures, Reencode, defers_size
from uploader.commands.recheck import HeldLines
from uploader.commands.runtime import Runtime, limit_policy, open_provider
from uploader.commands.twins import Twins
from uploader.config.settings import Config
from uploader.errors import (
    AmbiguousUploadError,
    AuthError,
    ExitCode,
    InputFileError,
    InterruptedRunError,
    InterruptedUploadError,
    OutputClosedError,
    RateLimitError,
    SkippedError,
    UploaderError,
    UsageError,
)
from uploader.http.retry import RetryPolicy
from uploader.imaging.inspect import inspect_path, spooled_stdin
from uploader.models import ImageFile, Pending, Selection, UploadOptions, UploadResult, UploadStatus
from uploader.providers.base import check_limits
from uploader.providers.recovery import RunClaims

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
    history: bool = True  # keep the journal (``--no-history``, ``[defaults] history``)
    skip_existing: bool = False
    jobs: int = 1  # files sent at once (``-j``)
    selection: Selection = field(default_factory=Selection)  # -r, --include, ... (folders)
    strip_metadata: bool = True  # send JPEG/PNG/WebP without their metadata (imaging/strip.py)
    reencode: Reencode | None = None  # --max-dimension, --convert, --quality, --fit
    # Paths of temp copies (the clipboard's image, serve's parts and links) and the name
    # each is shown by in lines, records, messages and the history (never the temp path).
    shown: Mapping[str, str] = field(default_factory=dict)


Emit = Callable[[UploadResult, UploaderError | None], None]


class Outcome(NamedTuple):
    """The results in input order and the exit code they add up to."""

    results: tuple[UploadResult, ...]
    exit_code: ExitCode


def upload(
    config: Config,
    request: UploadRequest,
    runtime: Runtime,
    emit: Emit,
    *,
    watch: Watch | None = None,
) -> Outcome:
    """Upload every path; per-file failures are emitted and folded into the exit code.
    ``watch`` follows the batch as files complete (the progress display).

    Errors that concern the whole run (unknown profile, missing credential) are raised.
    """
    if request.paths.count("-") > 1:
        raise UsageError("'-' (standard input) can be given only once")
    paths, firsts = expand_paths(request, runtime)
    twins = Twins(emit, paths, firsts) if firsts else None  # a file named twice
    if twins is not None:
        emit = twins
        paths = tuple(twins.distinct())
    request = replace(request, paths=paths)
    policy = limit_policy(request.on_limit, request.max_wait)
    profile, provider, http = open_provider(config, request.provider, runtime, policy=policy)
    with ExitStack() as stack:
        stack.enter_context(http)
        images: list[ImageFile | UploaderError] = []
        for label in request.paths:
            shown = request.shown.get(label)
            try:
                image = (
                    stack.enter_context(
                        spooled_stdin(runtime.stdin, lambda: max(provider.limits()[1:]))
                    )
                    if label == "-"
                    else inspect_path(label)
                )
                if shown is not None:
                    image = replace(image, label=shown, spooled=True)
                _check(provider, image, sized=not defers_size(request.reencode, image))
                images.append(image)
            except InputFileError as exc:
                images.append(
                    exc if shown is None else exc.rephrased(exc.message.replace(label, shown))
                )
        journal = open_journal(
            profile,
            provider,
            runtime,
            keep=request.history,
            skip_existing=request.skip_existing,
            retry_ambiguous=request.retry.retry_ambiguous,
        )
        stack.callback(journal.history.close)
        # What the other files of the run, and the history, account for (recovery).
        claims = RunClaims(history=journal.claimed)
        retry_ambiguous = request.retry.retry_ambiguous
        emit = stack.enter_context(
            HeldLines(emit, provider, claims, runtime, enabled=not retry_ambiguous)
        )
        files = _Files(request, profile.name, provider, runtime, journal, claims)
        stack.callback(files.pictures.close)
        slots = [
            Slot(n, request.shown.get(label, label), item)
            for n, (label, item) in enumerate(zip(request.paths, images, strict=True))
        ]
        batch = Batch(slots, files.work, files.skip, emit, jobs=request.jobs, watch=watch)
        provider.session.cancel = batch.cancel
        try:
            batch.run()
            results = batch.results
            codes = batch.codes
            items = [slot.item for slot in slots]
            if batch.stop is None:  # a file a lagging listing left ambiguous: one more look
                emit.recheck(
                    items,
                    results,
                    codes,
                    send=lambda image: journal.resend(image, provider, files.sender(1)),
                    fail=files.fail,
                    found=journal.recovered,
                )
        except KeyboardInterrupt:
            batch.interrupt()
            _account_interrupted(batch, files, journal, emit)
            raise
        except OutputClosedError as exc:
            # The line of the file just done could not be printed: stop sending (every
            # later link would be lost too) and say what was lost, links included.
            batch.interrupt()
            batch.wait_for_flight(FLIGHT_WAIT)
            raise output_lost(exc, slots, batch, recorded=journal.enabled) from exc
    # A batch cut short by a refusal exits with that refusal's code (3 or 4), even when
    # some files went through before it: the rest still waits for the user to act.
    stop = batch.stop
    if twins is not None:
        results = twins.merge(results)
    return Outcome(tuple(results), stop.exit_code if stop else fold_exit_codes(codes))


# After a write to stdout failed: how long to wait for the files in flight (their links go
# in the error message).
FLIGHT_WAIT = 120.0


class _Files:
    """What the batch does with one file (``work``, in whichever thread runs it)."""

    def __init__(
        self,
        request: UploadRequest,
        profile: str,
        provider: Provider,
        runtime: Runtime,
        journal: Journal,
        claims: RunClaims,
    ) -> None:
        self.request = request
        self.profile = profile
        self.provider = provider
        self.runtime = runtime
        self.journal = journal
        self.claims = claims
        self._lock = threading.Lock()
        self.pictures = Pictures(
            strip=request.strip_metadata,
            reencode=request.reencode,
            limits=provider.limits(),
            debug=runtime.debug,
        )

    def sender(self, pending: Pending) -> Callable[[ImageFile], UploadResult]:
        return partial(
            upload_one,
            self.provider,
            request=self.request,
            pending=pending,
            runtime=self.runtime,
            claims=self.claims,
        )

    def fail(self, label: str, error: UploaderError) -> UploadResult:
        return _failure(label, self.profile, error)

    def skip(self, slot: Slot, cause: UploaderError) -> tuple[UploadResult, UploaderError]:
        error = not_sent(cause)
        return self.fail(slot.label, error), error

    def work(self, slot: Slot, batch: Batch) -> tuple[UploadResult, UploaderError | None]:
        try:
            return self._work(slot, batch)
        finally:
            # The bytes held to hash and send it go once it is done: a batch of thousands
            # of photos must not keep every one until the last line is written. A file
            # whose answer was lost keeps them for the end-of-batch look (rare).
            done = slot.item
            if isinstance(done, ImageFile) and id(done) not in self.claims.lost:
                done.let_go()

    def _work(self, slot: Slot, batch: Batch) -> tuple[UploadResult, UploaderError | None]:
        item = slot.item
        if isinstance(item, UploaderError):
            return self.fail(slot.label, item), item
        provider = self.provider
        unresolved = self.claims.unresolved
        try:
            # Hashed for the history: from here on, this object is the file.
            item = slot.item = self.journal.prepare(item)
            item = slot.item = self.pictures.prepare(item)
            with self._lock:
                unresolved.append(item)  # in flight: its upload may exist, id unknown
            provider.session.track(slot.tracker)
            # Before the journal's lock on this content: a later file with the same
            # content must not hold it while it waits behind this one.
            slot.tracker.wait_turn()
            result = self.journal.run(item, provider, self.sender(batch.pending), self.claims)
        except UploaderError as exc:
            if not isinstance(exc, AmbiguousUploadError):
                self._settled(item)
            error = when_allowed(exc, provider, self.runtime.clock())
            if isinstance(exc, AuthError) or (
                isinstance(exc, RateLimitError) and not exc.from_server
            ):
                # Every later file would meet the same refusal (the credentials, or a
                # budget the limiter will not wait for): sending them would only spend
                # requests, and for Imgur the daily budget. A 429 the retries gave up on
                # is different: the next file may get through.
                batch.halt(exc)
            return self.fail(slot.label, error), error
        finally:
            provider.session.track(None)
        with self._lock:
            if result.id:  # never another file's upload
                self.claims.claimed.add(result.id)
        self._settled(item)
        if item.plan is not None and result.status == "uploaded":
            result = replace(result, stripped=True)
        return result, None

    def _settled(self, item: ImageFile | UploaderError) -> None:
        with self._lock:
            unresolved = self.claims.unresolved
            unresolved[:] = [other for other in unresolved if other is not item]


def _account_interrupted(batch: Batch, files: _Files, journal: Journal, emit: Emit) -> None:
    """Ctrl-C: a record for every file not yet written, before the interrupt goes on to
    the CLI (exit 130): a file done keeps its result; one in flight (or stopped by it before
    its next request) whose request went out may or may not have reached the server; the
    rest were not sent."""
    interrupted = InterruptedUploadError(
        "interrupted while uploading: the upload may or may not have reached the server",
        hint="look for it before uploading it again",
    )
    for slot in batch.slots[batch.emitted :]:
        result, error = slot.result, slot.error
        if isinstance(slot.item, UploaderError):
            result, error = files.fail(slot.label, slot.item), slot.item
        elif result is None or not slot.done.is_set() or type(error) is InterruptedRunError:
            maybe = slot.sending or (result is not None and slot.tracker.sent > 0)
            error = interrupted if maybe else not_sent(interrupted, reason="interrupted")
            journal.interrupted(slot.item, sent=maybe)
            result = files.fail(slot.label, error)
        emit(result, error)


def expand_paths(
    request: UploadRequest, runtime: Runtime
) -> tuple[tuple[str, ...], Mapping[int, int]]:
    """The files to upload, in order: the folders named expanded (``imaging/walk.py``),
    before any check; what was skipped is told on stderr. Raises InputFileError when
    folders were named and nothing is left (exit 2, nothing sent). Also the twins: a file
    named again -> its first name's place (``commands/twins.py``)."""
    chosen = request.selection
    if len(request.paths) == 1 and not (chosen.include or chosen.exclude):
        label = request.paths[0]
        if label == "-" or not os.path.isdir(os.path.expanduser(label)):
            return request.paths, {}  # one file (the hotkey): nothing to expand
    from uploader.imaging.walk import expand  # start-up: only runs that may walk need it

    expansion = expand(
        request.paths,
        recursive=chosen.recursive,
        include=chosen.include,
        exclude=chosen.exclude,
        hidden=chosen.hidden,
        debug=runtime.debug,
    )
    expansion.tell(runtime.notify, runtime.debug)
    return expansion.paths, expansion.twins


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


def _check(provider: Provider, image: ImageFile, *, sized: bool = True) -> None:
    """The provider's type and size rules, up front; ``sized`` false: the size is judged
    once the picture is re-encoded (``--max-dimension``, ``--fit``...)."""
    limits = provider.limits()
    if not sized:
        limits = limits._replace(max_image_size=1 << 62)
    check_limits(image, limits, provider.display_name)


def fold_exit_codes(codes: Sequence[ExitCode]) -> ExitCode:
    """0 when all went well; 6 when some files were uploaded and some failed; when none
    was, the first failure's code that is not a file refused before sending (2), else 2."""
    failures = [code for code in codes if code != ExitCode.OK]
    if not failures:
        return ExitCode.OK
    if len(failures) < len(codes):
        return ExitCode.PARTIAL
    return next((code for code in failures if code != ExitCode.USAGE), ExitCode.USAGE)
