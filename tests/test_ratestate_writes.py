"""Crash safety of the shared rate-limit state: a write that fails half-way (full disk,
an interrupt) leaves the old state file as it was and no temporary file behind; a write torn
by a crash is never read as figures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from uploader.ratelimit import store as state_store
from uploader.ratelimit.store import FileStateStore

KEY = "k" * 32


def _seed(directory: Path) -> bytes:
    store = FileStateStore(directory)
    with store.transaction(KEY) as state:
        state["buckets"]["post"] = {"limit": 1250, "remaining": 7, "reset_at": 2e9}
    return (directory / f"{KEY}.json").read_bytes()


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def _change(store: FileStateStore) -> None:
    with store.transaction(KEY) as state:
        state["buckets"].setdefault("post", {})["remaining"] = 6


def test_a_disk_error_mid_write_keeps_the_old_file_and_falls_back_to_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    before = _seed(tmp_path)

    real_pwrite = os.pwrite
    calls: list[int] = []

    def full_disk(fd: int, data: Any, offset: int) -> int:
        calls.append(offset)
        if len(calls) == 1:  # the new state: a few bytes, then the disk is full
            real_pwrite(fd, bytes(data[: len(data) - 20]), offset)
            raise OSError(28, "No space left on device")
        return real_pwrite(fd, data, offset)  # the old bytes put back

    store = FileStateStore(tmp_path)
    store.read(KEY)
    monkeypatch.setattr(state_store.os, "pwrite", full_disk)
    _change(store)  # never fatal: rate-limit bookkeeping must not fail an upload
    assert (tmp_path / f"{KEY}.json").read_bytes() == before
    assert _leftovers(tmp_path) == []
    assert "kept in memory only" in caplog.text
    assert store.read(KEY)["buckets"]["post"]["remaining"] == 6  # this process still knows


@pytest.mark.parametrize("where", ["write", "truncate", "replace"])
def test_an_interrupted_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """In place (over the file the store has open), or as a new file renamed into place
    (when there is none yet: then there is still none)."""
    before = _seed(tmp_path)
    store = FileStateStore(tmp_path)
    if where == "replace":
        (tmp_path / f"{KEY}.json").unlink()
    else:
        with store.transaction(KEY):
            pass  # the store now has the file open: its next write is in place
    real_pwrite, real_truncate = os.pwrite, os.ftruncate
    interrupted: list[str] = []

    def write_half(fd: int, data: Any, offset: int) -> int:
        if not interrupted:
            interrupted.append("write")  # a torn write, then the interrupt
            real_pwrite(fd, bytes(data[: len(data) - 20]), offset)
            raise KeyboardInterrupt
        return real_pwrite(fd, data, offset)

    def truncate_once(fd: int, length: int) -> None:
        if not interrupted:
            interrupted.append("truncate")
            raise KeyboardInterrupt
        real_truncate(fd, length)

    def no_replace(_src: str, _dst: object) -> None:
        interrupted.append("replace")
        raise KeyboardInterrupt

    if where == "write":
        monkeypatch.setattr(state_store.os, "pwrite", write_half)
    elif where == "truncate":
        monkeypatch.setattr(state_store.os, "ftruncate", truncate_once)
    else:
        monkeypatch.setattr(state_store.os, "replace", no_replace)
    with pytest.raises(KeyboardInterrupt):
        _change(store)
    monkeypatch.undo()
    assert interrupted == [where]
    if where == "replace":
        assert not (tmp_path / f"{KEY}.json").exists()
        assert _leftovers(tmp_path) == []
        return
    assert (tmp_path / f"{KEY}.json").read_bytes() == before
    assert _leftovers(tmp_path) == []
    assert FileStateStore(tmp_path).read(KEY)["buckets"]["post"]["remaining"] == 7


def test_the_temporary_file_is_private_from_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(tmp_path)
    (tmp_path / f"{KEY}.json").unlink()  # a new file is written, then renamed into place
    modes: list[int] = []
    real_replace = os.replace

    def spy(src: str, dst: Any) -> None:
        modes.append(os.stat(src).st_mode & 0o777)
        real_replace(src, dst)

    monkeypatch.setattr(state_store.os, "replace", spy)
    _change(FileStateStore(tmp_path))
    assert modes == [0o600]
    assert (tmp_path / f"{KEY}.json").stat().st_mode & 0o777 == 0o600
