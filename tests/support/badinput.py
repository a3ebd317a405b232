"""Helpers of the bad-input catalogue (tests/test_bad_input*.py): a config against a
canned server or the sandbox, and the checks every refusal shares (one ``error:`` line,
``hint:`` lines only, the exit code, no traceback, nothing sent)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.canned import Canned, Recorder, canned_server
from tests.support.e2e import run_cli, write_config


def imgur_config(tmp_path: Path, url: str = "http://127.0.0.1:9", extra: str = "") -> Path:
    """An Imgur profile ``im`` at ``url`` with one attempt per upload."""
    return write_config(
        tmp_path / "config.toml",
        url,
        client_id="cid",
        name="im",
        defaults="[defaults]\nretries = 1",
        extra=extra,
    )


def profile_file(tmp_path: Path, body: str, defaults: str = "") -> Path:
    """A config whose default profile ``x`` is ``body`` (``defaults`` before it)."""
    config = tmp_path / "bad.toml"
    config.write_text(f'default_provider = "x"\n{defaults}[providers.x]\n{body}')
    return config


def check_error(done: subprocess.CompletedProcess[bytes], code: int, message: str) -> str:
    """``done`` exited ``code`` with one ``error:`` line holding ``message`` (plus hints
    only) and no traceback; its stderr."""
    assert done.returncode == code, (done.returncode, done.stderr)
    err = done.stderr.decode()
    assert "Traceback" not in err
    assert "internal error" not in err
    lines = err.splitlines()
    assert lines[0].startswith("error: ")
    assert message in lines[0], lines
    assert all(line.startswith(("error: ", "hint: ")) for line in lines)
    return err


def refused(
    done: subprocess.CompletedProcess[bytes], recorder: Recorder, code: int, message: str
) -> str:
    """``check_error``, and the server received nothing (not even the free credits GET)."""
    err = check_error(done, code, message)
    assert recorder.requests == []
    assert recorder.credits == []
    return err


def upload_nothing_sent(
    tmp_path: Path,
    env: dict[str, str],
    target: str,
    code: int,
    message: str,
    stdin: bytes | None = None,
) -> None:
    """`upload TARGET` is refused with ``code`` and ``message``; nothing reaches the server."""
    with canned_server(Canned(500)) as (url, recorder):
        config = imgur_config(tmp_path, url)
        done = run_cli(["--config", str(config), "upload", target], env, stdin=stdin)
        refused(done, recorder, code, message)
