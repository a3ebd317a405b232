"""The command line's contract where it needs a real process: Ctrl-C, broken pipes, the
libraries' logging, batches that stop at a refusal. In-process checks: tests/test_cli_*.py."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.e2e import (
    CLI,
    first_line,
    posts,
    read_until,
    requests_log,
    run_cli,
    sandbox_process,
    write_config,
)
from tests.support.images import write_png
from uploader.errors import ExitCode


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_process() as base_url:
        yield base_url


def _json_lines(stdout: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.decode().splitlines()]


def _interrupted_upload(
    args: list[str], env: dict[str, str], ready: Callable[[subprocess.Popen[str]], tuple[str, str]]
) -> tuple[int, str, str]:
    """Run `uploader ARGS`, send Ctrl-C once ``ready`` returns (what it read of stdout and
    stderr), and give (exit code, all of stdout, all of stderr). Bounded: 30 s to end after
    the signal. The child restores SIGINT's default handler itself (``CLI``), so this works
    under a parent that ignores SIGINT too."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")}
    full_env.update(env)
    proc = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, text=True
    )
    try:
        seen_out, seen_err = ready(proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode, seen_out + out, seen_err + err


def test_rejected_credentials_stop_the_batch_after_one_request(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    files = [str(write_png(tmp_path / f"{n}.png", seed=n)) for n in range(4)]
    with sandbox_process("imgur_client_ids=only-this-id") as base_url:
        config = write_config(tmp_path / "c.toml", base_url, client_id="another-id")
        done = run_cli(["--config", str(config), "upload", "-f", "json", *files], hermetic_env)
        asked = [(r["method"], r["path"]) for r in requests_log(base_url)]
    # One request: the first run's free credits check, which the rejection stops before
    # any file is sent (the other three were never sent either).
    assert asked == [("GET", "/imgur/3/credits")]
    assert done.returncode == ExitCode.AUTH
    records = _json_lines(done.stdout)
    assert [r["path"] for r in records] == files
    assert [r["status"] for r in records] == ["failed", "skipped", "skipped", "skipped"]
    first_error = str(records[0]["error"])
    assert first_error.startswith("Imgur rejected the credentials")
    assert all(r["error"] == f"not sent: {first_error}" for r in records[1:])
    err = done.stderr.decode().splitlines()
    assert err[0] == f"error: {files[0]}: {first_error}"
    assert err[-1] == f"error: 3 files were not sent: {first_error}"
    assert "Traceback" not in done.stderr.decode()


def test_ctrl_c_mid_batch_accounts_for_every_file(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    files = [str(write_png(tmp_path / f"{n}.png", seed=n)) for n in range(3)]
    with sandbox_process("latency=20") as base_url:
        config = write_config(tmp_path / "c.toml", base_url)

        def first_upload_on_its_way(proc: subprocess.Popen[str]) -> tuple[str, str]:
            deadline = time.monotonic() + 30  # a bound on the condition, not a timing
            while not posts(base_url):
                assert time.monotonic() < deadline, "the upload never reached the sandbox"
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.05)
            return "", ""

        code, out, text = _interrupted_upload(
            ["--config", str(config), "upload", "-j", "1", "-f", "json", *files],
            hermetic_env,
            first_upload_on_its_way,
        )
    assert code == ExitCode.INTERRUPTED
    records = _json_lines(out.encode())
    assert [r["path"] for r in records] == files
    assert [r["status"] for r in records] == ["failed", "skipped", "skipped"]
    assert "may or may not have reached the server" in str(records[0]["error"])
    assert [r["error"] for r in records[1:]] == ["not sent: interrupted"] * 2
    assert text.endswith("\nerror: interrupted\n")
    assert "" not in text.splitlines()  # no stray empty line (click prints one)
    assert "error: 2 files were not sent: not sent: interrupted" not in text
    assert "error: 2 files were not sent: interrupted" in text
    assert "Traceback" not in text


def test_ctrl_c_during_a_jobs_batch_accounts_for_every_file_in_flight_and_not_sent(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # The first file goes alone (its answer proves the credentials), then three at once;
    # Ctrl-C while those three wait for their answers (the sandbox answers 5 s late).
    files = [str(write_png(tmp_path / f"{n}.png", seed=n)) for n in range(7)]
    with sandbox_process("latency=5") as base_url:
        config = write_config(tmp_path / "c.toml", base_url)

        def three_uploads_on_their_way(proc: subprocess.Popen[str]) -> tuple[str, str]:
            deadline = time.monotonic() + 60  # a bound on the condition, not a timing
            while len(posts(base_url)) < 4:
                assert time.monotonic() < deadline, "the uploads never reached the sandbox"
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.05)
            return "", ""

        code, out, text = _interrupted_upload(
            ["--config", str(config), "upload", "-j", "3", "-f", "json", *files],
            hermetic_env,
            three_uploads_on_their_way,
        )
    assert code == ExitCode.INTERRUPTED
    records = _json_lines(out.encode())
    assert [r["path"] for r in records] == files  # every file, in input order
    assert [r["status"] for r in records] == ["uploaded"] + ["failed"] * 3 + ["skipped"] * 3
    assert [r["ambiguous"] for r in records] == [False] + [True] * 3 + [False] * 3
    assert all("may or may not have reached" in str(r["error"]) for r in records[1:4])
    assert [r["error"] for r in records[4:]] == ["not sent: interrupted"] * 3
    assert "error: 3 files were not sent: interrupted" in text
    assert text.endswith("\nerror: interrupted\n")
    assert "Traceback" not in text
    # The history says the same: one uploaded, three may exist, the rest never left.
    history = Path(hermetic_env["XDG_DATA_HOME"]) / "uploader" / "history.sqlite3"
    with sqlite3.connect(history) as db:
        statuses = sorted(row[0] for row in db.execute("SELECT status FROM uploads"))
    assert statuses == ["ambiguous"] * 3 + ["uploaded"]


def test_a_closed_stdout_is_not_an_error(hermetic_env: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")}
    env.update(hermetic_env)
    proc = subprocess.Popen(
        [*CLI, "config", "init", "--stdout"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # `uploader ... | head -0`
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert err == b""


def test_debug_output_is_our_own_and_never_a_library_s(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", sandbox, client_id="fake-client-id-77")
    image = str(write_png(tmp_path / "a.png", seed=8))
    done = run_cli(["-vv", "--config", str(config), "upload", image], hermetic_env)
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert f"uploader: POST {sandbox}/imgur/3/image" in err
    assert "uploader: -> HTTP 200" in err
    assert "HTTP Request:" not in err  # httpx's own log line
    assert "send_request_headers" not in err  # httpcore's
    assert "fake-client-id-77" not in err


def test_ctrl_c_while_waiting_for_the_limiter_reports_the_file_as_not_sent(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    files = [str(write_png(tmp_path / f"{n}.png", seed=20 + n)) for n in range(2)]
    with sandbox_process("imgur_post_limit=1", "imgur_post_window=120") as base_url:
        config = write_config(tmp_path / "c.toml", base_url)

        def second_file_waiting(proc: subprocess.Popen[str]) -> tuple[str, str]:
            line = first_line(proc)  # the first file is done
            assert proc.stderr is not None
            # The second one waits for the POST bucket's reset (120 s): it says so first.
            said = read_until(proc, proc.stderr, "waiting ")
            return line + "\n", said

        code, out, err = _interrupted_upload(
            ["--config", str(config), "upload", "-f", "json", *files],
            hermetic_env,
            second_file_waiting,
        )
        assert len(posts(base_url)) == 1
    assert code == ExitCode.INTERRUPTED
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["status"] == "uploaded"
    assert (second["path"], second["status"], second["ambiguous"]) == (files[1], "skipped", False)
    assert second["error"] == "not sent: interrupted"
    assert "waiting " in err
    assert err.rstrip().endswith("error: interrupted")


def test_a_server_429_the_retries_gave_up_on_says_when_to_try_again(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    image = str(write_png(tmp_path / "a.png", seed=31))
    with sandbox_process("fault_429=1") as base_url:
        config = write_config(tmp_path / "c.toml", base_url)
        done = run_cli(
            ["--config", str(config), "upload", "--on-limit", "fail", image], hermetic_env
        )
        assert len(posts(base_url)) == 1  # failing: no second try against the refusal
    assert done.returncode == ExitCode.RATE_LIMITED
    error, hint = done.stderr.decode().splitlines()
    assert error.startswith(f"error: {image}: ")
    assert re.search(r"(resets|next try is allowed) (tomorrow )?at \d\d:\d\d:\d\d .*\(in ", error)
    assert hint.startswith("hint: ")
