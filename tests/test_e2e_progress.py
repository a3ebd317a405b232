"""End to end: the progress display and the summary on a pseudo-terminal (issue 13 item 3).

The real `uploader` process, stderr a pseudo-terminal (stdout a pipe), uploads a batch to
the sandbox: the display and the summary line appear on the terminal, stdout holds only
the result lines. The same run with stderr a pipe (a cron log) has neither.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import selectors
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.e2e import CLI, run_cli, sandbox_process, write_config
from tests.support.images import write_png

TIMEOUT = 60.0  # seconds: only catches a run that never ends


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_process() as url:
        yield url


def _run_on_pty(
    args: list[str],
    env: dict[str, str],
    *,
    cli: list[str] = CLI,
    interrupt_on: str | None = None,
    one_terminal: bool = False,
) -> tuple[int, bytes, str]:
    """Run the CLI with stderr a pseudo-terminal: exit code, stdout, what the terminal got.
    ``interrupt_on``: Ctrl-C (SIGINT) once the terminal shows this text; ``one_terminal``:
    stdout is the terminal too (an interactive run; the stdout returned is then empty)."""
    master, slave = pty.openpty()
    # An 80-column terminal (what the display fits to), whatever $COLUMNS says.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")}
    full_env["TERM"] = "xterm"  # a terminal that redraws in place, whatever runs the tests
    full_env.update(env)
    full_env["COLUMNS"] = "200"  # the terminal's own size wins
    proc = subprocess.Popen(
        [*cli, *args],
        stdin=subprocess.DEVNULL,
        stdout=slave if one_terminal else subprocess.PIPE,
        stderr=slave,
        env=full_env,
    )
    os.close(slave)
    out_fd = -1 if proc.stdout is None else proc.stdout.fileno()
    seen = {master: b""} if proc.stdout is None else {master: b"", out_fd: b""}
    deadline = time.monotonic() + TIMEOUT
    try:
        with selectors.DefaultSelector() as selector:
            for fd in seen:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map() and time.monotonic() < deadline:
                for key, _ in selector.select(1.0):
                    try:
                        chunk = os.read(key.fd, 65536)
                    except OSError:  # EIO: the terminal's other end is closed
                        chunk = b""
                    if chunk:
                        seen[key.fd] += chunk
                    else:
                        selector.unregister(key.fd)
                if interrupt_on is not None and interrupt_on.encode() in seen[master]:
                    proc.send_signal(signal.SIGINT)
                    interrupt_on = None
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(master)
        if proc.stdout is not None:
            proc.stdout.close()
    return code, seen.get(out_fd, b""), seen[master].decode()


def _batch(tmp_path: Path, sandbox: str, count: int = 5) -> tuple[Path, list[Path]]:
    config = write_config(tmp_path / "config.toml", sandbox)
    files = [write_png(tmp_path / f"{n}.png", seed=n + 300) for n in range(count)]
    return config, files


def _links(stdout: bytes, sandbox: str, count: int) -> None:
    lines = stdout.decode().splitlines()
    assert len(lines) == count
    assert all(line.startswith(f"{sandbox}/imgur/i/") for line in lines), lines


def test_a_batch_on_a_terminal_shows_the_display_and_the_summary(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    config, files = _batch(tmp_path, sandbox)
    args = ["--config", str(config), "upload", "-j", "2", *map(str, files)]
    code, stdout, terminal = _run_on_pty(args, hermetic_env)
    assert code == 0, terminal
    _links(stdout, sandbox, len(files))  # stdout: the result lines, nothing else
    assert "\r\033[K[" in terminal  # the display, drawn in place
    assert "/5 files" in terminal
    assert re.search(r"\[#{20}\] 5/5 files  \d+(\.\d)? k?B/\d+(\.\d)? k?B", terminal)
    # The display is gone at the end; the summary line is the last thing written.
    assert re.search(r"\r\033\[Kuploaded 5 in \d+\.\d s\r?\n$", terminal), repr(terminal)
    assert "files" not in stdout.decode()


def test_the_summary_counts_each_outcome(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    config, files = _batch(tmp_path, sandbox, 2)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    args = ["--config", str(config), "upload", str(files[0]), str(broken), str(files[1])]
    code, stdout, terminal = _run_on_pty(args, hermetic_env)
    assert code == 6, terminal
    assert stdout.decode().splitlines()[1] == ""  # line 2 is the broken file's
    assert re.search(r"\r\033\[Kuploaded 2, failed 1 in \d+\.\d s\r?\n$", terminal)
    # The error line is whole, on its own line, the display drawn again after it.
    assert re.search(r"\r\033\[Kerror: [^\r\033]*broken\.png[^\r\033]*\r?\n", terminal)


def test_quiet_or_stderr_not_a_terminal_has_no_display_and_no_summary(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    config, files = _batch(tmp_path, sandbox)
    args = ["--config", str(config), "upload", "-j", "2", *map(str, files)]
    done = run_cli(args, hermetic_env)  # stderr a pipe: a cron log
    assert done.returncode == 0, done.stderr
    _links(done.stdout, sandbox, len(files))
    assert done.stderr == b""
    code, stdout, terminal = _run_on_pty(["-q", *args], hermetic_env)
    assert code == 0, terminal
    _links(stdout, sandbox, len(files))
    assert terminal == ""


def _loads_the_display(tmp_path: Path, args: list[str], env: dict[str, str]) -> bool:
    """Whether the run imported the display's module (written at exit to a file)."""
    report = tmp_path / "modules.txt"
    record = (
        f"import atexit, sys; atexit.register(lambda: open({str(report)!r}, 'w').write("
        "str('uploader.cli.progress' in sys.modules))); "
    )
    code, _stdout, terminal = _run_on_pty(args, env, cli=[*CLI[:2], record + CLI[2]])
    assert code == 0, terminal
    return report.read_text() == "True"


def test_one_file_on_a_terminal_has_no_display_and_does_not_load_it(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    config, files = _batch(tmp_path, sandbox, 2)
    args = ["--config", str(config), "upload", str(files[0])]
    code, stdout, terminal = _run_on_pty(args, hermetic_env)
    assert code == 0, terminal
    _links(stdout, sandbox, 1)
    assert terminal == ""
    # The hotkey path (one file) never imports the display; a batch on a terminal does.
    assert not _loads_the_display(tmp_path, args, hermetic_env)
    assert _loads_the_display(tmp_path, [*args, str(files[1])], hermetic_env)


def test_debug_lines_go_above_the_display_whole(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    config, files = _batch(tmp_path, sandbox, 3)
    args = ["-vv", "--config", str(config), "upload", "-j", "2", *map(str, files)]
    code, stdout, terminal = _run_on_pty(args, hermetic_env)
    assert code == 0, terminal
    _links(stdout, sandbox, len(files))
    debug = terminal.count("uploader: ")
    assert debug >= 3  # a request line per file at least
    # Each one on a cleared line of its own, whole, the display drawn again after it.
    whole = re.findall(r"\r\033\[Kuploader: [^\r\033\n]*\r?\n\r\033\[K\[", terminal)
    assert len(whole) == debug, repr(terminal)


def test_the_limiters_wait_shows_in_the_display_not_as_a_line(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # 4 files into a POST bucket of 2 per 4 s: the batch waits for the next window.
    with sandbox_process("imgur_post_limit=2", "imgur_post_window=4") as base:
        config = write_config(tmp_path / "c.toml", base, extra="reserve_uploads = 0\n")
        files = [str(write_png(tmp_path / f"{n}.png", seed=n + 500)) for n in range(4)]
        args = ["--config", str(config), "upload", "-j", "2", "--max-wait", "30", *files]
        code, stdout, terminal = _run_on_pty(args, hermetic_env)
    assert code == 0, terminal
    _links(stdout, base, 4)
    # The wait is part of a display line (drawn in place), never a line of its own.
    # (On this 80-column terminal the bar, the rate and the ETA give way to the wait.)
    shown = re.findall(
        r"\r\033\[K\d/4 files  [^\r\n\033]*  waiting \d+ s for Imgur POST [^\r\n\033]* to reset",
        terminal,
    )
    assert shown, repr(terminal)
    assert not re.search(r"waiting[^\r\033]*\n", terminal), repr(terminal)
    assert re.search(r"\r\033\[Kuploaded 4 in \d+\.\d s\r?\n$", terminal)


def test_a_dumb_terminal_gets_the_summary_but_no_display(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    # TERM=dumb (an editor's shell buffer): no line redrawn in place, no escape sequence.
    config, files = _batch(tmp_path, sandbox, 3)
    args = ["--config", str(config), "upload", *map(str, files)]
    code, stdout, terminal = _run_on_pty(args, {**hermetic_env, "TERM": "dumb"})
    assert code == 0, terminal
    _links(stdout, sandbox, len(files))
    assert re.fullmatch(r"uploaded 3 in \d+\.\d s\r?\n", terminal), repr(terminal)


def test_ctrl_c_during_the_display_leaves_the_terminal_clean(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # Each answer takes 3 s: Ctrl-C once the first file is done, two others in flight.
    with sandbox_process("latency=3") as base:
        config = write_config(tmp_path / "c.toml", base)
        files = [str(write_png(tmp_path / f"{n}.png", seed=n + 700)) for n in range(5)]
        args = ["--config", str(config), "upload", "-j", "2", *files]
        code, stdout, terminal = _run_on_pty(args, hermetic_env, interrupt_on="1/5 files")
    assert code == 130, terminal
    assert len(stdout.decode().splitlines()) == 5  # every file has its line
    # Every display line is cleared before anything else is written: each piece after a
    # clear is either a display line (no line break) or whole lines; nothing is left of
    # the display at the end (no half line, the cursor never hidden).
    pieces = terminal.split("\r\033[K")
    assert pieces[0] == ""
    for piece in pieces[1:-1]:
        assert piece.startswith("[") or piece.endswith("\n"), repr(terminal)
        assert "\n" not in piece or piece.endswith("\n"), repr(terminal)
    assert "\033[?25l" not in terminal
    summary, *rest = pieces[-1].splitlines()
    # The files in flight may or may not have sent their request yet: every file counted.
    counted = re.fullmatch(
        r"uploaded 1(?:, skipped (\d))?(?:, failed (\d) \((\d) ambiguous\))? in \d+\.\d s",
        summary,
    )
    assert counted, repr(terminal)
    skipped, failed, ambiguous = (int(n or 0) for n in counted.groups())
    assert (skipped + failed, failed) == (4, ambiguous), summary
    assert rest == ["error: interrupted"], repr(terminal)
    assert pieces[-1].endswith("\n")


def test_links_on_the_same_terminal_are_never_glued_to_the_display(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    # An interactive run: stdout and stderr one terminal. Each link starts a cleared line
    # of its own, the display drawn again below it; none is written after a display line.
    config, files = _batch(tmp_path, sandbox)
    args = ["--config", str(config), "upload", "-j", "2", *map(str, files)]
    code, _stdout, terminal = _run_on_pty(args, hermetic_env, one_terminal=True)
    assert code == 0, terminal
    links = re.findall(rf"\r\033\[K{re.escape(sandbox)}/imgur/i/\w+\.png\r?\n", terminal)
    assert len(links) == len(files), repr(terminal)
    assert terminal.count(f"{sandbox}/imgur/i/") == len(files)
    assert re.search(r"\r\033\[Kuploaded 5 in \d+\.\d s\r?\n$", terminal), repr(terminal)
