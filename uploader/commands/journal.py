"""The history's part in a batch: the journal written around every send (issue 12).

For each file: its content is hashed (``imaging/content.py``: read once, the bytes hashed
are the bytes sent); with ``--skip-existing`` the history is asked first; then a ``pending``
row is committed before the request that sends the body, and completed after the answer.
A run killed at any instant leaves every file known uploaded, known not sent (``failed``),
or ``pending``: it may exist.

An earlier row of the same content and account that is ``pending`` or ``ambiguous`` (its
answer never came) may be an upload on the server. It is never re-sent silently: with
``--skip-existing`` the account's listing is asked (where it can be) under the recovery
rules of ``providers/recovery.py``: proven there, the file is ``existing``; proven absent, it
is sent; otherwise it is ambiguous and re-sent only with ``--retry-ambiguous``, its record
then saying it may exist twice. Without ``--skip-existing`` the file is sent (the user asked
for a new upload) and its record says an earlier copy may exist.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from uploader.commands.history import reader
from uploader.errors import (
    AmbiguousUploadError,
    InterruptedUploadError,
    UploaderError,
    UsageError,
)
from uploader.history.store import Entry, History, Target
from uploader.imaging.content import fingerprint
from uploader.models import ImageFile, UploadResult
from uploader.output import one_line
from uploader.providers.recovery import ADVICE, RunClaims, Window
from uploader.timewords import span

if TYPE_CHECKING:
    from uploader.commands.runtime import Runtime
    from uploader.config.settings import Profile
    from uploader.providers.base import Provider

# How long after its row was written an upload killed in flight may have been created:
# the longest an attempt and its retries run (on the local clock), with room to spare.
FLIGHT = 300.0
UNSETTLED = ("pending", "ambiguous")


@dataclass
class Journal:
    """The history of one batch's target (profile, kind, base URL, account)."""

    history: History
    target: Target
    skip_existing: bool = False
    retry_ambiguous: bool = False
    clock: Callable[[], float] = field(default=lambda: 0.0)
    _claimed: set[str] | None = None

    # The row of each file's last attempt (by the file's object), for the end-of-batch look.
    _rows: dict[int, int] = field(default_factory=dict)
    # Contents being uploaded by a thread of the batch: the same content waits its turn.
    _busy: dict[str, threading.Event] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _finished: set[int] = field(default_factory=set)  # rows a worker completed

    @property
    def enabled(self) -> bool:
        return self.history.enabled

    def prepare(self, image: ImageFile) -> ImageFile:
        """``image`` hashed (and held) when the history is on; as it is otherwise."""
        return fingerprint(image) if self.enabled else image

    def interrupted(self, image: ImageFile | UploaderError, *, sent: bool) -> None:
        """Ctrl-C while ``image`` was in flight: its row says whether it may exist."""
        row = self._rows.get(id(image))
        with self._lock:  # a worker may be completing the row this very moment
            if row is None or row in self._finished:
                return  # the worker's own outcome stands
            if sent:
                self.history.finish(row, "ambiguous", error="interrupted while uploading")
            else:
                self.history.finish(row, "failed", error="interrupted before it was sent")

    def moved(self, old: ImageFile, new: ImageFile) -> None:
        """``new`` stands for ``old`` from now on (the same file without its bytes)."""
        with self._lock:
            row = self._rows.pop(id(old), None)
            if row is not None:
                self._rows[id(new)] = row

    def recovered(self, image: ImageFile, result: UploadResult) -> None:
        """A file left ambiguous was proven uploaded after all (end of the batch)."""
        row = self._rows.get(id(image))
        if row is not None:
            self._done(row, result)

    def resend(
        self,
        image: ImageFile,
        provider: Provider,
        send: Callable[[ImageFile], UploadResult],
    ) -> UploadResult:
        """Send again a file whose earlier attempt the listing proved absent."""
        row = self._rows.get(id(image))
        if row is not None:
            self.history.finish(
                row, "failed", error="not created: the account's listing proved it absent"
            )
        return self._send(image, provider, send, twice=None)

    def claimed(self) -> set[str]:
        """Remote ids the history gives to some file (read once per batch, when needed)."""
        if self._claimed is None:
            self._claimed = self.history.claimed_ids(self.target) if self.enabled else set()
        return self._claimed

    def run(
        self,
        image: ImageFile,
        provider: Provider,
        send: Callable[[ImageFile], UploadResult],
        claims: RunClaims,
    ) -> UploadResult:
        """Upload ``image`` with ``send`` under the journal; the history's answer instead
        when ``--skip-existing`` finds it there. Errors propagate after the row is done."""
        if not self.enabled:
            return send(image)
        image = fingerprint(image)
        assert image.sha256 is not None
        turn = self._turn(image.sha256)
        try:
            return self._run(image, provider, send, claims)
        finally:
            with self._lock:
                del self._busy[image.sha256]
            turn.set()

    def _turn(self, sha256: str) -> threading.Event:
        """Wait while another thread of the batch uploads the same content (its outcome
        decides this one's: existing, or a new upload after it), then take the turn."""
        while True:
            with self._lock:
                other = self._busy.get(sha256)
                if other is None:
                    mine = self._busy[sha256] = threading.Event()
                    return mine
            other.wait()

    def _run(
        self,
        image: ImageFile,
        provider: Provider,
        send: Callable[[ImageFile], UploadResult],
        claims: RunClaims,
    ) -> UploadResult:
        assert image.sha256 is not None
        earlier = self.history.existing(self.target, image.sha256)
        uploaded = [entry for entry in earlier if entry.status == "uploaded" and entry.url]
        unsettled = [entry for entry in earlier if entry.status in UNSETTLED]
        if self.skip_existing and uploaded:
            return existing_result(image.label, self.target.profile, uploaded[0])
        if unsettled and self.skip_existing:
            found, unsettled = self._settle(image, unsettled, provider, claims)
            if found is not None:
                return found
        # Sent while an earlier copy may exist: allowed (a new upload was asked for, or
        # --retry-ambiguous given), never silent.
        twice = (
            f"uploaded, but an earlier upload of this content ({self._when(unsettled[0])}) "
            "never got its answer: it may exist twice"
            if unsettled
            else None
        )
        return self._send(image, provider, send, twice=twice)

    def _send(
        self,
        image: ImageFile,
        provider: Provider,
        send: Callable[[ImageFile], UploadResult],
        *,
        twice: str | None,
    ) -> UploadResult:
        """Write the pending row, send, complete the row."""
        assert image.sha256 is not None
        row = self.history.begin(
            self.target,
            sha256=image.sha256,
            size=image.size,
            path=image.label,
            resolved=None if image.spooled or image.label == "-" else str(image.source.resolve()),
        )
        if row is not None:
            self._rows[id(image)] = row
        sent_before = provider.session.requests_sent
        try:
            result = send(image)
        except UploaderError as exc:
            self._failed(row, exc)
            raise
        except KeyboardInterrupt:
            if provider.session.requests_sent > sent_before:
                self.history.finish(row, "ambiguous", error="interrupted while uploading")
            else:
                self.history.finish(row, "failed", error="interrupted before it was sent")
            raise
        if twice and not result.ambiguous:
            result = replace(result, ambiguous=True, error=twice)
        self._done(row, result)
        return result

    def _done(self, row: int | None, result: UploadResult) -> None:
        with self._lock:
            self.history.finish(
                row,
                "uploaded",
                remote_id=result.id or None,
                url=result.url or None,
                delete_id=result.delete_id or None,
                error=result.error,
                ambiguous=result.ambiguous,
                extra=result.extra,
            )
            if row is not None:
                self._finished.add(row)
        if result.id:
            self.claimed().add(result.id)

    def _failed(self, row: int | None, exc: UploaderError) -> None:
        maybe = isinstance(exc, AmbiguousUploadError | InterruptedUploadError)
        with self._lock:
            self.history.finish(
                row,
                "ambiguous" if maybe else "failed",
                remote_id=exc.created_id,
                delete_id=exc.created_delete_id,
                error=one_line(exc.message),
            )
            if row is not None:
                self._finished.add(row)
        if exc.created_id:
            self.claimed().add(exc.created_id)

    def _settle(
        self,
        image: ImageFile,
        unsettled: list[Entry],
        provider: Provider,
        claims: RunClaims,
    ) -> tuple[UploadResult | None, list[Entry]]:
        """Ask the listing about earlier unsettled uploads of this content: the one proven
        (its row completed, reported ``existing``), or None and the rows still unsettled
        (those proven absent are marked failed). A row that cannot be settled raises
        AmbiguousUploadError, unless ``--retry-ambiguous`` lets the file go again."""
        left: list[Entry] = []
        for entry in unsettled:
            try:
                found = self._look(image, entry, provider, claims)
            except AmbiguousUploadError as exc:
                if not self.retry_ambiguous:
                    self.history.finish(entry.row, "ambiguous", error=one_line(exc.message))
                    raise
                left.append(entry)  # sent again: its record says it may exist twice
                continue
            if found is not None:
                self.history.finish(
                    entry.row,
                    "uploaded",
                    remote_id=found.id or None,
                    url=found.url or None,
                    delete_id=found.delete_id or None,
                    extra=found.extra,
                )
                if found.id:
                    claims.claimed.add(found.id)
                    self.claimed().add(found.id)
                return replace(found, path=image.label, status="existing", error=None), left
            self.history.finish(
                entry.row, "failed", error="not created: the account's listing proved it absent"
            )
        return None, left

    def _look(
        self, image: ImageFile, entry: Entry, provider: Provider, claims: RunClaims
    ) -> UploadResult | None:
        """One earlier row through the listing (recovery rules); AmbiguousUploadError when
        the listing cannot tell, or cannot be asked."""
        when = self._when(entry)
        if not provider.can_find_uploads():
            raise AmbiguousUploadError(
                f"{image.label}: an earlier upload of this content ({when}) never got its "
                "answer and may exist; this account's uploads cannot be listed to tell",
                hint=ADVICE,
            )
        claims.claimed |= self.claimed()
        window = Window(entry.time, max(entry.updated, entry.time) + FLIGHT)
        try:
            return provider.find_upload(image, window=window, claims=claims)
        except AmbiguousUploadError:
            raise
        except UploaderError as exc:
            raise AmbiguousUploadError(
                f"{image.label}: an earlier upload of this content ({when}) may exist and "
                f"the lookup among recent uploads failed ({one_line(exc.message)})",
                hint=ADVICE,
            ) from exc

    def _when(self, entry: Entry) -> str:
        return f"started {span(self.clock() - entry.time)} ago"


def existing_result(label: str, profile: str, entry: Entry) -> UploadResult:
    """What ``--skip-existing`` reports for a file the history knows: the stored link,
    exactly as the fresh upload printed it, with status ``existing``."""
    return UploadResult(
        path=label,
        provider=profile,
        status="existing",
        id=entry.remote_id,
        url=entry.url,
        delete_id=entry.delete_id,
        extra=entry.extra,
    )


def open_journal(
    profile: Profile,
    provider: Provider,
    runtime: Runtime,
    *,
    keep: bool,
    skip_existing: bool,
    retry_ambiguous: bool,
) -> Journal:
    """The journal of a batch to ``profile`` (its account: the credential's identity, a
    hash); ``keep`` False (``--no-history``): nothing is recorded or looked up."""
    if skip_existing and not keep:
        raise UsageError(
            "--skip-existing needs the upload history, which is off",
            hint="drop --no-history (or set `history = true` in [defaults])",
        )
    history = reader(runtime) if keep else History(None)
    target = Target(profile.name, profile.kind, profile.base_url, provider.credential.identity)
    return Journal(
        history,
        target,
        skip_existing=skip_existing,
        retry_ambiguous=retry_ambiguous,
        clock=runtime.clock,
    )
