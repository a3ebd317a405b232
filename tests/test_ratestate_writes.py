"""Crash safety of the shared rate-limit state: a write that fails half-way (full disk,
an interrupt) leaves the old state file as it was and no temporary file behind."""

from __future__ import annotations

import json
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
        state["buckets"]["post"]["remaining"] = 6


def test_a_disk_error_mid_write_keeps_the_old_file_and_falls_back_to_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    before = _seed(tmp_path)

    def full_disk(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(state_store.os, "fsync", full_disk)
    store = FileStateStore(tmp_path)
    _change(store)  # never fatal: rate-limit bookkeeping must not fail an upload
    assert (tmp_path / f"{KEY}.json").read_bytes() == before
    assert _leftovers(tmp_path) == []
    assert "kept in memory only" in caplog.text
    assert store.read(KEY)["buckets"]["post"]["remaining"] == 6  # this process still knows


@pytest.mark.parametrize("where", ["dump", "replace"])
def test_an_interrupted_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    before = _seed(tmp_path)
    real_dump = json.dump

    def dump_half(obj: Any, fh: Any, **kwargs: Any) -> None:
        fh.write(json.dumps(obj, **kwargs)[:10])  # a torn write, then the interrupt
        raise KeyboardInterrupt

    def no_replace(_src: str, _dst: object) -> None:
        raise KeyboardInterrupt

    if where == "dump":
        monkeypatch.setattr(state_store.json, "dump", dump_half)
    else:
        monkeypatch.setattr(state_store.os, "replace", no_replace)
    with pytest.raises(KeyboardInterrupt):
        _change(FileStateStore(tmp_path))
    monkeypatch.setattr(state_store.json, "dump", real_dump)
    assert (tmp_path / f"{KEY}.json").read_bytes() == before
    assert _leftovers(tmp_path) == []
    assert FileStateStore(tmp_path).read(KEY)["buckets"]["post"]["remaining"] == 7


def test_the_temporary_file_is_private_from_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(tmp_path)
    modes: list[int] = []
    real_replace = os.replace

    def spy(src: str, dst: Any) -> None:
        modes.append(os.stat(src).st_mode & 0o777)
        real_replace(src, dst)

    monkeypatch.setattr(state_store.os, "replace", spy)
    _change(FileStateStore(tmp_path))
    assert modes == [0o600]
    assert FileStateStore(tmp_path).read(KEY)["buckets"]["post"]["remaining"] == 6
