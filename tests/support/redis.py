"""A real ``redis-server`` for the tests of the Redis state backend (issue 14).

``UPLOADER_TEST_REDIS`` (``.ci/run`` exports it) names a server to use; else one is started
here on a free port of 127.0.0.1 when the ``redis-server`` binary exists, else the tests are
skipped, but they FAIL instead when ``UPLOADER_TEST_REDIS_REQUIRED=1`` (CI), so that they can
never be skipped silently there. Each test gets its own database number (flushed before and
after), so tests running in parallel (xdist) do not meet.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DATABASES = 16
# Read at import: tests/conftest.py's hermetic_env removes every UPLOADER_* variable.
GIVEN = os.environ.get("UPLOADER_TEST_REDIS")
REQUIRED = os.environ.get("UPLOADER_TEST_REDIS_REQUIRED") == "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing(why: str) -> None:
    if REQUIRED:
        pytest.fail(f"a real redis-server is required here: {why}")
    pytest.skip(why)


class Server:
    """A ``redis-server`` process of ours (no persistence), stopped by :meth:`stop`."""

    def __init__(self, port: int | None = None, *extra: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("no redis-server binary (apt-get install redis-server)")
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="uploader-redis-")
        self.proc = subprocess.Popen(
            [
                str(binary),
                *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--daemonize", "no", "--dir", self.dir),
                *("--databases", str(DATABASES), *extra),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        missing("redis-server did not start")

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


_SHARED: list[Server] = []


def base_url() -> str:
    """``redis://127.0.0.1:PORT`` of the test server (no database number)."""
    if GIVEN:
        return GIVEN.rstrip("/").rsplit("/", 1)[0] if GIVEN.count("/") > 2 else GIVEN
    if not _SHARED:
        _SHARED.append(Server())
        atexit.register(_SHARED[0].stop)
    return f"redis://127.0.0.1:{_SHARED[0].port}"


def client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A database of the test server of its own, empty before and after the test."""
    base = base_url()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    number = int("".join(c for c in worker if c.isdigit()) or 0)
    db = 1 + number % 15  # one per worker (its tests run one at a time); any server has 16
    url = f"{base}/{db}"
    conn = client(url)
    try:
        conn.flushdb()
    except Exception as exc:  # noqa: BLE001 - any failure means "no server"
        missing(f"redis at {base} unusable: {exc}")
    yield url
    with contextlib.suppress(Exception):
        conn.flushdb()
    conn.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Server]:
    """A redis-server for this test alone (one the test may stop)."""
    server = Server()
    yield server
    server.stop()
