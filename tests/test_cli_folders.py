"""``uploader upload DIR`` in-process: a folder makes the run a batch (line N is file N),
and the expansion runs before the checks, once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import invoke, json_lines, lines, sandbox
from tests.support.e2e import sandbox_process, write_config
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


def test_the_hotkey_path_does_not_load_the_folder_walk(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    """One file, no options: nothing to expand, so the walk's module is never imported."""
    image = write_png(tmp_path / "a.png", seed=6)
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('walk' if 'uploader.imaging.walk' in sys.modules "
        "else 'no walk', file=sys.stderr))\n"
        "sys.argv[0] = 'uploader'\n"
        "from uploader.__main__ import main\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")}
    with sandbox_process() as base_url:
        config = write_config(tmp_path / "c.toml", base_url)
        for args, loaded in (([str(image)], "no walk"), ([str(tmp_path)], "walk")):
            done = subprocess.run(
                [sys.executable, "-c", script, "--config", str(config), "upload", *args],
                capture_output=True,
                text=True,
                env={**env, **hermetic_env},
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert done.stderr.splitlines()[-1] == loaded
