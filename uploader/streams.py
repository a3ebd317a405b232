"""The standard streams when they cannot be written (issue 11, section 4).

``write_line``: a result line goes out whole or raises, and a line cut short on a regular
file (a full disk, ``ulimit -f``) is taken back, so the file never ends with part of a link.
``Messages``: stderr for messages, where a failed write is dropped (there is nowhere left to
say so) and never changes the run's outcome.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from typing import TextIO


def write_line(stream: TextIO, line: str) -> None:
    """``line`` and a newline on ``stream``, flushed; an OSError unless every byte of it
    was written. Through the binary layer when there is one: with ``PYTHONUNBUFFERED`` (or
    ``-u``) the text layer writes straight to the descriptor and drops the rest of a short
    write without a word, so a link cut short on a full disk would pass as printed."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # not a file (a test's StringIO, the progress display's wrapper)
        stream.write(line + "\n")
        stream.flush()
        return
    stream.flush()  # whatever the text layer still holds goes first
    data = (line + "\n").encode(stream.encoding or "utf-8", stream.errors or "strict")
    start = _offset(buffer)
    try:
        view = memoryview(data)
        while view:
            written = buffer.write(view)
            if not written:  # None (would block) or 0: no progress is possible
                raise BlockingIOError(0, "the line could not be written whole")
            view = view[written:]
        buffer.flush()
    except BaseException:
        if start is not None:
            _take_back(buffer, start)
        raise


def write_all(fd: int, data: bytes) -> None:
    """Every byte of ``data`` to ``fd``, or an OSError: ``os.write`` may write only part
    of it (a disk that fills up), and the rest must not be dropped without a word."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "nothing could be written")
        view = view[written:]


def _offset(buffer: object) -> int | None:
    """Where the next byte goes in a regular file; None for anything else (a pipe, a
    terminal, a device), where what was written cannot be taken back."""
    try:
        fd = buffer.fileno()  # type: ignore[attr-defined]
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.lseek(fd, 0, os.SEEK_END if _appends(fd) else os.SEEK_CUR)
    except (OSError, ValueError, AttributeError):
        return None


def _appends(fd: int) -> bool:
    import fcntl  # start-up: only a result written to a regular file needs it

    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND)


def _take_back(buffer: object, start: int) -> None:
    """Cut the regular file back to ``start``: the part of the line written goes. What a
    buffered layer still holds of it is written to /dev/null at the end of the run
    (``cli._silence_stdout``: every stdout failure ends the run there)."""
    try:
        fd = buffer.fileno()  # type: ignore[attr-defined]
        os.ftruncate(fd, start)
        os.lseek(fd, start, os.SEEK_SET)
    except (OSError, ValueError, AttributeError):
        pass


class Messages(io.TextIOBase):
    """stderr for messages: a write that fails (a closed or full stderr, a terminal gone)
    is dropped, since there is nowhere left to say so; the run goes on and keeps its own
    exit code. After the first failure descriptor 2 points at /dev/null, so that logging's
    handlers and the interpreter's last flush at exit cannot fail again either."""

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self.target = target
        self.failed = False

    def write(self, text: str) -> int:
        if not self.failed:
            try:
                self.target.write(text)
            except (OSError, ValueError):
                self._give_up()
        return len(text)

    def flush(self) -> None:
        if not self.failed:
            try:
                self.target.flush()
            except (OSError, ValueError):
                self._give_up()

    def _give_up(self) -> None:
        self.failed = True
        silence(self.target)

    def isatty(self) -> bool:
        try:
            return self.target.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", None) or "utf-8"


def silence(stream: TextIO) -> None:
    """Point ``stream``'s descriptor at /dev/null after it failed, and drop what its
    buffer still holds: nothing can fail again on it (``Exception ignored`` at exit)."""
    try:
        target = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):  # not a real file (in-process runs)
        return
    try:
        os.dup2(devnull, target)
        stream.flush()  # what was buffered goes to /dev/null now
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)
