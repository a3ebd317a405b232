"""Looking for a lost upload in the account's listing, now and once more at the end of
the batch (README "Retries").

:func:`lookup` asks the listing while a lost answer's upload is looked for (again after
each of ``waits`` while the listing cannot tell yet). A file it leaves ambiguous with a
provider that lists uploads gets one more look at the END of the batch, when the listing
has had the whole batch's time to catch up (:class:`HeldLines`): proven, it is reported
uploaded (``recovered``); proven absent, it is sent again (nothing can be duplicated);
otherwise it stays ambiguous. So that line N still belongs to the Nth path, the lines from
the first such file on are held until then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from uploader.errors import (
    AmbiguousUploadError,
    ExitCode,
    NetworkError,
    OutputClosedError,
    OutputError,
    ServerError,
    UnreadableAnswerError,
    UploaderError,
)
from uploader.output import one_line
from uploader.providers.recovery import ADVICE, RunClaims, Window

if TYPE_CHECKING:
    from uploader.commands.runtime import Runtime
    from uploader.models import ImageFile, UploadResult
    from uploader.providers.base import Provider

# Waits between lookups while a lagging listing catches up (bounded: 1 + 3 lookups).
LOOKUP_WAITS = (1.0, 2.0, 4.0)
# At most this many files get the end-of-batch look (one listing request each).
MAX_RECHECKS = 50

Emit = Callable[["UploadResult", UploaderError | None], None]


def lookup(
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
    claims.load()  # the history's claims too: never another file's upload
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


class HeldLines:
    """The batch's ``emit``, holding every line from the first file that a listing could
    not settle until :meth:`recheck` has looked at the listing once more.

    ``enabled`` is False where nothing can be rechecked (no listing, or
    ``--retry-ambiguous``: such files were sent again already). Used as a context manager:
    lines still held when the batch ends early (Ctrl-C) are written on the way out.
    """

    def __init__(
        self, emit: Emit, provider: Provider, claims: RunClaims, runtime: Runtime, *, enabled: bool
    ) -> None:
        self.emit = emit
        self.provider = provider
        self.claims = claims
        self.runtime = runtime
        self.enabled = enabled and provider.can_find_uploads()
        self.held: list[tuple[UploadResult, UploaderError | None]] | None = None

    def __call__(self, result: UploadResult, error: UploaderError | None) -> None:
        if self.held is None and self.enabled and isinstance(error, AmbiguousUploadError):
            self.held = []
        if self.held is None:
            self.emit(result, error)
            return
        if len(self.held) == 1:  # the batch goes on after the unsettled file: say why
            first = self.held[0][0].path
            self.runtime.notify(
                f"{'standard input' if first == '-' else first}: the listing cannot tell "
                "yet whether its upload exists; it is looked at again at the end of the "
                "batch, and the results are held until then"
            )
        self.held.append((result, error))

    def __enter__(self) -> HeldLines:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.held:
            try:
                self.flush()
            except OutputError:
                if kind is None:
                    raise  # else what is on its way out (Ctrl-C) says more

    def recheck(
        self,
        images: Sequence[ImageFile | UploaderError],
        results: list[UploadResult],
        codes: list[ExitCode],
        *,
        send: Callable[[ImageFile], UploadResult],
        fail: Callable[[str, UploaderError], UploadResult],
        found: Callable[[ImageFile, UploadResult], None] = lambda _image, _result: None,
    ) -> None:
        """One more look for each file left ambiguous after a lost answer (in input order,
        at most MAX_RECHECKS); ``results`` and ``codes`` are updated in place; then the
        held lines are written."""
        if not self.enabled:
            self.flush()
            return
        sent = [
            index
            for index, item in enumerate(images[: len(results)])
            if not isinstance(item, UploaderError) and results[index].status != "skipped"
        ]
        # Only files after which the batch went on: the listing has had time since their
        # last look (a lone file was just looked for, for 7 s), and the later uploads are
        # what can show that it has caught up past them.
        due = [
            (index, item)
            for index, item in enumerate(images)
            if not isinstance(item, UploaderError)
            and index < len(results)
            and id(item) in self.claims.lost
            and results[index].status == "failed"
            and results[index].ambiguous
            and sent
            and sent[-1] > index
        ]
        outcomes: dict[int, tuple[UploadResult, UploaderError | None]] = {}
        for index, image in due[:MAX_RECHECKS]:
            window = self.claims.lost[id(image)]
            try:
                proven = lookup(self.provider, image, window, self.claims, self.runtime, ())
                if proven is None:
                    # Proven absent: it was never stored, so sending it again duplicates
                    # nothing (its own lost answers are handled as on the first pass).
                    self.runtime.debug(f"{image.label}: proven absent; sending it again")
                    proven = send(image)
                else:
                    found(image, proven)  # the history's row: uploaded after all
            except AmbiguousUploadError as exc:  # still cannot tell: its record stands
                self.runtime.debug(f"at the end of the batch: {one_line(exc.message)}")
                continue
            except UploaderError as exc:
                outcomes[index] = (fail(results[index].path, exc), exc)
            else:
                outcomes[index] = (proven, None)
                if proven.id:
                    self.claims.claimed.add(proven.id)
            unresolved = self.claims.unresolved
            unresolved[:] = [other for other in unresolved if other is not image]
        for index, (result, error) in outcomes.items():
            results[index] = result
            codes[index] = ExitCode.OK if error is None else error.exit_code
        if self.held is not None:
            first = len(results) - len(self.held)
            self.held = [outcomes.get(first + n, pair) for n, pair in enumerate(self.held)]
        self.flush()

    def flush(self) -> None:
        """Write the held lines; when standard output fails, the error names every
        uploaded file whose link was not printed."""
        held, self.held = self.held or [], None
        for done, (result, error) in enumerate(held):
            try:
                self.emit(result, error)
            except OutputClosedError as exc:
                lost = [
                    f"{'standard input' if r.path == '-' else r.path}: {r.url}"
                    + (f" (delete id {r.delete_id})" if r.delete_id else "")
                    for r, e in held[done:]
                    if e is None and r.url and r.status != "failed"
                ]
                message = f"standard output could not be written ({exc.reason})"
                if lost:
                    message += "; links of uploaded files not printed: " + "; ".join(lost)
                raise OutputError(
                    message,
                    hint="keep the links printed here (signed in, `uploader list` also "
                    "shows them); next time, run it with standard output going to a "
                    "terminal, a file with room or a reader of every line",
                ) from exc
