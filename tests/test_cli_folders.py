"""``uploader upload DIR`` in-process: a folder makes the run a batch (line N is file N),
and the expansion runs before the checks, once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import invoke, json_lines, lines, sandbox
from tests.support.e2e import write_config
from tests.support.images import write_png
from uploader.errors import ExitCode
from uploader.sandbox import Sandbox


@pytest.fixture
def server() -> Iterator[Sandbox]:
    with sandbox() as running:
        yield running


def test_a_folder_is_a_batch_a_failed_file_leaves_its_line_empty(
    tmp_path: Path, server: Sandbox
) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    (tmp_path / "shots").mkdir()
    write_png(tmp_path / "shots" / "a.png", seed=1)
    cut = write_png(tmp_path / "shots" / "b.png", seed=2)
    cut.write_bytes(cut.read_bytes()[:-20])  # cut short: refused by the checks
    write_png(tmp_path / "shots" / "c.png", seed=3)
    done = invoke(["--config", str(config), "upload", str(tmp_path / "shots")])
    assert done.exit_code == ExitCode.PARTIAL, done.stderr
    first, empty, third = lines(done.stdout)
    assert first.startswith(f"{server.base_url}/imgur/i/")
    assert empty == ""
    assert third.startswith(f"{server.base_url}/imgur/i/")
    assert f"error: {tmp_path / 'shots' / 'b.png'}: not a complete PNG file" in done.stderr
    assert len(server.uploads()) == 2


def test_paths_in_json_are_the_folder_as_named_joined(
    tmp_path: Path, server: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    (tmp_path / "shots" / "2024").mkdir(parents=True)
    write_png(tmp_path / "shots" / "2024" / "a.png", seed=4)
    write_png(tmp_path / "shots" / "b.png", seed=5)
    monkeypatch.chdir(tmp_path)
    done = invoke(["--config", str(config), "upload", "-r", "-f", "json", "shots"])
    assert done.exit_code == 0, done.stderr
    records = json_lines(done.stdout)
    assert [r["path"] for r in records] == ["shots/2024/a.png", "shots/b.png"]
    assert done.stderr == ""
