"""What keeps the shared rate-limit state cheap (issue 13, item 4) without giving up its
safety: no fsync and no rename per request, a parse only when the file changed, a write
torn by a crash detected by its checksum and never read as figures, and a file replaced
or edited by anyone else noticed at once."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import FakeTime
from tests.support.limiter import KEY, POST, make_limiter
from uploader.ratelimit import store as state_store
from uploader.ratelimit.stateshape import decode, encode
from uploader.ratelimit.store import FileStateStore


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime(1_785_000_000.0)


def _path(directory: Path) -> Path:
    return directory / f"{KEY}.json"


def _set(store: FileStateStore, remaining: int) -> None:
    with store.transaction(KEY) as state:
        state["buckets"]["post"] = {"limit": 1250, "remaining": remaining, "reset_at": 2e9}


def _remaining(store: FileStateStore) -> Any:
    with store.transaction(KEY) as state:
        return state["buckets"].get("post", {}).get("remaining")


def test_a_batch_neither_flushes_nor_renames_per_request(
    tmp_path: Path, fake: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_replace = os.replace

    def count_replace(src: Any, dst: Any) -> None:
        calls.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(state_store.os, "fsync", lambda _fd: calls.append("fsync"))
    monkeypatch.setattr(state_store.os, "replace", count_replace)
    lim = make_limiter(tmp_path, fake)
    for _ in range(20):
        lim.settle(lim.acquire({"post": 1}), [])
    assert calls == ["replace"]  # the file's creation; every later write is in place
    assert json.loads(_path(tmp_path).read_text())["buckets"]["post"]["remaining"] == 1230


def test_an_unchanged_file_is_not_parsed_again(
    tmp_path: Path, fake: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    lim = make_limiter(tmp_path, fake)
    lim.settle(lim.acquire({"post": 1}), [])
    parsed: list[bytes] = []

    def counting(raw: bytes) -> Any:
        parsed.append(raw)
        return decode(raw)

    monkeypatch.setattr(state_store, "decode", counting)
    for _ in range(10):
        lim.settle(lim.acquire({"post": 1}), [])
    assert parsed == []
    other = FileStateStore(tmp_path)  # another process: it has to read the file once
    _set(other, 5)
    assert len(parsed) == 1
    assert lim.states()[0].remaining == 5
    lim.settle(lim.acquire({"post": 1}), [])
    assert lim.states()[0].remaining == 4  # seen: the bytes had changed


def test_a_file_renamed_over_the_state_is_read(tmp_path: Path) -> None:
    """An older ``uploader`` (or an editor) replaces the file instead of writing into it:
    the descriptor this store keeps then points at the old file, and must not be used."""
    store = FileStateStore(tmp_path)
    _set(store, 7)
    assert _remaining(store) == 7
    replacement = tmp_path / "new.json"
    state = json.loads(_path(tmp_path).read_text())
    state["buckets"]["post"]["remaining"] = 3
    replacement.write_text(json.dumps(state))  # plain JSON, no checksum trailer
    os.replace(replacement, _path(tmp_path))
    assert _remaining(store) == 3
    _set(store, 2)
    assert json.loads(_path(tmp_path).read_text())["buckets"]["post"]["remaining"] == 2


def test_a_file_edited_in_place_is_read(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    _set(store, 7)
    assert _remaining(store) == 7
    text = _path(tmp_path).read_text().replace('"remaining": 7', '"remaining": 1')
    _path(tmp_path).write_text(text.rstrip())  # same inode, no trailer any more
    assert _remaining(store) == 1


def test_a_torn_write_is_discarded_with_a_warning(tmp_path: Path, fake: FakeTime) -> None:
    """A crash half-way through an in-place write leaves the start of the new state over
    the rest of the old one: here valid JSON (only a digit differs), but the checksum
    trailer is the old state's, so it is not taken for either."""
    old = FileStateStore(tmp_path)
    _set(old, 7)
    before = _path(tmp_path).read_bytes()
    with_six = encode(before[:-17].decode().replace('"remaining": 7', '"remaining": 6'))
    assert len(with_six) == len(before)
    cut = with_six.index(b'"remaining": 6') + len('"remaining": 6')
    torn = with_six[:cut] + before[cut:]
    json.loads(torn)  # a plain JSON reader would take it
    _path(tmp_path).write_bytes(torn)
    notes: list[str] = []
    lim = make_limiter(tmp_path, fake, POST, notes=notes)
    assert lim.states()[0].source == "default"  # discarded: nothing known
    lim.settle(lim.acquire({"post": 1}), [])
    assert notes == [
        f"warning: rate-limit state {_path(tmp_path)} is unreadable (a torn write): discarded"
    ]
    assert decode(_path(tmp_path).read_bytes())["buckets"]["post"]["remaining"] == 1249


@pytest.mark.parametrize("cut", [1, 40, -17, -5, -1])
def test_a_write_cut_short_is_never_read_as_figures(
    tmp_path: Path, fake: FakeTime, cut: int
) -> None:
    """A longer state written over a shorter one and cut anywhere (or the tail of a longer
    old state left after a shorter new one) reads as damage, never as figures."""
    store = FileStateStore(tmp_path)
    _set(store, 7)
    whole = _path(tmp_path).read_bytes()
    _path(tmp_path).write_bytes(whole[:cut] + b"}" * 3)
    notes: list[str] = []
    lim = make_limiter(tmp_path, fake, POST, notes=notes)
    assert lim.states()[0].source == "default"
    assert len(notes) == 1
    assert "is unreadable" in notes[0]


def test_the_trailer_is_whitespace_and_checks_the_json() -> None:
    raw = encode('{"version": 1}')
    assert raw.startswith(b'{"version": 1}\n')
    assert raw[15:].strip() == b""
    assert len(raw) == len('{"version": 1}') + 17
    assert json.loads(raw) == decode(raw) == {"version": 1}
    flipped = raw[:-1] + (b" " if raw[-1:] != b" " else b"\t")
    with pytest.raises(ValueError, match="torn"):
        decode(flipped)


def test_a_display_read_waits_for_a_write_in_progress(tmp_path: Path) -> None:
    """``limits`` reads without a transaction: it takes the lock shared, so that an
    in-place write of another process is never seen half done."""
    writer = FileStateStore(tmp_path)
    _set(writer, 7)
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with writer.transaction(KEY) as state:
            state["buckets"]["post"]["remaining"] = 3
            entered.set()
            release.wait(10)

    seen: list[Any] = []
    holder = threading.Thread(target=hold)
    holder.start()
    assert entered.wait(10)
    reader = threading.Thread(
        target=lambda: seen.append(FileStateStore(tmp_path).read(KEY)["buckets"]["post"])
    )
    reader.start()
    reader.join(0.3)  # a reader that ignored the lock would be done by now
    still_waiting = seen == []
    release.set()
    holder.join(10)
    reader.join(10)
    assert still_waiting
    assert seen[0]["remaining"] == 3


def test_a_display_read_creates_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "state" / "ratelimit"
    store = FileStateStore(directory)
    assert store.read(KEY) == {"version": 1, "buckets": {}, "reservations": []}
    assert not (tmp_path / "state").exists()
