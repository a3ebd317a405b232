"""A tiny loopback HTTP server that answers with canned responses, for error-shape tests.

Each request gets the next canned answer (the last one repeats). ``truncate`` sends the
headers and half the body, then closes the connection (a server dying mid-response).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Canned:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    truncate: bool = False


# What an Imgur ``GET /3/credits`` answers here: plenty of every credit (the limiter asks it
# once, free, before spending a bucket with a reserve whose figures it does not know).
CREDITS = json.dumps(
    {
        "data": {
            "UserLimit": 500,
            "UserRemaining": 500,
            "UserReset": 3600,
            "ClientLimit": 12500,
            "ClientRemaining": 12500,
        },
        "success": True,
        "status": 200,
    }
).encode()


@dataclass
class Recorder:
    """The canned answers, given in order to every request but ``GET .../3/credits``
    (answered apart with :data:`CREDITS` and recorded in ``credits``, not ``requests``)."""

    answers: list[Canned]
    requests: list[tuple[str, str, dict[str, str], int]] = field(default_factory=list)
    credits: list[str] = field(default_factory=list)


@contextmanager
def canned_server(*answers: Canned) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder(list(answers))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.command == "GET" and self.path.endswith("/3/credits"):
                recorder.credits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(CREDITS)))
                self.end_headers()
                self.wfile.write(CREDITS)
                return
            recorder.requests.append(
                (
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    len(body),
                )
            )
            index = min(len(recorder.requests) - 1, len(recorder.answers) - 1)
            canned = recorder.answers[index]
            self.send_response(canned.status)
            for name, value in canned.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(canned.body)))
            self.end_headers()
            if canned.truncate:
                self.wfile.write(canned.body[: len(canned.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(canned.body)

        do_GET = do_POST = do_DELETE = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
