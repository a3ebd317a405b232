"""The error of a batch whose standard output failed (``commands/lost.py``): every file
whose line was not printed is named, by what became of it."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from uploader.commands.batch import Batch, Slot
from uploader.commands.lost import output_lost
from uploader.errors import InputFileError, InterruptedRunError, OutputClosedError, UploaderError
from uploader.http.session import ApiSession, Tracker
from uploader.models import ImageFile, UploadResult

SENT: dict[int, int] = {}  # requests of each file handed to the network


def _slot(index: int, result: UploadResult | None, *, started: bool, sent: int) -> Slot:
    image = ImageFile(Path(f"/f{index}.png"), f"f{index}.png", f"f{index}.png", 1, "image/png")
    slot = Slot(index, f"f{index}.png", image, started=started)
    SENT[index] = sent
    slot.result = result
    if result is not None:
        slot.done.set()
    return slot


def _uploaded(index: int) -> UploadResult:
    url = f"https://i.example/{index}.png"
    return UploadResult(f"f{index}.png", "imgur", "uploaded", id=str(index), url=url)


def _failed(index: int, error: str, *, ambiguous: bool = False) -> UploadResult:
    return UploadResult(f"f{index}.png", "imgur", "failed", error=error, ambiguous=ambiguous)


def test_each_file_not_printed_is_named_by_what_became_of_it() -> None:
    refused = InputFileError("f7.png: not an image", hint=None)
    slots = [
        _slot(0, _uploaded(0), started=True, sent=1),  # printed
        _slot(1, _uploaded(1), started=True, sent=1),  # its line failed
        _slot(2, _uploaded(2), started=True, sent=1),  # done in flight meanwhile
        # taken by a worker, stopped before any request of it went out
        _slot(3, _failed(3, "interrupted before it was sent"), started=True, sent=0),
        _slot(4, None, started=True, sent=1),  # still on its way
        _slot(5, _failed(5, "answer lost", ambiguous=True), started=True, sent=1),
        _slot(6, _failed(6, "HTTP 500"), started=True, sent=2),
        Slot(7, "f7.png", refused, started=True),
        _slot(8, None, started=False, sent=0),  # never taken
    ]
    slots[7].result = _failed(7, "not an image")
    slots[7].done.set()

    def work(slot: Slot, batch: Batch) -> tuple[UploadResult, UploaderError | None]:
        raise AssertionError("not run")

    batch = Batch(slots, work, lambda s, e: (_failed(s.index, "x"), e), lambda r, e: None, jobs=4)
    batch.emitted = 2
    for slot in slots:  # the batch gave each file its own tracker
        slot.tracker.sent = SENT.get(slot.index, 0)
    error = output_lost(OutputClosedError("broken pipe"), slots, batch)
    parts = error.message.split("; ")
    assert parts[0] == "standard output could not be written (broken pipe)"
    assert parts[1] == "the link of f1.png, uploaded, was not printed: https://i.example/1.png"
    assert parts[2] == "the link of f2.png, uploaded, was not printed: https://i.example/2.png"
    assert parts[3] == "2 files may or may not have reached the server: f4.png, f5.png"
    assert parts[4] == "2 files failed: f6.png (HTTP 500), f7.png (not an image)"
    assert parts[5] == "2 files were not sent: f3.png, f8.png"
    assert len(parts) == 6
    assert error.hint is not None
    assert "look for those that may have reached the server" in error.hint
    assert "upload the files not sent again" in error.hint


class _Watched:
    """A slot's ``done``: never set, and every wait on it recorded."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def is_set(self) -> bool:
        return False

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return False


def test_after_a_failed_write_only_the_files_whose_request_went_out_are_waited_for() -> None:
    """A worker's file that waits for the budget (no request of it sent) will send none
    once the batch is interrupted: the run does not wait out its pacing or reset."""
    slots = [_slot(n, None, started=True, sent=0) for n in range(3)]

    def work(slot: Slot, batch: Batch) -> tuple[UploadResult, UploaderError | None]:
        raise AssertionError("not run")

    batch = Batch(slots, work, lambda s, e: (_failed(s.index, "x"), e), lambda r, e: None, jobs=3)
    watched = [_Watched() for _ in slots]
    for slot, done in zip(slots, watched, strict=True):
        slot.done = done  # type: ignore[assignment]
    slots[1].tracker.sent = 1  # on its way
    batch.interrupt()
    batch.wait_for_flight(120.0)
    assert [w.waits for w in watched] == [[], [120.0], []]


def test_a_request_stopped_by_the_interrupt_is_not_counted_as_sent() -> None:
    """The session counts a file's request before it looks at ``cancel`` and takes it back
    when it stops there: nothing went out, the file reads as not sent."""
    handled: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        handled.append(request.url.path)
        return httpx.Response(200)

    session = ApiSession(httpx.Client(transport=httpx.MockTransport(handler)))
    session.cancel = threading.Event()
    tracker = Tracker()
    session.track(tracker)
    session.request("POST", "http://127.0.0.1:1/a", costs={"post": 1})
    assert tracker.sent == 1
    session.cancel.set()
    with pytest.raises(InterruptedRunError):
        session.request("POST", "http://127.0.0.1:1/b", costs={"post": 1})
    assert tracker.sent == 1
    assert session.requests_sent == 1
    assert handled == ["/a"]
