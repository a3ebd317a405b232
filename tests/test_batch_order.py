"""``upload -j N`` (issue 13): files that wait for the budget side by side (pacing, a
window's reset) still reserve in input order, and a refusal is judged in that order: a
budget lets the same files through as one at a time, whichever worker wakes first."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.limiter import make_limiter
from uploader.commands import batch as batch_module
from uploader.commands.batch import Batch, Slot, not_sent
from uploader.commands.runtime import once_per_wait
from uploader.errors import RateLimitError, SkippedError, UploaderError
from uploader.http.session import ApiSession
from uploader.models import BucketUpdate, ImageFile, UploadResult
from uploader.ratelimit.limiter import BucketSpec

NOW = 1_785_000_000.0
POST = BucketSpec("post", "Imgur POST bucket (per IP)", 3, 60.0)
Work = Callable[[Slot, Batch], tuple[UploadResult, UploaderError | None]]


class _Race:
    """File 1 is the first to wait (pacing): its sleep moves the clock to the end of the
    wait, then keeps file 1 asleep until another file has sent, or holds for file 1.
    Every other sleep waits for the clock to have moved (and moves it once file 1 has
    sent). Without the order, file 2
    wakes first and takes the budget file 1 was waiting for."""

    def __init__(self, fake: FakeTime) -> None:
        self.fake = fake
        self.file = threading.local()
        self.moved = threading.Event()
        self.other_went = threading.Event()
        self.first_sent = threading.Event()
        self.slept: list[int] = []

    def sleep(self, seconds: float) -> None:
        index = getattr(self.file, "index", -1)
        self.slept.append(index)
        if index == 1 and self.slept.count(1) == 1:
            self.fake.now += seconds
            self.moved.set()
            assert self.other_went.wait(10)
        elif index == 1 or self.other_went.is_set():
            # The race is over: file 1 goes next; later waits take their time after it.
            if index != 1:
                assert self.first_sent.wait(10)
            self.fake.now += seconds
        else:
            assert self.moved.wait(10)  # the race: woken once file 1's wait has ended


def _work(race: _Race, session: ApiSession) -> Work:
    def work(slot: Slot, batch: Batch) -> tuple[UploadResult, UploaderError | None]:
        session.track(slot.tracker)
        race.file.index = slot.index
        try:
            session.request(
                "POST", f"http://127.0.0.1:1/{slot.index}", costs={"post": 1}, pending=batch.pending
            )
        except UploaderError as exc:
            if isinstance(exc, RateLimitError):
                batch.halt(exc)
            status = "skipped" if isinstance(exc, SkippedError) else "failed"
            return UploadResult(slot.label, "imgur", status, error=exc.message), exc
        finally:
            session.track(None)
        return UploadResult(slot.label, "imgur", "uploaded"), None

    return work


def _skip(slot: Slot, cause: UploaderError) -> tuple[UploadResult, UploaderError]:
    error = not_sent(cause)
    return UploadResult(slot.label, "imgur", "skipped", error=error.message), error


def _batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_limit: str
) -> tuple[list[int], list[UploadResult], _Race]:
    """Five files, -j 4, against 2 POSTs left of 3 for 60 s (the rest paced over them)."""
    fake = FakeTime(NOW)
    race = _Race(fake)
    limiter = make_limiter(tmp_path, fake, POST, on_limit=on_limit, max_wait=300.0)
    limiter.sleep = race.sleep
    limiter.record([BucketUpdate("post", 3, 2, NOW + 60)], source="headers")
    sent: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        index = int(request.url.path.strip("/"))
        sent.append(index)
        if index > 1:
            race.other_went.set()
        elif index == 1:
            race.first_sent.set()
        return httpx.Response(200)

    held = batch_module._Turn.hold

    def hold(turn: Any) -> None:
        if turn.slot.index > 1 and not turn.ready():
            race.other_went.set()  # file 2 holds for file 1: wake it
        held(turn)

    monkeypatch.setattr(batch_module._Turn, "hold", hold)
    session = ApiSession(httpx.Client(transport=httpx.MockTransport(handler)), limiter)
    image = ImageFile(Path("/nonexistent.png"), "a.png", "a.png", 1, "image/png")
    slots = [Slot(n, f"f{n}.png", image) for n in range(5)]
    emitted: list[UploadResult] = []
    batch = Batch(slots, _work(race, session), _skip, lambda r, e: emitted.append(r), jobs=4)
    batch.run()
    return sent, emitted, race


def test_with_on_limit_wait_the_first_to_wake_goes_and_every_file_goes_in_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No file will be refused: the files woken from the same wait need not take turns (a
    paced batch keeps its schedule), and each is sent once."""
    sent, emitted, race = _batch(tmp_path, monkeypatch, "wait")
    assert race.slept[0] == 1  # file 1 was paced: the race took place
    assert sent[:2] == [0, 2]  # file 2 woke first and went: no file waited for another
    assert sorted(sent) == [0, 1, 2, 3, 4]
    assert [r.status for r in emitted] == ["uploaded"] * 5


def test_on_limit_fail_lets_the_same_files_through_as_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One at a time: file 0 and file 1 (paced) take the two POSTs left, file 2 is refused
    (the bucket spent), 3 and 4 are not sent. With -j 4 the same: no later file takes
    file 1's POST, and the refusal is file 2's, the rest not sent (nothing sent for them)."""
    sent, emitted, _race = _batch(tmp_path, monkeypatch, "fail")
    assert sent == [0, 1]
    assert [r.status for r in emitted] == ["uploaded", "uploaded", "failed", "skipped", "skipped"]
    assert "spent" in (emitted[2].error or "")
    for result in emitted[3:]:
        assert (result.error or "").startswith("not sent: ")


class _Behind:
    """An order in which this file is behind an earlier one until it has held once;
    ``on_hold`` is what the earlier file's answer told meanwhile."""

    def __init__(self, on_hold: Callable[[], None]) -> None:
        self.on_hold = on_hold
        self.held = 0

    def let_by(self) -> None:
        pass

    def ready(self) -> bool:
        return self.held > 0

    def check(self) -> None:
        pass

    def hold(self) -> None:
        if not self.held:
            self.on_hold()
        self.held += 1


def test_a_refusal_is_judged_once_the_files_before_it_have_gone(tmp_path: Path) -> None:
    """--on-limit fail: a file behind an earlier one that has not reserved yet does not
    give up on what the state says now: it holds, and judges once the earlier file went
    (here its answer told a fresh window: this file goes, as it would one at a time)."""
    fake = FakeTime(NOW)
    limiter = make_limiter(tmp_path, fake, POST, on_limit="fail")
    limiter.record([BucketUpdate("post", 3, 0, NOW + 60)], source="headers")
    with pytest.raises(RateLimitError):
        limiter.acquire({"post": 1})  # alone: refused at once
    fresh = [BucketUpdate("post", 3, 3, NOW + 120)]
    order = _Behind(lambda: limiter.record(fresh, source="headers"))
    reservation = limiter.acquire({"post": 1}, order=order)
    assert reservation.costs == (("post", 1),)
    assert order.held >= 1
    assert fake.sleeps == []


def test_a_wait_the_workers_share_is_told_once() -> None:
    """-j 4 against a spent bucket: four workers wait for the same reset; the user reads
    one line, as with one file at a time. Another wait, or the next one, is told."""
    fake = FakeTime(NOW)
    lines: list[str] = []
    told = once_per_wait(lines.append, fake.clock)
    post = "waiting {} s for Imgur POST bucket (per IP) to reset"
    pacing = "pacing: waiting 30 s to spread the remaining Imgur (sb) budget"
    told(post.format(10))
    told(post.format(10))
    fake.now += 0.6
    told(post.format(9))  # the same reset, seen a moment later
    told(pacing)
    told(pacing)
    told("waiting 10 s for Imgur user bucket (per IP) to reset")
    told("warning: a notice that is no wait")
    told("warning: a notice that is no wait")
    fake.now += 30
    told(post.format(10))  # the next window's wait
    assert lines == [
        post.format(10),
        pacing,
        "waiting 10 s for Imgur user bucket (per IP) to reset",
        "warning: a notice that is no wait",
        "warning: a notice that is no wait",
        post.format(10),
    ]
