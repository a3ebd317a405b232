"""The batch engine: N files at once, results in input order (issue 13).

``jobs`` workers take the files in input order, each through ``work`` (one file: its
journal row, its attempts, its recovery); the calling thread writes each result through
``emit`` as soon as every earlier file's is written, so line N is always the Nth path's and
a slow file holds back only the lines after it. With one job (a single file, the hotkey
path) no thread is started: the files run in the calling thread, one after another.

The rate limiter stays the only authority on when a request may go: every worker's request
reserves there first, so N workers never send faster than the budget allows. A refusal
that every later file would meet (``halt``: rejected credentials, a budget the limiter will
not wait for) stops the dispatch: files in flight finish, the rest are reported not sent.
The first file is sent alone, the others once its line is written: its answer proves the
credentials and tells the limiter the server's figures before N requests go at once, and a
standard output that cannot be written takes no other file with it. Ctrl-C (in the
calling thread) stops the dispatch too and tells the session to send no more requests
(:attr:`Batch.cancel`); each slot then says whether it was in flight and whether a request
of it went out (:attr:`Slot.sending`).

With several workers the files still reserve in input order (:class:`_Turn`): a file's first
request that costs something asks the limiter once the file before it has asked, and
reserves only once that file has reserved (or is done). While one waits for the budget
(pacing, a window's reset) the next may wait beside it; where files will be refused
(``--on-limit fail``, ``--max-wait``) they still reserve, or are refused, in order, whichever
wakes first (``ratelimit/policy.py: Order``).
Which files a budget lets through is then the same as one at a time: when only three more
uploads fit, the next three files in the list go and the rest are not sent, whatever order
the workers finished hashing in; and a file not yet reserved when the batch stops (waiting
for its turn or for the budget) is not sent, as it would not be one at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from uploader.errors import ExitCode, InterruptedRunError, SkippedError, UploaderError
from uploader.http.session import Tracker
from uploader.models import ImageFile, UploadResult
from uploader.output import one_line

Emit = Callable[[UploadResult, UploaderError | None], None]
# Told the batch's state in the calling thread: at the start, on each wakeup while it
# waits, after each file (the progress display, cli/progress.py).
Watch = Callable[[list["Slot"]], None]
# How often the calling thread wakes while it waits for a worker (so Ctrl-C is seen).
POLL = 0.2


@dataclass(eq=False)
class Slot:
    """One input file's place in the batch."""

    index: int
    label: str
    item: ImageFile | UploaderError
    tracker: Tracker = field(default_factory=Tracker)
    started: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    result: UploadResult | None = None
    error: UploaderError | None = None
    # Set once this file has asked the limiter for its first request and reserved it or
    # waits (the next file may ask), or is done (:class:`_Turn`).
    reserved: threading.Event = field(default_factory=threading.Event)
    # Set once this file has reserved its first request, or is done: the next may reserve.
    booked: threading.Event = field(default_factory=threading.Event)

    @property
    def sending(self) -> bool:
        """In flight with a request of it handed to the network: it may exist."""
        return self.started and self.result is None and self.tracker.sent > 0


def not_sent(cause: UploaderError, *, reason: str | None = None) -> SkippedError:
    """The error of a file the batch did not send because of ``cause``."""
    why = reason or one_line(cause.message)
    return SkippedError(f"not sent: {why}", hint=None, exit_code=cause.exit_code)


class _Turn:
    """A file's place in the queue of reservations (``http/session.py: Turn``)."""

    def __init__(self, batch: Batch, slot: Slot, before: Slot | None) -> None:
        self.batch, self.slot, self.before = batch, slot, before

    def wait(self) -> None:
        self._after(None if self.before is None else self.before.reserved)

    def let_by(self) -> None:
        self.slot.reserved.set()

    def ready(self) -> bool:
        return self.before is None or self.before.booked.is_set()

    def hold(self) -> None:
        self._after(None if self.before is None else self.before.booked)

    def check(self) -> None:
        self._after(None)

    def passed(self) -> None:
        self.slot.reserved.set()
        self.slot.booked.set()

    def _after(self, event: threading.Event | None) -> None:
        """Wait for ``event`` of the file before; raise if the batch stopped meanwhile."""
        batch = self.batch
        if event is not None:
            while not event.wait(POLL) and not batch.cancel.is_set():
                pass
        if batch.cancel.is_set():
            raise InterruptedRunError("interrupted before it was sent")
        stop = batch.stop
        if stop is not None:  # an earlier file met a refusal this one would meet too
            raise not_sent(stop)


Work = Callable[[Slot, "Batch"], tuple[UploadResult, UploaderError | None]]
Skip = Callable[[Slot, UploaderError], tuple[UploadResult, UploaderError]]


class Batch:
    """Run ``work`` over ``slots`` with ``jobs`` workers; emit in input order."""

    def __init__(
        self,
        slots: list[Slot],
        work: Work,
        skip: Skip,
        emit: Emit,
        *,
        jobs: int,
        watch: Watch | None = None,
    ) -> None:
        self.slots = slots
        self.work = work
        self.skip = skip
        self.emit = emit
        self.watch = watch or (lambda _slots: None)
        self.jobs = max(1, min(jobs, sum(1 for s in slots if isinstance(s.item, ImageFile))))
        self.stop: UploaderError | None = None  # once set, no file is started
        self.cancel = threading.Event()  # Ctrl-C: no further request at all
        self.emitted = 0  # slots whose line was written, in order
        self._lock = threading.Lock()
        self._next = 0
        self._files_left = sum(1 for s in slots if isinstance(s.item, ImageFile))  # not done
        # The first file goes alone: its answer proves the credentials (a rejection stops
        # the batch after one request, not N) and gives the limiter the server's figures.
        self._opened = threading.Event()
        self._first = next((s for s in slots if isinstance(s.item, ImageFile)), None)
        if self.jobs > 1:
            before: Slot | None = None
            for slot in slots:
                if isinstance(slot.item, ImageFile):
                    slot.tracker = Tracker(_Turn(self, slot, before))
                    before = slot

    # -- for work ------------------------------------------------------------------------

    def halt(self, cause: UploaderError) -> None:
        """No further file starts: each would meet ``cause`` too."""
        with self._lock:
            if self.stop is None:
                self.stop = cause

    def pending(self) -> int:
        """Files still to be sent, this one included (the limiter's pacing): the files not
        done, those in flight in other workers too, as the limiter counts the credits they
        hold as part of what is left (``ratelimit/refusal.py``). The limiter asks each time it
        looks: a count taken once when a file started, against credits with the ones in
        flight set aside, made a batch's last window crawl (120 files, 40 per 10 s, -j 8:
        29 s instead of 20.5)."""
        return max(1, self._files_left)

    # -- running -------------------------------------------------------------------------

    def run(self) -> None:
        """Every file through ``work`` (or ``skip`` once stopped), every line emitted."""
        self.watch(self.slots)
        if self.jobs <= 1:
            for slot in self.slots:
                self._process(slot)
                self.watch(self.slots)
                self._emit_ready()
            return
        workers = [
            threading.Thread(target=self._worker, name=f"uploader-job-{n}", daemon=True)
            for n in range(self.jobs)
        ]
        for worker in workers:
            worker.start()
        while self.emitted < len(self.slots):
            slot = self.slots[self.emitted]
            # Wakes now and then, so that Ctrl-C reaches this thread while it waits.
            while not slot.done.wait(POLL):
                self.watch(self.slots)  # files done out of order show in the progress
            self.watch(self.slots)
            self._emit_ready()
        # The last files may finish between the look above and the lines written: the
        # display's last state is the whole batch done, whatever the order they ended in.
        self.watch(self.slots)

    def _worker(self) -> None:
        while not self.cancel.is_set():
            with self._lock:
                if self._next >= len(self.slots):
                    return
                slot = self.slots[self._next]
                self._next += 1
            if isinstance(slot.item, ImageFile) and slot is not self._first:
                while not self._opened.wait(POLL):
                    if self.cancel.is_set():
                        break
            self._process(slot)

    def _process(self, slot: Slot) -> None:
        try:
            if self.cancel.is_set():
                return
            stop = self.stop
            if isinstance(slot.item, ImageFile) and stop is not None:
                slot.result, slot.error = self.skip(slot, stop)
                return
            slot.started = True
            try:
                slot.result, slot.error = self.work(slot, self)
            except Exception:
                if not self.cancel.is_set():
                    raise
                # Ctrl-C or SIGTERM: the run's clean-up (its temporary files, the client)
                # may have pulled things from under this file; the interrupted run
                # accounts for it (``upload._account_interrupted``), without a traceback.
            finally:
                if isinstance(slot.item, ImageFile):
                    with self._lock:
                        self._files_left -= 1
        finally:
            slot.reserved.set()  # after a halt is set: the next file sees it
            slot.booked.set()
            slot.done.set()

    def _emit_ready(self) -> None:
        """Write every line whose turn has come (in the calling thread only)."""
        while self.emitted < len(self.slots) and self.slots[self.emitted].done.is_set():
            slot = self.slots[self.emitted]
            self.emitted += 1
            if slot.result is not None:
                self.emit(slot.result, slot.error)
            if slot is self._first:
                # Its line was written: a stdout that fails takes no other file with it.
                self._opened.set()

    def interrupt(self) -> None:
        """Ctrl-C: start nothing more, send nothing more."""
        self.cancel.set()

    def finished(self) -> list[Slot]:
        """The slots done but not yet emitted (e.g. after a failed write), in order."""
        return [s for s in self.slots[self.emitted :] if s.done.is_set() and s.result]

    def wait_for_flight(self, timeout: float) -> None:
        """After :meth:`interrupt`: wait (bounded) for the files in flight to finish; not for
        a file of which no request went out (it will send none: ``ApiSession.request``),
        such as one waiting for the budget (a pacing wait, a window's reset)."""
        for slot in self.slots:
            if slot.started and not slot.done.is_set() and slot.tracker.sent:
                slot.done.wait(timeout)

    @property
    def results(self) -> list[UploadResult]:
        """Every file's record, in input order (after :meth:`run`: each slot has one)."""
        found = [slot.result for slot in self.slots if slot.result is not None]
        assert len(found) == len(self.slots), "a file without a record"
        return found

    @property
    def codes(self) -> list[ExitCode]:
        return [
            ExitCode.OK if s.error is None else s.error.exit_code
            for s in self.slots
            if s.result is not None
        ]
