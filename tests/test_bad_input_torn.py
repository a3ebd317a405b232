"""The bad-input catalogue, issue 11 section 4 (index: test_bad_input.py): stdout a regular
file that fills up in the middle of a line (a full disk, simulated with RLIMIT_FSIZE, the
``ulimit -f`` of a real process). Real processes.

The line cut short is taken back (the file ends with the last whole line, never part of a
link), and it is reported as not printed: with ``PYTHONUNBUFFERED`` (or ``-u``) Python's
text layer drops the rest of a short write without a word, so before the fix the link of
that file was lost silently and the next file's link was blamed instead."""

from __future__ import annotations

import os
import resource
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.support.e2e import CLI, get_json, posts, sandbox_process, write_config
from tests.support.images import png_bytes, write_png
from uploader.errors import ExitCode

TIMEOUT = 60  # seconds: bounds every process; no timing is asserted


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_process() as base_url:
        yield base_url


@pytest.fixture(params=["buffered", "unbuffered"])
def env(
    request: pytest.FixtureRequest, tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("UPLOADER_", "PYTHON"))}
    full.update(hermetic_env)
    full["UPLOADER_CONFIG"] = str(write_config(tmp_path / "c.toml", sandbox))
    if request.param == "unbuffered":
        full["PYTHONUNBUFFERED"] = "1"
    return full


def _run_limited(
    args: Sequence[str], env: dict[str, str], out: Path, limit: int, *, append: bool = False
) -> tuple[int, str]:
    """``uploader ARGS > OUT`` (``>>`` with ``append``) where no file may grow beyond
    ``limit`` bytes; stderr is a pipe, which the limit does not touch."""

    # Python's own bytecode cache would be cut short by the limit too (and kept).
    env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    with open(out, "ab" if append else "wb") as stdout:
        done = subprocess.run(
            [*CLI, *args],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=env,
            timeout=TIMEOUT,
            check=False,
            preexec_fn=limited,
        )
    return done.returncode, done.stderr.decode()


def _stored(sandbox: str) -> dict[str, str]:
    return {u["name"]: str(u["id"]) for u in get_json(f"{sandbox}/_sandbox/uploads")}


@pytest.mark.parametrize("append", [False, True])
def test_a_link_cut_short_by_a_full_disk_is_taken_back_and_reported(
    tmp_path: Path, sandbox: str, env: dict[str, str], append: bool
) -> None:
    names = [f"t{n}-{append}-{env.get('PYTHONUNBUFFERED', 'b')}.png" for n in range(3)]
    files = [str(write_png(tmp_path / name, seed=n + 7 * append)) for n, name in enumerate(names)]
    out = tmp_path / "links.txt"
    before = b"an earlier line\n" if append else b""
    out.write_bytes(before)
    # Room for the first link and about half of the second (an id of 7 characters).
    line = len(f"{sandbox}/imgur/i/") + len("XXXXXXX.png\n")
    limit = len(before) + line + line // 2
    code, err = _run_limited(
        ["upload", "-j", "1", "--no-history", *files], env, out, limit, append=append
    )
    assert code == ExitCode.OUTPUT
    stored = _stored(sandbox)
    text = out.read_bytes().decode()
    assert text == before.decode() + f"{sandbox}/imgur/i/{stored[names[0]]}.png\n"
    (error,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert "(file too large)" in error
    assert f"the link of {files[1]}, uploaded, was not printed: " in error
    assert f"/{stored[names[1]]}.png" in error
    assert f"1 file was not sent: {files[2]}" in error
    assert names[2] not in [p["file_name"] for p in posts(sandbox, "/3/image")]
    assert "Traceback" not in err
    assert "internal error" not in err


def test_a_lookup_cut_short_by_a_full_disk_ends_with_a_whole_line(
    tmp_path: Path, env: dict[str, str]
) -> None:
    image = str(write_png(tmp_path / "h.png", seed=40))
    done = subprocess.run(
        [*CLI, "upload", image], capture_output=True, env=env, timeout=TIMEOUT, check=True
    )
    media = done.stdout.decode().strip().rsplit("/", 1)[-1].split(".")[0]
    lines = subprocess.run(
        [*CLI, "info", media], capture_output=True, env=env, timeout=TIMEOUT, check=True
    ).stdout.splitlines(keepends=True)
    assert len(lines) > 2
    out = tmp_path / "info.txt"
    limit = len(lines[0]) + len(lines[1]) // 2
    code, err = _run_limited(["info", media], env, out, limit)
    assert code == ExitCode.OUTPUT
    (error,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert error == "error: could not write to standard output (file too large)"
    assert out.read_bytes() == lines[0]


def test_a_clipboard_image_cut_short_by_a_full_disk_is_named_as_such_and_not_sent(
    tmp_path: Path, sandbox: str, env: dict[str, str]
) -> None:
    # The clipboard's image is spooled to a temporary file; a short write there used to be
    # dropped without a word (os.write's count unread): the image was then refused as a
    # truncated file of the user's. Now the full disk is named and nothing is sent.
    image = tmp_path / "big.png"
    image.write_bytes(png_bytes(width=300, height=300, seed=3))
    tool = tmp_path / "bin" / "pngpaste"
    tool.parent.mkdir()
    tool.write_text(f'#!/bin/sh\n[ "$1" = "-" ] && cat "{image}"\n')
    tool.chmod(0o755)
    env = {**env, "PATH": f"{tool.parent}:/usr/bin:/bin"}
    before = len(posts(sandbox))
    code, err = _run_limited(
        ["upload", "--no-history", "--clipboard"],
        env,
        tmp_path / "out.txt",
        image.stat().st_size // 2,
    )
    assert code == ExitCode.USAGE
    assert err.splitlines()[-2:] == [
        "error: the clipboard image could not be saved to a temporary file (file too large): "
        "nothing was sent",
        "hint: make room in the temporary folder (TMPDIR) and copy the image again",
    ]
    assert len(posts(sandbox)) == before
