"""The bad-input catalogue, issue 11 section 4 (index: test_bad_input.py).

Output that cannot be written (issue 11, section 4), in real processes: a reader that
goes away, a closed stdout (``>&-``), a full disk (``>/dev/full``). ``upload`` sends no
further file, prints the lost link on stderr and exits 7; a lookup exits 0 when its reader
left (nothing is lost) and 7 when stdout fails otherwise. No traceback, never exit 1."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import pytest

from tests.support.e2e import CLI, first_line, get_json, posts, sandbox_process, write_config
from tests.support.images import write_png
from uploader.errors import ExitCode

TIMEOUT = 60  # seconds: bounds every process; no timing is asserted


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    # Latency: an upload takes a moment, so the reader of the first line has gone before
    # the second line is written.
    with sandbox_process("latency=0.3") as base_url:
        yield base_url


@pytest.fixture
def env(tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")}
    full.update(hermetic_env)
    full["UPLOADER_CONFIG"] = str(write_config(tmp_path / "c.toml", sandbox))
    get_json_post(f"{sandbox}/_sandbox/reset")
    return full


def get_json_post(url: str) -> None:
    import urllib.request

    request = urllib.request.Request(url, method="POST")  # noqa: S310 - loopback only
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


def _images(tmp_path: Path, names: Sequence[str]) -> list[str]:
    return [str(write_png(tmp_path / name, seed=i)) for i, name in enumerate(names)]


def _one_line_reader(args: Sequence[str], env: dict[str, str]) -> tuple[int, str, str]:
    """`uploader ARGS | head -1`: read one line of stdout, close the pipe, and give (exit
    code, the line, all of stderr)."""
    proc = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    try:
        line = first_line(proc, timeout=TIMEOUT)
        assert proc.stdout is not None
        proc.stdout.close()
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode, line, err


def _run(args: Sequence[str], env: dict[str, str], stdout: int | IO[bytes]) -> tuple[int, str]:
    done = subprocess.run(
        [*CLI, *args], stdout=stdout, stderr=subprocess.PIPE, env=env, timeout=TIMEOUT, check=False
    )
    return done.returncode, done.stderr.decode()


def _closed_stdout(args: Sequence[str], env: dict[str, str]) -> tuple[int, str]:
    """`uploader ARGS >&-`: descriptor 1 closed before the program starts."""
    done = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *CLI, *args],
        stderr=subprocess.PIPE,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )
    return done.returncode, done.stderr.decode()


def _stored(sandbox: str, name: str) -> tuple[str, str]:
    """The id and deletehash the sandbox gave the upload of ``name``."""
    (item,) = [u for u in get_json(f"{sandbox}/_sandbox/uploads") if u["name"] == name]
    return str(item["id"]), str(item["deletehash"])


def _clean(err: str) -> None:
    assert "Traceback" not in err
    assert "internal error" not in err
    assert "Exception ignored" not in err


def test_a_reader_that_leaves_after_one_line_stops_the_batch_and_the_lost_link_is_shown(
    tmp_path: Path, sandbox: str, env: dict[str, str]
) -> None:
    files = _images(tmp_path, ["a.png", "b.png", "c.png", "d.png"])
    code, line, err = _one_line_reader(["upload", "-j", "1", *files], env)
    assert code == ExitCode.OUTPUT
    assert _stored(sandbox, "a.png")[0] in line
    # b was uploaded and its line could not be printed; c and d were never sent.
    assert [p["file_name"] for p in posts(sandbox, "/3/image")] == ["a.png", "b.png"]
    (error,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert "broken pipe" in error
    assert f"the link of {files[1]}, uploaded, was not printed: " in error
    media, deletehash = _stored(sandbox, "b.png")
    assert re.search(rf"was not printed: \S+{media}\S* \(delete id {deletehash}\)", error)
    assert f"2 files were not sent: {files[2]}, {files[3]}" in error
    assert err.splitlines()[-1].startswith("hint: ")
    _clean(err)


def test_a_reader_that_leaves_during_a_jobs_batch_loses_no_link(
    tmp_path: Path, sandbox: str, env: dict[str, str]
) -> None:
    # -j 3: b, c and d go at once after a's line; b's line is the one that cannot be
    # written, when c and d may be on their way: every uploaded file's link is on stderr.
    files = _images(tmp_path, ["a.png", "b.png", "c.png", "d.png"])
    code, line, err = _one_line_reader(["upload", "-j", "3", *files], env)
    assert code == ExitCode.OUTPUT
    assert _stored(sandbox, "a.png")[0] in line
    sent = [p["file_name"] for p in posts(sandbox, "/3/image")]
    assert sent[0] == "a.png"
    (error,) = [x for x in err.splitlines() if x.startswith("error:")]
    for name, path in zip(["b.png", "c.png", "d.png"], files[1:], strict=True):
        if name in sent:
            media, deletehash = _stored(sandbox, name)
            assert f"the link of {path}, uploaded, was not printed: " in error
            assert media in error
            assert f"(delete id {deletehash})" in error
        else:
            assert path in error.split("not sent: ", 1)[1]
    _clean(err)


def test_every_file_of_a_long_jobs_batch_is_accounted_for_when_the_reader_leaves(
    tmp_path: Path, sandbox: str, env: dict[str, str]
) -> None:
    # -j 4, twelve files: when the second line cannot be written, workers hold files that
    # waited for their turn and were never sent: each file is named on stderr, as a lost
    # link or as not sent, and what the server stored is exactly the links named.
    names = [f"f{n:02}.png" for n in range(12)]
    files = _images(tmp_path, names)
    code, _line, err = _one_line_reader(["upload", "-j", "4", *files], env)
    assert code == ExitCode.OUTPUT
    (error,) = [x for x in err.splitlines() if x.startswith("error:")]
    sent = [p["file_name"] for p in posts(sandbox, "/3/image")]
    head, _, rest = error.partition(" were not sent: ")
    unsent = rest.split(", ") if rest else []
    for name, path in zip(names[1:], files[1:], strict=True):
        if name in sent:
            assert f"the link of {path}, uploaded, was not printed: " in head
            assert _stored(sandbox, name)[0] in head
        else:
            assert path in unsent, (path, error)
    assert len(sent) + len(unsent) == len(files)
    _clean(err)


def test_json_lines_to_a_full_disk_lose_one_record_and_send_nothing_more(
    tmp_path: Path, sandbox: str, env: dict[str, str]
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    files = _images(tmp_path, ["a.png", "b.png"])
    with open("/dev/full", "wb") as full:
        code, err = _run(["upload", "-f", "json", *files], env, full)
    assert code == ExitCode.OUTPUT
    assert [p["file_name"] for p in posts(sandbox, "/3/image")] == ["a.png"]
    (error,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert "no space left on device" in error
    assert _stored(sandbox, "a.png")[0] in error
    assert f"1 file was not sent: {files[1]}" in error
    _clean(err)


def test_one_upload_to_a_full_disk_prints_its_link_on_stderr(
    tmp_path: Path, sandbox: str, env: dict[str, str]
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    (image,) = _images(tmp_path, ["a.png"])
    with open("/dev/full", "wb") as full:
        code, err = _run(["upload", image], env, full)
    assert code == ExitCode.OUTPUT
    assert _stored(sandbox, "a.png")[0] in err.splitlines()[0]
    assert "not sent" not in err
    _clean(err)


def test_an_upload_with_stdout_closed_sends_nothing(
    tmp_path: Path, sandbox: str, env: dict[str, str]
) -> None:
    files = _images(tmp_path, ["a.png", "b.png"])
    code, err = _closed_stdout(["upload", *files], env)
    assert code == ExitCode.OUTPUT
    assert posts(sandbox) == []
    assert err.splitlines()[0] == (
        "error: standard output is closed: nothing was sent (the links would be lost)"
    )
    _clean(err)


def _uploaded_id(tmp_path: Path, env: dict[str, str]) -> str:
    (image,) = _images(tmp_path, ["x.png"])
    done = subprocess.run(
        [*CLI, "upload", image], capture_output=True, env=env, timeout=TIMEOUT, check=True
    )
    return done.stdout.decode().strip().rsplit("/", 1)[-1].split(".")[0]


def test_a_lookup_whose_reader_left_early_loses_nothing_and_exits_0(
    tmp_path: Path, env: dict[str, str]
) -> None:
    media = _uploaded_id(tmp_path, env)
    code, line, err = _one_line_reader(["info", media], env)
    assert (code, err) == (0, "")
    assert line == f"id: {media}"
    code, line, err = _one_line_reader(["config", "show"], env)
    assert (code, err) == (0, "")


@pytest.mark.parametrize("where", ["closed", "full"])
def test_a_lookup_that_cannot_print_says_so_and_exits_7(
    tmp_path: Path, env: dict[str, str], where: str
) -> None:
    media = _uploaded_id(tmp_path, env)
    if where == "closed":
        code, err = _closed_stdout(["info", media], env)
        reason = "the descriptor is closed"
    else:
        if not Path("/dev/full").exists():
            pytest.skip("no /dev/full here")
        with open("/dev/full", "wb") as full:
            code, err = _run(["info", media], env, full)
        reason = "no space left on device"
    assert code == ExitCode.OUTPUT
    assert err.splitlines()[0] == f"error: could not write to standard output ({reason})"
    assert err.splitlines()[1].startswith("hint: ")
    _clean(err)


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["upload", "--help"], ["limits"]])
def test_help_and_version_to_a_full_disk_exit_7_not_internal_error(
    env: dict[str, str], args: list[str]
) -> None:
    """click writes --help and --version itself; its failure is the same exit 7."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "wb") as full:
        code, err = _run(args, env, full)
    assert code == ExitCode.OUTPUT
    assert (
        err.splitlines()[0] == "error: could not write to standard output (no space left on device)"
    )
    assert len(err.splitlines()) == 2
    _clean(err)


@pytest.mark.parametrize("history", [True, False])
def test_the_lost_link_is_also_where_the_hint_says(
    tmp_path: Path, sandbox: str, env: dict[str, str], history: bool
) -> None:
    # Where else to find a lost link: the upload history when it recorded the run (an
    # anonymous upload too), else the account's listing.
    files = _images(tmp_path, ["a.png", "b.png", "c.png"])
    extra = [] if history else ["--no-history"]
    code, _line, err = _one_line_reader(["upload", "-j", "1", *extra, *files], env)
    assert code == ExitCode.OUTPUT
    (hint,) = [x for x in err.splitlines() if x.startswith("hint:")]
    media, _ = _stored(sandbox, "b.png")
    if not history:
        assert "signed in, `uploader list` also shows them" in hint
        return
    assert "(`uploader history --status uploaded` also shows them)" in hint
    done = subprocess.run(
        [*CLI, "history", "--status", "uploaded", "--json", files[1]],
        capture_output=True,
        env=env,
        timeout=TIMEOUT,
        check=True,
    )
    (row,) = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert row["id"] == media
    assert row["url"] in err
