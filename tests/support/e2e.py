"""Helpers for end-to-end tests: the real `uploader` process against `uploader sandbox`.

Every `uploader` process starts through :data:`CLI`, which puts SIGINT back to Python's
default handler first: a child inherits an ignored SIGINT (pytest run under ``trap '' INT``
or some CI runners), and the Ctrl-C tests would then wait for an exit that never comes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

# `python -m uploader`, with SIGINT restored to the default (KeyboardInterrupt) first.
CLI = [
    sys.executable,
    "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'uploader'; from uploader.__main__ import main; main()",
]


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


def read_until(
    proc: subprocess.Popen[str], stream: IO[str], marker: str, timeout: float = START_TIMEOUT
) -> str:
    """Read ``stream`` (a pipe of ``proc`` not read before) until ``marker`` has appeared;
    return all that was read. Kills ``proc`` and fails clearly when the marker does not come
    within ``timeout`` seconds or the pipe closes first. Reads the descriptor itself, so no
    line can hide in a Python buffer while we wait for more."""
    import selectors
    import time

    fd = stream.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while marker.encode() not in seen:
            left = deadline - time.monotonic()
            chunk = os.read(fd, 65536) if left > 0 and selector.select(left) else None
            if not chunk:
                proc.kill()
                proc.wait(timeout=10)
                why = "the pipe closed" if chunk == b"" else f"not within {timeout:g} s"
                raise AssertionError(f"{proc.args!r}: no {marker!r} ({why}); got {seen!r}")
            seen += chunk
    return seen.decode()


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


def requests_log(base_url: str) -> list[dict[str, Any]]:
    """Every request the sandbox received, oldest first."""
    log: list[dict[str, Any]] = get_json(f"{base_url}/_sandbox/requests")
    return log


def posts(base_url: str, ending: str = "") -> list[dict[str, Any]]:
    """The POST requests the sandbox received whose path ends with ``ending``."""
    return [
        r for r in requests_log(base_url) if r["method"] == "POST" and r["path"].endswith(ending)
    ]


def write_config(
    path: Path,
    base_url: str,
    *,
    client_id: str = "test-client",
    extra: str = "",
    name: str = "sb",
    defaults: str = "",
) -> Path:
    """An Imgur profile ``name`` (the default one) against the sandbox at ``base_url``;
    ``defaults`` goes before it (e.g. a ``[defaults]`` table), ``extra`` inside it."""
    path.write_text(
        f'default_provider = "{name}"\n{defaults}\n[providers.{name}]\nkind = "imgur"\n'
        f'client_id = "{client_id}"\nbase_url = "{base_url}/imgur"\n{extra}'
    )
    return path


def write_all_kinds(path: Path, base_url: str) -> Path:
    """One profile of each kind against the sandbox: ``gz`` (Gyazo), ``ma`` (Mastodon),
    ``im`` (Imgur)."""
    path.write_text(
        f'[providers.gz]\nkind = "gyazo"\nbase_url = "{base_url}/gyazo"\n'
        f'upload_url = "{base_url}/gyazo-upload"\n\n'
        f'[providers.ma]\nkind = "mastodon"\nbase_url = "{base_url}/mastodon"\n'
        f'[providers.im]\nkind = "imgur"\nclient_id = "cid"\nbase_url = "{base_url}/imgur"\n'
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
