"""Console.result turns every failure to write stdout into OutputClosedError (issue 11,
section 4): a broken pipe (the reader left) and any other OSError (closed descriptor, full
disk, I/O error), a closed file object, and no stdout at all."""

from __future__ import annotations

import errno
import io

import pytest

from uploader.errors import OutputClosedError
from uploader.output import Console


class Failing(io.StringIO):
    def __init__(self, exc: Exception, *, on_flush: bool) -> None:
        super().__init__()
        self.exc = exc
        self.on_flush = on_flush

    def write(self, text: str) -> int:
        if not self.on_flush:
            raise self.exc
        return super().write(text)

    def flush(self) -> None:
        if self.on_flush:
            raise self.exc


@pytest.mark.parametrize("on_flush", [False, True])
@pytest.mark.parametrize(
    ("exc", "reason", "reader_gone"),
    [
        (BrokenPipeError(errno.EPIPE, "Broken pipe"), "broken pipe", True),
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on device", False),
        (OSError(errno.EBADF, "Bad file descriptor"), "bad file descriptor", False),
        (OSError(errno.EIO, "Input/output error"), "input/output error", False),
        (ValueError("I/O operation on closed file."), "i/o operation on closed file.", False),
    ],
)
def test_every_write_failure_is_output_closed(
    exc: Exception, reason: str, reader_gone: bool, on_flush: bool
) -> None:
    console = Console(Failing(exc, on_flush=on_flush), io.StringIO())
    with pytest.raises(OutputClosedError) as caught:
        console.result("https://i.imgur.com/x.png")
    assert (caught.value.reason, caught.value.reader_gone) == (reason, reader_gone)


def test_no_stdout_at_all_is_output_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout", None)
    console = Console(err=io.StringIO())
    assert console.out is None
    with pytest.raises(OutputClosedError) as caught:
        console.result("line")
    assert not caught.value.reader_gone
