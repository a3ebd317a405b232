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


@contextmanager
def sandbox_process(*settings: str) -> Iterator[str]:
    """Run `uploader sandbox` on 127.0.0.1; yield its base URL; stop it afterwards."""
    args = [*CLI, "sandbox", "--port", "0"]
    for setting in settings:
        args += ["--set", setting]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
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
