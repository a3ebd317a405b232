"""The error of a batch whose standard output failed (``commands/lost.py``): every file
whose line was not printed is named, by what became of it."""

from __future__ import annotations

from pathlib import Path

from uploader.commands.batch import Batch, Slot
from uploader.commands.lost import output_lost
from uploader.errors import InputFileError, OutputClosedError, UploaderError
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
