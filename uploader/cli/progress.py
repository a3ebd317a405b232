"""The progress display of a batch on a terminal, and its end-of-batch summary (issue 13).

Shown only for a batch (more than one file) whose stderr is a terminal, without ``-q``
(``cli/upload.py`` decides, and imports this module only then: the hotkey path never
loads it). One line on stderr, redrawn in place: a bar (click's progress bar formats it)
then files done/total, bytes done/total, the rate, the ETA and, while the rate limiter
holds the batch, its latest notice (``waiting 41 s for ...``, ``pacing: ...``) instead of a
line of its own. It follows the files as they complete, not as their lines are printed.
Any other line written to stderr meanwhile (errors, warnings) goes through :attr:`stream`:
the display line is cleared, the line written, the display drawn again below it.
At the end, :meth:`close` replaces the display with one summary line. A terminal that
cannot redraw a line in place (``TERM=dumb``, an editor's shell buffer) gets no display,
only the summary line, and the limiter's waits as lines of their own.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO, cast

import click

from uploader.commands.batch import Slot
from uploader.models import ImageFile, UploadResult

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

CLEAR = "\r\033[K"  # back to the start of the line, erase it
BAR_WIDTH = 20
# A limiter notice that holds the batch: shown in the display while it lasts.
_WAIT = re.compile(r"^(?:pacing: )?waiting (\d+) s\b")


class Progress:
    """The display on ``err`` (a terminal); ``clock`` and ``columns`` are for tests;
    ``live`` false: no display, only the summary at the end (a dumb terminal)."""

    def __init__(
        self,
        err: TextIO,
        *,
        clock: Callable[[], float] = time.monotonic,
        columns: int | None = None,
        live: bool = True,
    ) -> None:
        self.err = err
        self.clock = clock
        self.columns = columns
        self.live = live
        self.start = clock()
        self.stream = self.above(err)
        self._lock = threading.RLock()
        self._shown = False  # the display line is on the screen now
        self._closed = False
        self._last = ""
        self._bar: ProgressBar[int] | None = None
        self.files = (0, 0)  # done, total
        self.bytes = (0, 0)
        self.reason: str | None = None
        self._reason_until: float | None = None

    # -- input ---------------------------------------------------------------------------

    def watch(self, slots: Sequence[Slot]) -> None:
        """The batch's state (its calling thread, each wakeup and after each line)."""
        sizes = [s.item.size if isinstance(s.item, ImageFile) else 0 for s in slots]
        done = [s.done.is_set() for s in slots]
        files = (sum(done), len(slots))
        size = (sum(n for n, d in zip(sizes, done, strict=True) if d), sum(sizes))
        with self._lock:
            if files[0] > self.files[0] and self._reason_until is None:
                self.reason = None  # a notice with no duration lasts until a file completes
            self.files, self.bytes = files, size
            self._draw()

    def notify(self, fallback: Callable[[str], None]) -> Callable[[str], None]:
        """``Runtime.notify`` for the batch: the limiter's waits go into the display, any
        other notice to ``fallback`` (a line on stderr)."""
        if not self.live:
            return fallback

        def notice(message: str) -> None:
            match = _WAIT.match(message)
            if match is None:
                fallback(message)
                return
            with self._lock:
                self.reason = message
                self._reason_until = self.clock() + int(match.group(1))
                self._draw()

        return notice

    # -- output --------------------------------------------------------------------------

    def text(self, *, short: bool = False) -> str:
        """The display line, without the bar; ``short``: without the rate and the ETA
        when there is a wait to show (a narrow terminal)."""
        now = self.clock()
        if self._reason_until is not None and now >= self._reason_until:
            self.reason, self._reason_until = None, None
        (done, total), (done_b, total_b) = self.files, self.bytes
        elapsed = now - self.start
        parts = [f"{done}/{total} files", f"{_size(done_b)}/{_size(total_b)}"]
        if short and self.reason:
            return "  ".join([*parts, self.reason])
        if done and elapsed > 0:
            if total_b / max(total, 1) >= 1_000_000:
                parts.append(f"{done_b / elapsed / 1e6:.1f} MB/s")
            else:
                parts.append(f"{done / elapsed:.1f} files/s")
            if done_b and total_b:
                left = (total_b - done_b) / (done_b / elapsed)
            else:
                left = (total - done) / (done / elapsed)
            parts.append(f"ETA {_duration(left)}")
        else:
            parts += ["-- files/s", "ETA --"]
        if self.reason:
            parts.append(self.reason)
        return "  ".join(parts)

    def line(self) -> str:
        """The whole display line: the bar, then :meth:`text`, to fit the terminal (a
        narrow one loses the rate and the ETA, then the bar, before a wait's words)."""
        done, total = self.files
        if self._bar is None:
            self._bar = click.progressbar(
                length=max(total, 1),
                file=self.err,
                bar_template="[%(bar)s] %(info)s",
                show_eta=False,
                show_percent=False,
                width=BAR_WIDTH,
            )
        self._bar.length = max(total, 1)
        self._bar.pos = done
        bar = self._bar.format_progress_line()  # the bar alone: no info to format
        width = max(self._columns() - 1, 1)  # never wraps: \r would not reach the row above
        text = self.text()
        for line in (f"{bar} {text}", f"{bar} {self.text(short=True)}"):
            if len(line) <= width:
                return line
        return self.text(short=True)[:width].rstrip()

    def _columns(self) -> int:
        if self.columns:
            return self.columns
        try:
            columns = os.get_terminal_size(self.err.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        return columns or shutil.get_terminal_size().columns  # $COLUMNS, else 80

    def _draw(self) -> None:
        if self._closed or not self.live or self.files[1] <= 1:  # one file is no batch
            return
        line = self.line()
        if self._shown and line == self._last:
            return  # unchanged: the terminal is not written (the batch wakes 5 times a second)
        try:
            self.err.write(CLEAR + line)
            self.err.flush()
        except (OSError, ValueError):  # the terminal is gone: the upload goes on without it
            self._closed = True
            return
        self._shown, self._last = True, line

    def above(self, stream: TextIO) -> TextIO:
        """``stream`` (stderr; stdout too when it is a terminal, most likely this one) with
        each line written above the display: the display line is cleared first, whole lines
        written, the display drawn again below them on flush."""
        return cast(TextIO, _Above(self, stream))

    def clear(self) -> None:
        with self._lock:
            if self._shown:
                self._shown = False
                try:
                    self.err.write(CLEAR)
                    self.err.flush()  # before a line on another stream to the same terminal
                except (OSError, ValueError):  # the terminal is gone
                    self._closed = True

    def redraw(self) -> None:
        with self._lock:
            if not self._shown:
                self._draw()

    def close(self, results: Sequence[UploadResult]) -> None:
        """The display gone; the summary line in its place (a batch of files reported)."""
        with self._lock:
            self.clear()
            if results and self.files[1] > 1:
                self.err.write(summary(results, self.clock() - self.start) + "\n")
            self._closed = True  # nothing more is drawn
            self.err.flush()


def summary(results: Sequence[UploadResult], elapsed: float) -> str:
    """``uploaded 3, existing 1, failed 2 (1 ambiguous) in 12.3 s``: uploaded always, the
    other counts only when not zero; a minute or more as ``2 min 05 s``, ``1 h 02 min``."""
    counts = dict.fromkeys(("uploaded", "existing", "skipped", "failed"), 0)
    for result in results:
        counts[result.status] += 1
    ambiguous = sum(1 for r in results if r.status == "failed" and r.ambiguous)
    parts = [f"{status} {n}" for status, n in counts.items() if n or status == "uploaded"]
    if ambiguous:
        parts[-1] += f" ({ambiguous} ambiguous)"
    took = f"{elapsed:.1f} s" if elapsed < 59.95 else _duration(elapsed)
    return f"{', '.join(parts)} in {took}"


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    if n < 1_000_000_000:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e9:.2f} GB"


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


class _Above(io.TextIOBase):
    """A stream while the display is shown: each line written goes above the display."""

    def __init__(self, progress: Progress, target: TextIO) -> None:
        super().__init__()
        self._progress = progress
        self.target = target

    def write(self, text: str) -> int:
        progress = self._progress
        with progress._lock:
            progress.clear()
            return self.target.write(text)

    def flush(self) -> None:
        progress = self._progress
        with progress._lock:
            self.target.flush()
            progress.redraw()

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")
