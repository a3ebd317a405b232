"""Helpers for end-to-end tests: the real `uploader` process against `uploader sandbox`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-m", "uploader"]


START_TIMEOUT = 20.0  # seconds: generous, it only catches a sandbox that never starts


def first_line(proc: subprocess.Popen[str], timeout: float = START_TIMEOUT) -> str:
    """The first line ``proc`` writes to stdout, stripped; kills it and fails clearly when
    none comes within ``timeout`` seconds (or stdout closes first)."""
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout)
    line = proc.stdout.readline() if ready else ""
    if not line.endswith("\n"):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        why = "stdout closed" if ready else f"no line within {timeout:g} s"
        raise AssertionError(f"{proc.args!r}: {why}; got {line!r}; stderr: {err!r}")
    return line.strip()


@contextmanager
def sandbox_process(*settings: str, host: str = "127.0.0.1") -> Iterator[str]:
    """Run `uploader sandbox` on ``host`` (loopback); yield its base URL; stop it after."""
    args = [*CLI, "sandbox", "--host", host, "--port", "0"]
    for setting in settings:
        args += ["--set", setting]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = first_line(proc)
        shown = f"[{host}]" if ":" in host else host
        if not line.startswith(f"http://{shown}:"):
            proc.kill()
            _, err = proc.communicate(timeout=10)
            raise AssertionError(f"sandbox did not start: {line!r} {err}")
        yield line
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
        return json.load(response)


def write_config(
    path: Path, base_url: str, *, client_id: str = "test-client", extra: str = "", name: str = "sb"
) -> Path:
    path.write_text(
        f'default_provider = "{name}"\n\n[providers.{name}]\nkind = "imgur"\n'
        f'client_id = "{client_id}"\nbase_url = "{base_url}/imgur"\n{extra}'
    )
    return path


def run_cli(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    stdin: bytes | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[bytes]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")}
    full_env.update(env)
    return subprocess.run(
        [*CLI, *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
