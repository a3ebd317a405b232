"""The progress display's text and the summary line (issue 13 item 3): a fake clock, a
fake terminal (a StringIO whose isatty is True)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from uploader.cli.progress import CLEAR, Progress, summary
from uploader.commands.batch import Batch, Slot
from uploader.errors import InputFileError, UploaderError
from uploader.models import ImageFile, UploadResult, UploadStatus


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _slot(n: int, size: int, *, done: bool = False) -> Slot:
    item = ImageFile(Path(f"/x/{n}.png"), f"{n}.png", f"{n}.png", size, "image/png")
    slot = Slot(n, f"{n}.png", item)
    if done:
        slot.done.set()
    return slot


def _display(columns: int = 200) -> tuple[Progress, Terminal, Clock]:
    terminal, clock = Terminal(), Clock()
    return Progress(terminal, clock=clock, columns=columns), terminal, clock


def _last_line(terminal: Terminal) -> str:
    return terminal.getvalue().rsplit(CLEAR, 1)[-1]


def test_the_display_shows_files_bytes_rate_and_eta() -> None:
    display, terminal, clock = _display()
    slots = [_slot(n, 250_000) for n in range(4)]
    display.watch(slots)
    assert _last_line(terminal) == (
        "[--------------------] 0/4 files  0 B/1.0 MB  -- files/s  ETA --"
    )
    clock.now += 2.0
    slots[1].done.set()  # out of order: the display counts it before line 1 is printed
    display.watch(slots)
    assert _last_line(terminal) == (
        "[#####---------------] 1/4 files  250.0 kB/1.0 MB  0.5 files/s  ETA 6 s"
    )
    clock.now += 2.0
    slots[0].done.set()
    display.watch(slots)
    assert _last_line(terminal).endswith("2/4 files  500.0 kB/1.0 MB  0.5 files/s  ETA 4 s")


def test_large_files_show_megabytes_per_second_and_the_eta_by_bytes() -> None:
    display, terminal, clock = _display()
    slots = [_slot(0, 4_000_000, done=True), _slot(1, 36_000_000), _slot(2, 80_000_000)]
    clock.now += 2.0
    display.watch(slots)
    # 4 MB in 2 s: 2 MB/s; 116 MB left: 58 s (by files it would say 4 s).
    assert _last_line(terminal).endswith("1/3 files  4.0 MB/120.0 MB  2.0 MB/s  ETA 58 s")
    clock.now += 200.0
    display.watch(slots)  # 4 MB in 202 s; 116 MB left: about 98 min
    assert "ETA 1 h 37 min" in _last_line(terminal)


def test_the_limiters_wait_shows_in_the_display_not_as_a_line() -> None:
    display, terminal, clock = _display()
    lines: list[str] = []
    notify = display.notify(lines.append)
    slots = [_slot(n, 100) for n in range(3)]
    display.watch(slots)
    notify("waiting 41 s for Imgur POST budget to reset")
    assert lines == []
    assert _last_line(terminal).endswith("ETA --  waiting 41 s for Imgur POST budget to reset")
    notify("pacing: waiting 5 s to spread the remaining Imgur budget")
    assert _last_line(terminal).endswith("pacing: waiting 5 s to spread the remaining Imgur budget")
    notify("warning: something else")  # not a wait: a line of its own
    assert lines == ["warning: something else"]
    clock.now += 5.0  # the wait is over: its reason goes
    display.watch(slots)
    assert _last_line(terminal).endswith("-- files/s  ETA --")


def test_other_lines_go_above_the_display() -> None:
    display, terminal, _clock = _display()
    display.watch([_slot(n, 100) for n in range(2)])
    before = terminal.getvalue()
    display.stream.write("error: 1.png: refused\n")
    display.stream.flush()
    written = terminal.getvalue()[len(before) :]
    line = "[--------------------] 0/2 files  0 B/200 B  -- files/s  ETA --"
    assert written == f"{CLEAR}error: 1.png: refused\n{CLEAR}{line}"
    assert display.stream.isatty()


def test_the_display_never_wraps_and_one_file_shows_nothing() -> None:
    display, terminal, _clock = _display(columns=40)
    display.watch([_slot(n, 100) for n in range(2)])
    assert len(_last_line(terminal)) == 39
    display, terminal, _clock = _display()
    display.watch([_slot(0, 100, done=True)])
    display.close([_result("uploaded")])  # a folder of one file: no summary either
    assert terminal.getvalue() == ""


def test_close_replaces_the_display_with_the_summary() -> None:
    display, terminal, clock = _display()
    display.watch([_slot(n, 100) for n in range(2)])
    clock.now += 12.34
    display.close([_result("uploaded"), _result("failed")])
    assert terminal.getvalue().endswith(f"{CLEAR}uploaded 1, failed 1 in 12.3 s\n")
    display.watch([_slot(n, 100) for n in range(2)])  # closed: nothing more is drawn
    assert terminal.getvalue().endswith("in 12.3 s\n")


def _result(status: UploadStatus, *, ambiguous: bool = False) -> UploadResult:
    return UploadResult(path="a.png", provider="im", status=status, ambiguous=ambiguous)


def test_the_summary_counts_every_outcome() -> None:
    results = [
        _result("uploaded"),
        _result("uploaded", ambiguous=True),  # a second copy may exist: not a failure
        _result("existing"),
        _result("existing"),
        _result("skipped"),
        _result("failed", ambiguous=True),
        _result("failed"),
        _result("failed", ambiguous=True),
    ]
    assert summary(results, 3.0) == (
        "uploaded 2, existing 2, skipped 1, failed 3 (2 ambiguous) in 3.0 s"
    )
    # Zero counts are left out, except uploaded.
    assert summary([_result("failed")], 0.04) == "uploaded 0, failed 1 in 0.0 s"
    # A minute or more reads in minutes (hours): not "in 3723.4 s".
    assert summary([_result("uploaded"), _result("skipped")], 61.0) == (
        "uploaded 1, skipped 1 in 1 min 01 s"
    )
    assert summary([_result("uploaded")], 59.94) == "uploaded 1 in 59.9 s"
    assert summary([_result("uploaded")], 59.96) == "uploaded 1 in 1 min 00 s"
    assert summary([_result("uploaded")], 3723.4) == "uploaded 1 in 1 h 02 min"


def test_the_batch_tells_the_display_as_files_complete_not_as_lines_are_printed() -> None:
    release = threading.Event()
    seen: list[list[bool]] = []
    slots = [_slot(n, 100) for n in range(3)]

    def work(slot: Slot, _batch: Batch) -> tuple[UploadResult, UploaderError | None]:
        if slot.index == 0:  # the first file is slow
            release.wait(30)
        return _result("uploaded"), None

    def watch(current: list[Slot]) -> None:
        seen.append([s.done.is_set() for s in current])
        if current[1].done.is_set() and current[2].done.is_set():
            release.set()  # files 2 and 3 were seen done while file 1's line was held

    def skip(slot: Slot, cause: UploaderError) -> tuple[UploadResult, UploaderError]:
        return _result("skipped"), cause

    emitted: list[UploadResult] = []
    batch = Batch(slots, work, skip, lambda r, _e: emitted.append(r), jobs=3, watch=watch)
    batch._opened.set()  # the first file's line is held: let the others go at once
    batch.run()
    assert [False, True, True] in seen
    assert seen[-1] == [True, True, True]
    assert len(emitted) == 3


def test_one_job_tells_the_display_after_each_file() -> None:
    seen: list[int] = []
    slots = [_slot(0, 100), Slot(1, "bad", InputFileError("bad: not an image")), _slot(2, 100)]

    def work(slot: Slot, _batch: Batch) -> tuple[UploadResult, UploaderError | None]:
        return _result("uploaded"), None

    batch = Batch(
        slots,
        work,
        lambda _s, c: (_result("skipped"), c),
        lambda _r, _e: None,
        jobs=1,
        watch=lambda current: seen.append(sum(s.done.is_set() for s in current)),
    )
    batch.run()
    assert seen == [0, 1, 2, 3]


class GoneTerminal(Terminal):
    def write(self, text: str) -> int:
        raise OSError(5, "Input/output error")


def test_a_terminal_that_is_gone_does_not_stop_the_batch() -> None:
    display = Progress(GoneTerminal(), clock=Clock(), columns=80)
    slots = [_slot(n, 100) for n in range(3)]
    display.watch(slots)  # no exception: the display is dropped
    slots[0].done.set()
    display.watch(slots)
    assert display._closed


def test_a_narrow_terminal_keeps_the_wait_before_the_rate_and_the_bar() -> None:
    display, terminal, _clock = _display(columns=80)
    notify = display.notify(lambda _message: None)
    display.watch([_slot(n, 100, done=n == 0) for n in range(3)])
    assert _last_line(terminal).startswith("[######")  # room for all: the bar first
    notify("waiting 41 s for Imgur POST bucket (per IP) to reset")
    assert _last_line(terminal) == (
        "1/3 files  100 B/300 B  waiting 41 s for Imgur POST bucket (per IP) to reset"
    )
    display.columns = 40
    notify("waiting 40 s for Imgur POST bucket (per IP) to reset")
    assert _last_line(terminal) == "1/3 files  100 B/300 B  waiting 40 s fo"


def test_a_terminal_narrower_than_the_bar_still_never_wraps() -> None:
    for columns in (12, 5, 2):
        display, terminal, _clock = _display(columns=columns)
        display.watch([_slot(n, 100) for n in range(2)])
        drawn = terminal.getvalue().split(CLEAR)[1:]
        assert drawn, columns
        assert all(len(line) <= columns - 1 for line in drawn), (columns, drawn)
    assert _last_line(terminal) == "0"  # what fits in 1 column


def test_a_dumb_terminal_gets_no_display_only_the_summary_and_the_waits_as_lines() -> None:
    terminal, clock = Terminal(), Clock()
    display = Progress(terminal, clock=clock, columns=80, live=False)
    lines: list[str] = []
    notify = display.notify(lines.append)
    slots = [_slot(n, 100) for n in range(3)]
    display.watch(slots)
    notify("waiting 41 s for Imgur POST budget to reset")
    assert lines == ["waiting 41 s for Imgur POST budget to reset"]  # a line of its own
    slots[0].done.set()
    display.watch(slots)
    display.stream.write("error: 1.png: refused\n")
    display.stream.flush()
    clock.now += 3.0
    display.close([_result("uploaded"), _result("failed")])
    assert terminal.getvalue() == "error: 1.png: refused\nuploaded 1, failed 1 in 3.0 s\n"


def test_result_lines_on_the_same_terminal_go_above_the_display() -> None:
    # stdout and stderr one terminal (an interactive run): a link is never glued to the end
    # of the display line; the display is cleared (and flushed) first, drawn again after.
    display, terminal, _clock = _display()
    display.watch([_slot(n, 100) for n in range(2)])
    before = terminal.getvalue()
    out = display.above(terminal)
    out.write("https://i.imgur.com/a.png\n")
    out.flush()
    line = "[--------------------] 0/2 files  0 B/200 B  -- files/s  ETA --"
    assert terminal.getvalue()[len(before) :] == (
        f"{CLEAR}https://i.imgur.com/a.png\n{CLEAR}{line}"
    )
    assert out.isatty()


def test_a_terminal_gone_while_clearing_is_not_a_stdout_failure() -> None:
    display = Progress(GoneTerminal(), clock=Clock(), columns=80)
    display._shown = True  # drawn before the terminal went away
    out = Terminal()
    above = display.above(out)
    above.write("https://i.imgur.com/a.png\n")  # no OSError: stdout itself is fine
    above.flush()
    assert out.getvalue() == "https://i.imgur.com/a.png\n"
    assert display._closed


class _Logged(Terminal):
    """One stream of a terminal: its writes and flushes, in the order they happen."""

    def __init__(self, name: str, events: list[str]) -> None:
        super().__init__()
        self.name, self.events = name, events

    def write(self, text: str) -> int:
        self.events.append(f"{self.name}:{text}")
        return super().write(text)

    def flush(self) -> None:
        self.events.append(f"{self.name}:flush")


def test_the_clear_reaches_the_terminal_before_a_line_on_stdout() -> None:
    # Two streams with buffers of their own: stderr's clear is flushed before stdout's
    # line is written, or the terminal would get the line first, then the clear.
    events: list[str] = []
    err, out = _Logged("err", events), _Logged("out", events)
    display = Progress(err, clock=Clock(), columns=200)
    display.watch([_slot(n, 100) for n in range(2)])
    events.clear()
    above = display.above(out)
    above.write("https://i.imgur.com/a.png\n")
    assert events == [f"err:{CLEAR}", "err:flush", "out:https://i.imgur.com/a.png\n"]
    above.flush()  # then the display again, below the line
    assert events[3:5] == [
        "out:flush",
        f"err:{CLEAR}[--------------------] 0/2 files  0 B/200 B  -- files/s  ETA --",
    ]
