"""The sandbox's HTTP server: routing by prefix, stats, request log, latency and faults.

Emulators (one per provider) sit in a registry keyed by path prefix; each gets a
:class:`SandboxRequest` and returns a :class:`SandboxResponse`. The server handles what is
common: reading bodies (Content-Length or chunked) without holding them whole, the seeded
fault injection, added latency, counters, and the request log (credentials only as hashes).
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from uploader.sandbox.faults import FaultPlan
from uploader.sandbox.knobs import SandboxConfig


@dataclass
class SandboxRequest:
    """One request as an emulator sees it (``path`` is relative to the emulator's prefix)."""

    method: str
    path: str
    query: dict[str, str]
    headers: Message
    remote_ip: str
    read: Callable[[int], bytes]
    workdir: Path
    log: dict[str, Any]

    def drain(self) -> None:
        while self.read(65536):
            pass


@dataclass
class SandboxResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False  # close the connection without any answer
    delay: float = 0.0


class Emulator(Protocol):
    """One provider's emulator."""

    def route_kind(self, method: str, path: str) -> str:
        """ "upload", "get" or "other": which fault_routes a request belongs to."""
        ...

    def handle(self, request: SandboxRequest) -> SandboxResponse: ...

    def fault_response(self, kind: str, request: SandboxRequest) -> SandboxResponse:
        """The provider's own shape for an injected 429/5xx/HTML answer."""
        ...

    def uploads(self) -> list[dict[str, Any]]: ...

    def reset(self) -> None: ...


class Stats:
    """Counters for /_sandbox/stats, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self.requests = 0
        self.responses_429 = 0
        self.not_modified = 0
        self.bytes_sent = 0
        self.by_status: Counter[str] = Counter()
        self.by_route: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.log: list[dict[str, Any]] = []

    def begin(self, entry: dict[str, Any]) -> None:
        """Log a request as it arrives (so a slow answer is already visible)."""
        with self.lock:
            self.requests += 1
            self.by_route[f"{entry['method']} {entry['path']}"] += 1
            entry["status"] = None
            self.log.append(entry)

    def record(self, entry: dict[str, Any], status: int | None, sent: int) -> None:
        """Complete a logged request with its answer (None: dropped without one)."""
        with self.lock:
            self.bytes_sent += sent
            if status is not None:
                self.by_status[str(status)] += 1
                self.responses_429 += status == 429
                self.not_modified += status == 304
            entry["status"] = status


def credential_hash(authorization: str | None) -> tuple[str | None, str | None]:
    """(scheme, sha256 of the credential): the request log never keeps the secret."""
    if not authorization:
        return None, None
    scheme, _, value = authorization.strip().partition(" ")
    return scheme, hashlib.sha256(value.strip().encode()).hexdigest()


class _Body:
    """Reads a request body by Content-Length or chunked encoding, a bounded chunk at a time."""

    def __init__(self, rfile: Any, headers: Message) -> None:
        self.rfile = rfile
        self.chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        self.left = int(headers.get("Content-Length") or 0)
        self.chunk_left = 0
        self.done = False

    def read(self, size: int) -> bytes:
        if self.done:
            return b""
        if not self.chunked:
            if self.left <= 0:
                self.done = True
                return b""
            data: bytes = self.rfile.read(min(size, self.left))
            self.left -= len(data)
            if not data:
                self.done = True
            return data
        if self.chunk_left == 0:
            line = self.rfile.readline(1024).strip()
            self.chunk_left = int(line.split(b";")[0] or b"0", 16)
            if self.chunk_left == 0:
                while self.rfile.readline(1024).strip():
                    pass
                self.done = True
                return b""
        data = self.rfile.read(min(size, self.chunk_left))
        self.chunk_left -= len(data)
        if self.chunk_left == 0:
            self.rfile.readline(16)
        return data


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        config: SandboxConfig,
        workdir: Path,
        emulators: dict[str, Emulator],
    ) -> None:
        self.config = config
        self.workdir = workdir
        self.emulators = emulators
        self.stats = Stats()
        self.faults = FaultPlan(config)
        super().__init__(address, _Handler)

    def emulator_for(self, path: str) -> tuple[str, Emulator] | None:
        for prefix in sorted(self.emulators, key=len, reverse=True):
            if path == prefix or path.startswith(prefix + "/"):
                return prefix, self.emulators[prefix]
        return None

    def uploads(self) -> list[dict[str, Any]]:
        return [item for emulator in self.emulators.values() for item in emulator.uploads()]

    def stats_document(self) -> dict[str, Any]:
        with self.stats.lock:
            return {
                "requests": self.stats.requests,
                "uploads_stored": len(self.uploads()),
                "responses_429": self.stats.responses_429,
                "not_modified": self.stats.not_modified,
                "faults_injected": sum(self.stats.faults.values()),
                "faults": dict(self.stats.faults),
                "bytes_sent": self.stats.bytes_sent,
                "by_status": dict(self.stats.by_status),
                "by_route": dict(self.stats.by_route),
            }

    def reset(self) -> None:
        with self.stats.lock:
            self.stats.clear()
        self.faults = FaultPlan(self.config)
        for emulator in self.emulators.values():
            emulator.reset()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_GET

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith("/_sandbox/"):
            self._control(parts.path)
            return
        body = _Body(self.rfile, self.headers)
        found = self.server.emulator_for(parts.path)
        scheme, digest = credential_hash(self.headers.get("Authorization"))
        entry: dict[str, Any] = {
            "method": self.command,
            "path": parts.path,
            "query": parts.query,
            "auth_scheme": scheme,
            "auth_sha256": digest,
            "if_none_match": self.headers.get("If-None-Match"),
            "content_type": self.headers.get("Content-Type"),
            "content_length": int(self.headers.get("Content-Length") or 0) or None,
            "fields": {},
            "file_field": None,
            "file_name": None,
            "at": time.time(),
        }
        self.server.stats.begin(entry)
        if found is None:
            self._drain(body)
            self._send(
                SandboxResponse(404, b"no emulator here\n", [("Content-Type", "text/plain")]), entry
            )
            return
        prefix, emulator = found
        request = SandboxRequest(
            method=self.command,
            path=parts.path[len(prefix) :] or "/",
            query=dict(parse_qsl(parts.query)),
            headers=self.headers,
            remote_ip=self.client_address[0],
            read=body.read,
            workdir=self.server.workdir,
            log=entry,
        )
        kind = self.server.faults.draw(emulator.route_kind(self.command, request.path))
        if kind is not None:
            with self.server.stats.lock:
                self.server.stats.faults[kind] += 1
        if self.server.config.latency:
            time.sleep(self.server.config.latency)
        if kind in ("500", "502", "503", "429", "html", "drop_before"):
            request.drain()
            if kind == "drop_before":
                self._drop(entry)
                return
            self._send(emulator.fault_response(kind, request), entry)
            return
        response = emulator.handle(request)
        self._drain(body)
        if kind == "drop_after":
            response.drop = True
        elif kind == "slow":
            response.delay = self.server.config.slow_seconds
        elif kind == "bad_json" and response.status == 200:
            response.body = response.body[: max(1, len(response.body) // 2)]
        self._send(response, entry)

    @staticmethod
    def _drain(body: _Body) -> None:
        while body.read(65536):
            pass

    def _drop(self, entry: dict[str, Any]) -> None:
        self.server.stats.record(entry, None, 0)
        self.close_connection = True

    def _send(self, response: SandboxResponse, entry: dict[str, Any]) -> None:
        if response.drop:
            self._drop(entry)
            return
        if response.delay:
            time.sleep(response.delay)
        try:
            self.send_response(response.status)
            names = {name.lower() for name, _ in response.headers}
            for name, value in response.headers:
                self.send_header(name, value)
            if "content-type" not in names and response.body:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if response.body and self.command != "HEAD":
                self.wfile.write(response.body)
        except OSError:  # the client gave up (e.g. its read timeout): nothing more to do
            self.close_connection = True
        self.server.stats.record(entry, response.status, len(response.body))

    def _control(self, path: str) -> None:
        body = _Body(self.rfile, self.headers)
        self._drain(body)
        server = self.server
        document: Any
        if path == "/_sandbox/stats":
            document = server.stats_document()
        elif path == "/_sandbox/uploads":
            document = server.uploads()
        elif path == "/_sandbox/requests":
            with server.stats.lock:
                document = list(server.stats.log)
        elif path == "/_sandbox/reset" and self.command == "POST":
            server.reset()
            document = {"reset": True}
        else:
            document = {"error": "unknown sandbox endpoint"}
        data = json.dumps(document).encode()
        self.send_response(200 if "error" not in document else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def make_rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible faults, not cryptography
