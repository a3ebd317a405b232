"""The command line's contract as a user meets it: batches that stop at a refusal, Ctrl-C,
help, broken pipes, internal errors, quiet mode, precedence and the smaller options."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.e2e import (
    CLI,
    first_line,
    get_json,
    posts,
    read_until,
    run_cli,
    sandbox_process,
    write_config,
)
from tests.support.images import write_png
from uploader.cli import run
from uploader.errors import ExitCode
from uploader.output import Console


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
        sent = posts(base_url)
    assert len(sent) == 1  # the other three were never sent
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
            ["--config", str(config), "upload", "-f", "json", *files],
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


def test_no_command_prints_the_help_as_help(hermetic_env: dict[str, str]) -> None:
    done = run_cli([], hermetic_env)
    assert done.returncode == ExitCode.USAGE
    err = done.stderr.decode()
    assert err.startswith("Usage: uploader [OPTIONS] COMMAND")
    assert "\nCommands:\n" in err
    assert "  upload " in err
    assert "error:" not in err


def test_unknown_option_is_a_usage_error_with_a_hint(hermetic_env: dict[str, str]) -> None:
    done = run_cli(["upload", "--bogus", "x.png"], hermetic_env)
    assert done.returncode == ExitCode.USAGE
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("error: No such option '--bogus'")
    assert lines[1] == "hint: see `uploader upload --help`"


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


def test_an_unexpected_exception_is_exit_1_with_a_hint_and_a_traceback_only_at_vv() -> None:
    def boom() -> None:
        raise RuntimeError("something\nbroke")

    err = io.StringIO()
    assert run(boom, Console(io.StringIO(), err), 0) == ExitCode.INTERNAL
    assert err.getvalue().splitlines() == [
        "error: internal error: RuntimeError: something broke",
        "hint: run again with -vv for a traceback, and report it",
    ]
    assert "Traceback" not in err.getvalue()


def test_quiet_drops_notices_but_not_results_or_errors(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    target = tmp_path / "new" / "config.toml"
    loud = run_cli(["--config", str(target), "config", "init"], hermetic_env)
    assert loud.returncode == 0
    assert loud.stderr.decode().startswith(f"wrote {target}")
    quiet = run_cli(["-q", "--config", str(target), "config", "init", "--force"], hermetic_env)
    assert quiet.returncode == 0
    assert quiet.stderr == b""
    refused = run_cli(["-q", "--config", str(target), "config", "init"], hermetic_env)
    assert refused.returncode == ExitCode.USAGE
    assert refused.stderr.decode().splitlines() == [
        f"error: {target}: already exists",
        "hint: pass --force to overwrite it",
    ]


def test_config_init_stdout_prints_the_example_and_writes_nothing(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    target = tmp_path / "config.toml"
    done = run_cli(["--config", str(target), "config", "init", "--stdout"], hermetic_env)
    assert done.returncode == 0
    repo_copy = Path(__file__).resolve().parent.parent / "config.example.toml"
    assert done.stdout.decode() == repo_copy.read_text()
    assert not target.exists()


def test_flag_beats_environment_beats_file(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", sandbox, extra="")
    config.write_text(
        config.read_text().replace("[providers.", '[defaults]\nformat = "bbcode"\n\n[providers.', 1)
    )
    image = str(write_png(tmp_path / "a.png", seed=3))
    from_file = run_cli(["--config", str(config), "upload", image], hermetic_env)
    assert from_file.stdout.decode().startswith("[img]https://i.imgur.com/")
    env = {**hermetic_env, "UPLOADER_FORMAT": "json"}
    from_env = run_cli(["--config", str(config), "upload", image], env)
    assert json.loads(from_env.stdout)["status"] == "uploaded"
    from_flag = run_cli(["--config", str(config), "upload", "-f", "url", image], env)
    assert from_flag.stdout.decode().startswith("https://i.imgur.com/")
    assert from_flag.stdout.decode().count("\n") == 1


def test_on_limit_from_the_environment_fails_at_once(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    image = str(write_png(tmp_path / "a.png", seed=4))
    with sandbox_process("imgur_post_limit=1") as base_url:
        config = write_config(tmp_path / "c.toml", base_url)
        first = run_cli(["--config", str(config), "upload", image], hermetic_env)
        assert first.returncode == 0, first.stderr
        env = {**hermetic_env, "UPLOADER_ON_LIMIT": "fail"}
        second = run_cli(["--config", str(config), "upload", image], env)
        assert len(posts(base_url)) == 1  # refused before sending
    assert second.returncode == ExitCode.RATE_LIMITED
    assert "Imgur POST bucket (per IP) is spent (0 of 1 left)" in second.stderr.decode()


def test_standard_input_twice_is_a_usage_error(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", sandbox)
    done = run_cli(["--config", str(config), "upload", "-", "-"], hermetic_env, stdin=b"x")
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.decode().splitlines()[0] == (
        "error: '-' (standard input) can be given only once"
    )


def test_album_title_and_description_reach_the_server(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", sandbox)
    image = str(write_png(tmp_path / "a.png", seed=5))
    args = ["--title", "Tüt", "--description", "a  b", "--album", "fakeAlbumHash"]
    done = run_cli(["--config", str(config), "upload", *args, image], hermetic_env)
    assert done.returncode == 0, done.stderr
    fields = posts(sandbox)[-1]["fields"]
    assert isinstance(fields, dict)
    assert (fields["title"], fields["description"], fields["album"]) == (
        "Tüt",
        "a  b",
        "fakeAlbumHash",
    )


def test_copy_puts_the_links_on_the_clipboard(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    clipboard = tmp_path / "clipboard.txt"
    fake = bin_dir / "xclip"
    fake.write_text(f"#!/bin/sh\ncat > {clipboard}\n")
    fake.chmod(0o755)
    config = write_config(tmp_path / "c.toml", sandbox)
    files = [str(write_png(tmp_path / f"{n}.png", seed=10 + n)) for n in range(2)]
    env = {**hermetic_env, "PATH": f"{bin_dir}:{os.environ['PATH']}", "WAYLAND_DISPLAY": ""}
    done = run_cli(["--config", str(config), "upload", "--copy", *files], env)
    assert done.returncode == 0, done.stderr
    assert clipboard.read_text() == done.stdout.decode().rstrip("\n")
    assert clipboard.read_text().count("https://i.imgur.com/") == 2


def test_limits_lists_every_profile_even_when_one_cannot_be_asked(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    config = write_config(
        tmp_path / "c.toml",
        sandbox,
        extra=f'\n[providers.gy]\nkind = "gyazo"\nbase_url = "{sandbox}/gyazo"\n'
        f'upload_url = "{sandbox}/gyazo-upload"\n',
    )
    done = run_cli(["--config", str(config), "limits"], hermetic_env)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode().splitlines()
    assert out[0] == f"sb (imgur, {sandbox}/imgur)"
    assert any(line.startswith("  Imgur POST bucket (per IP): ") for line in out)
    at = out.index(f"gy (gyazo, {sandbox}/gyazo)")
    assert out[at + 1].startswith("  not available: ")
    assert "Gyazo" in out[at + 1]
    as_json = run_cli(["--config", str(config), "limits", "--json"], hermetic_env)
    rows = _json_lines(as_json.stdout)
    assert {row["profile"] for row in rows} == {"sb", "gy"}
    assert [row["bucket"] for row in rows if row["profile"] == "gy"] == [None]
    only_gy = run_cli(["--config", str(config), "limits", "gy"], hermetic_env)
    assert only_gy.returncode == ExitCode.AUTH  # asked by name: its error is the answer


def test_the_starter_placeholder_client_id_sends_nothing(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", sandbox, client_id="your-client-id")
    image = str(write_png(tmp_path / "a.png", seed=6))
    before = get_json(f"{sandbox}/_sandbox/stats")["requests"]
    done = run_cli(["--config", str(config), "upload", image], hermetic_env)
    assert done.returncode == ExitCode.USAGE
    err = done.stderr.decode().splitlines()
    assert err[0] == (
        f"error: {config}, line 5: key 'providers.sb.client_id' is still the starter "
        "config's placeholder 'your-client-id'"
    )
    assert err[1].startswith("hint: register an application at https://api.imgur.com/")
    assert "UPLOADER_SB_CLIENT_ID" in err[1]
    assert get_json(f"{sandbox}/_sandbox/stats")["requests"] == before


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


def test_lookups_are_retried_like_uploads(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    image = str(write_png(tmp_path / "a.png", seed=30))
    with sandbox_process("fault_503=1", "fault_routes=get", "fault_retry_after=0") as base_url:
        config = write_config(tmp_path / "c.toml", base_url)
        config.write_text(
            config.read_text().replace("[providers", "[defaults]\nretries = 2\n\n[providers", 1)
        )
        up = run_cli(["--config", str(config), "upload", "-f", "json", image], hermetic_env)
        assert up.returncode == 0, up.stderr
        media_id = json.loads(up.stdout)["id"]
        done = run_cli(["-v", "--config", str(config), "info", media_id], hermetic_env)
        gets = [r for r in get_json(f"{base_url}/_sandbox/requests") if r["method"] == "GET"]
    assert done.returncode == ExitCode.PROVIDER
    assert len(gets) == 2  # retries = 2
    err = done.stderr.decode()
    assert "attempt 1 failed (Imgur failed the lookup: " in err
    assert "); retrying in " in err
    assert err.splitlines()[-1].startswith(f"error: {media_id} (profile sb): Imgur failed the ")


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


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_max_wait_must_be_a_number_of_seconds(hermetic_env: dict[str, str], value: str) -> None:
    done = run_cli(["upload", "--max-wait", value, "x.png"], hermetic_env)
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.decode().startswith("error: Invalid value for '--max-wait': ")


def test_auth_status_does_not_promise_uploads_with_the_placeholder(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", "http://127.0.0.1:9", client_id="your-client-id")
    done = run_cli(["--config", str(config), "auth", "status", "--offline"], hermetic_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == [
        "sb (imgur, http://127.0.0.1:9/imgur): not signed in; client_id is still the starter "
        "config's placeholder"
    ]
