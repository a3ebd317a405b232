"""Re-encoding in the real `uploader` process (issue 15): the private temporary files are
gone after a run stopped by Ctrl-C, or one where a file could not be re-encoded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from PIL import Image

from tests.support.e2e import CLI, posts, read_until, sandbox_process, write_config


def _noise(path: Path, side: int = 900) -> Path:
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(path, "PNG")
    return path


def test_ctrl_c_while_pictures_are_reencoded_leaves_no_temporary_file(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    for n in range(4):
        _noise(folder / f"n{n}.png")
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    env = {**hermetic_env, "TMPDIR": str(private_tmp), "PATH": os.environ.get("PATH", "")}
    with sandbox_process() as base:
        config = write_config(tmp_path / "c.toml", base)
        args = ["--config", str(config), "-v", "upload", "-j", "1", "--convert", "webp"]
        proc = subprocess.Popen(
            [*CLI, *args, "--no-history", str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert proc.stderr is not None
        read_until(proc, proc.stderr, "re-encoded as image/webp")  # the first is done
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        assert proc.returncode in (130, 0)  # 0: the run ended before the signal came
        assert list(private_tmp.iterdir()) == []
        assert len(posts(base)) <= 4


def test_a_picture_that_cannot_be_reencoded_fails_alone_and_leaves_nothing(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    good = _noise(tmp_path / "good.png", 60)
    bad = tmp_path / "bad.gif"
    frames = [Image.new("RGB", (30, 30), (i * 80, 0, 0)) for i in range(3)]
    frames[0].save(bad, save_all=True, append_images=frames[1:], duration=50, loop=0)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    env = {**hermetic_env, "TMPDIR": str(private_tmp)}
    with sandbox_process() as base:
        config = write_config(tmp_path / "c.toml", base)
        done = subprocess.run(
            [*CLI, "--config", str(config), "upload", "--convert", "jpeg", str(good), str(bad)],
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
        err = done.stderr.decode()
        assert done.returncode == 6, err  # a batch with a file failed
        assert f"error: {bad}: an animation of 3 frames cannot become a still JPEG" in err
        assert "Traceback" not in err
        assert len(posts(base)) == 1  # the good one
    assert list(private_tmp.iterdir()) == []


def test_sigterm_stops_a_batch_as_ctrl_c_does(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    """A cron job's timeout sends SIGTERM: every file still gets its line, the re-encoded
    copies are removed, and the run exits 130 (it used to die at once, leaving them)."""
    folder = tmp_path / "shots"
    folder.mkdir()
    for n in range(4):
        _noise(folder / f"n{n}.png", 300)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    env = {**hermetic_env, "TMPDIR": str(private_tmp), "PATH": os.environ.get("PATH", "")}
    with sandbox_process("latency=30") as base:  # the first upload is still in flight
        config = write_config(tmp_path / "c.toml", base)
        args = ["--config", str(config), "-v", "upload", "-f", "json", "--convert", "webp"]
        proc = subprocess.Popen(
            [*CLI, *args, str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert proc.stderr is not None
        read_until(proc, proc.stderr, "re-encoded as image/webp")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        records = [json.loads(line) for line in out.decode().splitlines()]
        assert [Path(r["path"]).name for r in records] == [f"n{n}.png" for n in range(4)]
        assert all(r["status"] in ("failed", "skipped") for r in records)
        assert b"Traceback" not in err, err.decode()
    assert list(private_tmp.iterdir()) == []
