"""Helpers for `uploader serve` tests: the real server process and its clients' requests."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from tests.support.e2e import CLI, first_line


@contextmanager
def serve_process(
    args: Sequence[str], env: Mapping[str, str], *, expect_exit: int | None = 0
) -> Iterator[str]:
    """Run `uploader ARGS` (a `serve` command line, --port 0); yield its address; stop it
    with SIGTERM after and check it exited with ``expect_exit``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")}
    full_env.update(env)
    proc = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env
    )
    try:
        yield first_line(proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            raise AssertionError("uploader serve did not stop on SIGTERM") from None
        err = proc.stderr.read() if proc.stderr else ""
        if expect_exit is not None:
            assert code == expect_exit, err
            assert "Traceback" not in err, err


def request(
    base: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    method: str = "POST",
    length: bool = True,
) -> tuple[int, dict[str, str], Any]:
    """One request to the server: (status, response headers, JSON answer)."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        sent = {k.lower() for k in (headers or {})}
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if length and "content-length" not in sent and "transfer-encoding" not in sent:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        try:
            if body:
                connection.send(body)
        except OSError:
            pass  # the server answered early and closed: read what it said
        response = connection.getresponse()
        raw = response.read()
        return response.status, dict(response.getheaders()), json.loads(raw)
    finally:
        connection.close()


def multipart(
    field: str, files: Sequence[tuple[str, bytes]], *, content_type: str = "image/png"
) -> tuple[bytes, str]:
    """A multipart/form-data body with ``files`` in ``field``: (body, Content-Type)."""
    boundary = "----uploaderTestBoundary7MA4YWxkTrZu0gW"
    out = b""
    for name, data in files:
        out += (
            (
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"
