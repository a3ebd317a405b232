"""The low-speed rule under concurrency (issue 13): a batch sends from several threads over
one client, so the watchdog must cut only the stalled request's connection, never the
healthy uploads beside it. A real local server on 127.0.0.1, real sockets, real clock
(the rule's window is 1 s; every wait below is bounded)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from uploader.errors import NetworkError
from uploader.http.client import LowSpeed
from uploader.http.session import ApiSession


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *_args: object) -> None:
        pass

    def do_GET(self) -> None:
        stop: threading.Event = self.server.stop  # type: ignore[attr-defined]
        if self.path == "/slow":
            # Headers, then one byte every 0.4 s: far below 1000 bytes/s.
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                if stop.wait(0.4):
                    return
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
            return
        # Steady and healthy: 8 KiB every 0.1 s for 2.5 s.
        self.send_response(200)
        self.send_header("Content-Length", str(25 * 8192))
        self.end_headers()
        for _ in range(25):
            if stop.wait(0.1):
                return
            self.wfile.write(b"y" * 8192)
            self.wfile.flush()


@pytest.fixture
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.stop = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.stop.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()


def test_only_the_stalled_request_is_cut_not_the_one_beside_it(base_url: str) -> None:
    with httpx.Client(timeout=10) as client:
        session = ApiSession(client, low_speed=LowSpeed(1000, 1.0), clock=time.monotonic)
        outcome: dict[str, object] = {}

        def get(path: str) -> None:
            try:
                outcome[path] = session.request("GET", f"{base_url}{path}").content
            except NetworkError as exc:
                outcome[path] = exc

        threads = [threading.Thread(target=get, args=(p,)) for p in ("/fast", "/slow")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert isinstance(outcome["/slow"], NetworkError)
    assert "too slow" in outcome["/slow"].message or "bytes/s" in outcome["/slow"].message
    assert outcome["/fast"] == b"y" * (25 * 8192)  # untouched by the cut of the other
