"""Ctrl-C's accounting of a batch (``commands/upload.py: _account_interrupted``): a file a
worker stopped before its request went out is not sent (skipped, like the files not
started), never "failed"; one with a request out may exist (failed, ambiguous). The
summary line counts these records (issue 13 item 3)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support.images import write_png
from uploader.cli.progress import summary
from uploader.commands import upload as upload_command
from uploader.commands.batch import Batch, Slot
from uploader.commands.journal import Journal
from uploader.errors import InterruptedRunError, UploaderError
from uploader.history.store import History, Target
from uploader.models import ImageFile, UploadResult
from uploader.providers.recovery import RunClaims


class _Files:
    def fail(self, label: str, error: UploaderError) -> UploadResult:
        return upload_command._failure(label, "im", error)


class _Journal:
    def __init__(self) -> None:
        self.told: list[tuple[str, bool]] = []

    def interrupted(self, image: ImageFile | UploaderError, *, sent: bool) -> None:
        assert isinstance(image, ImageFile)
        self.told.append((image.label, sent))


def _stopped_by_ctrl_c(n: int) -> Slot:
    """A file whose worker met Ctrl-C before its next request (its own record set)."""
    label = f"{n}.png"
    slot = Slot(n, label, ImageFile(Path(label), label, label, 10, "image/png"))
    slot.started = True
    slot.error = InterruptedRunError("interrupted before it was sent")
    slot.result = upload_command._failure(label, "im", slot.error)
    slot.done.set()
    return slot


def test_a_file_ctrl_c_stopped_before_its_request_is_not_sent() -> None:
    """One with a request of it out may exist: failed and ambiguous."""
    slots = [_stopped_by_ctrl_c(0), _stopped_by_ctrl_c(1)]
    batch = Batch(slots, lambda s, b: (s.result, None), lambda s, e: (s.result, e), print, jobs=2)
    slots[1].tracker.sent = 1  # a request of it went out (a first attempt, a media post)
    emitted: list[tuple[UploadResult, UploaderError | None]] = []
    journal = _Journal()
    upload_command._account_interrupted(
        batch,
        _Files(),  # type: ignore[arg-type]
        journal,  # type: ignore[arg-type]
        lambda result, error: emitted.append((result, error)),
    )
    (first, _), (second, _) = emitted
    assert (first.status, first.ambiguous, first.error) == (
        "skipped",
        False,
        "not sent: interrupted",
    )
    assert (second.status, second.ambiguous) == ("failed", True)
    assert second.error is not None
    assert "may or may not have reached the server" in second.error
    assert journal.told == [("0.png", False), ("1.png", True)]
    assert (
        summary([r for r, _ in emitted], 1.0)
        == "uploaded 0, skipped 1, failed 1 (1 ambiguous) in 1.0 s"
    )


class _Session:
    """What the journal asks of a session: the requests this thread's file has sent."""

    def __init__(self) -> None:
        self.sent = 0

    def sent_here(self) -> int:
        return self.sent


@pytest.mark.parametrize(("went_out", "row"), [(1, "ambiguous"), (0, "failed")])
def test_the_history_row_of_a_file_stopped_before_its_next_request(
    tmp_path: Path, went_out: int, row: str
) -> None:
    # Ctrl-C stopped the file before its next request (a retry after a lost answer): with
    # an earlier request out its upload may exist, and its row must not say "failed" (a
    # rerun with --skip-existing would send it again without a word).
    picture = write_png(tmp_path / "shot.png", seed=3)
    history = History(tmp_path / "history.sqlite3")
    target = Target("im", "imgur", "http://127.0.0.1:9", "acct")
    journal = Journal(history, target, skip_existing=True)
    session = _Session()

    def send(image: ImageFile) -> UploadResult:
        session.sent += went_out  # the first attempt: out, its answer lost (or not sent)
        raise InterruptedRunError("interrupted before it was sent")

    image = ImageFile(picture, "shot.png", "shot.png", picture.stat().st_size, "image/png")
    with pytest.raises(InterruptedRunError):
        journal.run(image, SimpleNamespace(session=session), send, RunClaims())  # type: ignore[arg-type]
    (entry,) = history.entries()
    assert (entry.status, entry.error) == (
        row,
        "interrupted while uploading" if went_out else "interrupted before it was sent",
    )
    # Ctrl-C's accounting afterwards leaves the worker's own record as it is.
    journal.interrupted(image, sent=not went_out)
    assert [e.status for e in history.entries()] == [row]
