"""The bad-input catalogue, issue 11 section 4 (index: test_bad_input.py): a stderr that
cannot be written, in real processes.

stderr closed (``2>&-``), full (``2>/dev/full``) or a pipe whose reader left: the
messages are lost (there is nowhere to say so), but the run goes on as it would have and
ends with its own documented exit code: never exit 1 from the failed write, never a
result missing from stdout because a message before it could not be written."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.support.e2e import CLI, first_line, get_json, sandbox_process, write_config
from tests.support.images import write_png
from uploader.errors import ExitCode

TIMEOUT = 60  # seconds: bounds every process; no timing is asserted
WHERE = ["closed", "full", "reader gone"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_process() as base_url:
        yield base_url


@pytest.fixture
def env(tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")}
    full.update(hermetic_env)
    full["UPLOADER_CONFIG"] = str(write_config(tmp_path / "c.toml", sandbox))
    return full


def _stderr(where: str) -> tuple[int, int | None]:
    """A descriptor for the child's stderr that cannot be written, and one to close after."""
    if where == "full":
        if not Path("/dev/full").exists():
            pytest.skip("no /dev/full here")
        fd = os.open("/dev/full", os.O_WRONLY)
        return fd, fd
    if where == "reader gone":
        read, write = os.pipe()
        os.close(read)
        return write, write
    return -1, None  # closed: the shell closes descriptor 2 before exec


def _popen(args: Sequence[str], env: dict[str, str], where: str) -> subprocess.Popen[str]:
    fd, _ = _stderr(where)
    argv = [*CLI, *args]
    if where == "closed":
        argv = ["sh", "-c", 'exec "$@" 2>&-', "sh", *argv]
        fd = subprocess.DEVNULL
    try:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=fd, env=env, text=True
        )
    finally:
        if fd not in (subprocess.DEVNULL, -1):
            os.close(fd)


def _run(args: Sequence[str], env: dict[str, str], where: str) -> tuple[int, str]:
    proc = _popen(args, env, where)
    out, _ = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["list"], ExitCode.AUTH),  # an anonymous profile cannot list: exit 3, not 1
        (["upload", "/nonexistent/a.png"], ExitCode.USAGE),
        (["--config", "/nonexistent/c.toml", "limits"], ExitCode.USAGE),
        (["info", ""], ExitCode.USAGE),
        (["history", "--since", "yesterday-ish"], ExitCode.USAGE),
    ],
)
def test_an_error_that_cannot_be_shown_keeps_its_exit_code(
    env: dict[str, str], where: str, args: list[str], code: int
) -> None:
    assert _run(args, env, where) == (code, "")


@pytest.mark.parametrize("where", WHERE)
def test_a_batch_whose_messages_cannot_be_written_prints_every_link(
    tmp_path: Path, sandbox: str, env: dict[str, str], where: str
) -> None:
    # -v writes lines on stderr before and between the results; a file that fails writes
    # its error there: the links still come, one line per file, and the exit code is 6.
    files = [str(write_png(tmp_path / f"{n}.png", seed=n)) for n in range(3)]
    (tmp_path / "bad.png").write_bytes(b"not an image at all")
    code, out = _run(["-v", "upload", "-j", "2", *files, str(tmp_path / "bad.png")], env, where)
    assert code == ExitCode.PARTIAL
    lines = out.splitlines()
    assert len(lines) == 4
    assert lines[3] == ""
    stored = {u["name"]: u["id"] for u in get_json(f"{sandbox}/_sandbox/uploads")}
    for line, name in zip(lines, ["0.png", "1.png", "2.png"], strict=False):
        assert stored[name] in line


@pytest.mark.parametrize("where", WHERE)
def test_serve_with_a_stderr_that_cannot_be_written_serves_and_stops_cleanly(
    tmp_path: Path, env: dict[str, str], where: str
) -> None:
    image = write_png(tmp_path / "a.png")
    proc = _popen(["-v", "serve", "--port", "0"], env, where)
    try:
        address = first_line(proc, timeout=TIMEOUT)
        request = urllib.request.Request(  # noqa: S310 - loopback only
            f"{address}/upload",
            data=f'{{"list": ["{image}"]}}'.encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
            assert answer.status == 200
        proc.send_signal(signal.SIGTERM)  # its "stopped" notice cannot be written either
        proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == ExitCode.OK


def test_a_batch_whose_terminal_goes_away_prints_every_link_and_exits_0(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # The progress display is on a terminal (stderr a pty) that is closed after the first
    # link (the window was closed): every later write to it fails (EIO), the summary line
    # at the end included; the results on stdout all come and the exit code is 0.
    import pty

    with sandbox_process("latency=0.3") as base:
        env = {**env, "TERM": "xterm"}
        env["UPLOADER_CONFIG"] = str(write_config(tmp_path / "slow.toml", base))
        files = [str(write_png(tmp_path / f"{n}.png", seed=n)) for n in range(4)]
        master, slave = pty.openpty()
        try:
            proc = subprocess.Popen(
                [*CLI, "upload", "-j", "1", *files],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=slave,
                env=env,
                text=True,
            )
        finally:
            os.close(slave)
        try:
            lines = [first_line(proc, timeout=TIMEOUT)]
            os.close(master)
            out, _ = proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        lines += out.splitlines()
        stored = {u["name"]: u["id"] for u in get_json(f"{base}/_sandbox/uploads")}
    assert proc.returncode == ExitCode.OK
    assert len(lines) == 4
    for line, n in zip(lines, range(4), strict=True):
        assert stored[f"{n}.png"] in line
