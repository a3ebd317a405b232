"""The sandbox's HTTP server: routing by prefix, stats, request log, latency and faults.

Emulators (one per provider) sit in a registry keyed by path prefix; each gets a
:class:`SandboxRequest` and returns a :class:`SandboxResponse`. The server does what is
common to all of them: reading bodies (Content-Length or chunked) a bounded chunk at a
time, always to the end before answering (so clients never see a reset), the seeded fault
injection, added latency, the counters and the request log (credentials only as SHA-256
hashes), and the ``/_sandbox/*`` control endpoints, which are neither faulted, delayed,
rate-limited nor counted.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import logging
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from uploader.sandbox.exchange import (
    BadRequestError,
    BodyReader,
    Emulator,
    SandboxRequest,
    SandboxResponse,
    credential_hash,
)
from uploader.sandbox.faults import REPLACING, SERVER_ERRORS, Fault, FaultPlan
from uploader.sandbox.knobs import SandboxConfig
from uploader.sandbox.pacing import slow_reader, trickle
from uploader.sandbox.stats import Stats

# Emulator modules import these from here.
__all__ = ["Emulator", "SandboxRequest", "SandboxResponse", "SandboxServer"]

log = logging.getLogger(__name__)
JSON = ("Content-Type", "application/json")
THREAD_NAME = "uploader-sandbox"  # every thread the sandbox starts has a name starting so


def loopback_family(host: str) -> socket.AddressFamily:
    """AF_INET6 for ``::1``, AF_INET for 127.0.0.0/8 and ``localhost``; ValueError for
    anything else (the sandbox never listens beyond the machine)."""
    if host == "localhost":
        return socket.AF_INET
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r} is not a loopback address") from None
    if not address.is_loopback:
        raise ValueError(f"{host!r} is not a loopback address")
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


class SandboxServer(ThreadingHTTPServer):
    """The HTTP server; ``emulators`` maps a path prefix ("/imgur") to its emulator."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        config: SandboxConfig,
        workdir: Path,
        emulators: dict[str, Emulator],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.address_family = loopback_family(address[0])
        # The Date header tells clients the server's time (they correct clock skew with
        # it): it must be the same clock the buckets and reset times are computed on.
        self.clock = clock
        self.config = config
        self.workdir = workdir
        self.emulators = emulators
        self.stats = Stats()
        self.faults = FaultPlan(config)
        self.stopping = threading.Event()
        self._live_lock = threading.Lock()
        self._live: dict[threading.Thread, socket.socket] = {}
        super().__init__(address, _Handler)

    @property
    def origin(self) -> str:
        """``http://HOST:PORT`` (``http://[::1]:PORT``): where links to the sandbox point."""
        host, port = self.server_address[:2]
        shown = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        threading.current_thread().name = f"{THREAD_NAME}-connection"
        with self._live_lock:
            self._live[threading.current_thread()] = request
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._live_lock:
                self._live.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-request, or the cut connections of stop(), are normal.
        if not self.stopping.is_set() and not isinstance(sys.exc_info()[1], OSError):
            log.exception("sandbox: error while serving %s", client_address)

    def pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server stops."""
        if seconds > 0:
            self.stopping.wait(seconds)

    def close_all(self, timeout: float = 5.0) -> None:
        """Stop: cut open connections, end waits, join their threads (after shutdown()).

        Connections are cut before waits end, so an answer that was waiting (latency, a
        slow fault) is never sent half-way through a stop: its client sees a disconnect."""
        with self._live_lock:
            live = list(self._live.items())
        for _, connection in live:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread, _ in live:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.server_close()

    def emulator_for(self, path: str) -> tuple[str, Emulator] | None:
        """The longest registered prefix that ``path`` lies under, with its emulator."""
        for prefix in sorted(self.emulators, key=len, reverse=True):
            if path == prefix or path.startswith(prefix + "/"):
                return prefix, self.emulators[prefix]
        return None

    def uploads(self) -> list[dict[str, Any]]:
        return [item for emulator in self.emulators.values() for item in emulator.uploads()]

    def stats_document(self) -> dict[str, Any]:
        stored = len(self.uploads())
        with self.stats.lock:
            return {
                "requests": self.stats.requests,
                "uploads_stored": stored,
                "responses_429": self.stats.responses_429,
                "not_modified": self.stats.not_modified,
                "faults_injected": sum(self.stats.faults.values()),
                "faults": dict(self.stats.faults),
                "bytes_sent": self.stats.bytes_sent,
                "by_status": dict(self.stats.by_status),
                "by_route": dict(self.stats.by_route),
            }

    def request_log(self) -> list[dict[str, Any]]:
        with self.stats.lock:
            return [dict(entry) for entry in self.stats.log]

    def reset(self) -> None:
        """Clear counters, the log, the fault sequence (re-seeded) and every emulator."""
        with self.stats.lock:
            self.stats.clear()
        self.faults = FaultPlan(self.config)
        for emulator in self.emulators.values():
            emulator.reset()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle on, the body waits for the
    # client's delayed ACK (about 40 ms on Linux) on every keep-alive request.
    disable_nagle_algorithm = True
    server: SandboxServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        try:
            body = BodyReader(self.rfile, self.headers)
        except BadRequestError as exc:
            self._reply(SandboxResponse(400, f"{exc}\n".encode(), [("Content-Type", "text/plain")]))
            self.close_connection = True
            return
        if parts.path == "/_sandbox" or parts.path.startswith("/_sandbox/"):
            body.drain()
            self._control(parts.path)
        else:
            self._dispatch(parts.path, parts.query, body)

    do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_GET

    def _entry(self, path: str, query: str) -> dict[str, Any]:
        scheme, digest = credential_hash(self.headers.get("Authorization"))
        length = self.headers.get("Content-Length")
        return {
            "method": self.command,
            "path": path,
            "query": query,
            "status": None,
            "auth_scheme": scheme,
            "auth_sha256": digest,
            "if_none_match": self.headers.get("If-None-Match"),
            "content_type": self.headers.get("Content-Type"),
            "content_length": int(length) if length and length.strip().isdigit() else None,
            "fields": {},
            "file_field": None,
            "file_name": None,
            "at": time.time(),
        }

    def _dispatch(self, path: str, query: str, body: BodyReader) -> None:
        server = self.server
        entry = self._entry(path, query)
        found = server.emulator_for(path)
        # A host whose links carry a credential (XBackBone's token) logs them without it.
        redact = getattr(found[1], "logged_path", None) if found is not None else None
        if found is not None and redact is not None:
            entry["path"] = found[0] + redact(path[len(found[0]) :])
        server.stats.begin(entry)
        if found is None:
            body.drain()
            self._send(
                SandboxResponse(404, b"no emulator here\n", [("Content-Type", "text/plain")]), entry
            )
            return
        prefix, emulator = found
        request = SandboxRequest(
            method=self.command,
            path=path[len(prefix) :] or "/",
            query=dict(parse_qsl(query, keep_blank_values=True)),
            headers=self.headers,
            remote_ip=str(self.client_address[0]),
            read=self._slow_reader(body.read),
            workdir=server.workdir,
            log=entry,
            origin=server.origin,
        )
        fault = server.faults.draw(emulator.route_kind(self.command, request.path), prefix)
        if fault is not None:
            with server.stats.lock:
                server.stats.faults[fault.kind] += 1
        server.pause(server.config.latency)
        try:
            response = self._answer(emulator, request, fault)
            body.drain()  # what the emulator left unread: a client must never see a reset
        except BadRequestError:  # broken framing: nothing sensible to answer
            self._drop(entry)
            return
        except Exception:  # an emulator bug: answer 500 and hang up (the body may be unread)
            log.exception("sandbox: %s %s failed", self.command, path)
            response = SandboxResponse(
                500, b"sandbox emulator error\n", [("Content-Type", "text/plain")]
            )
            self.close_connection = True
        self._send(response, entry)

    def _answer(
        self, emulator: Emulator, request: SandboxRequest, fault: Fault | None
    ) -> SandboxResponse:
        if fault is not None and fault.kind == "drop_before":
            request.drain()  # read it all, store nothing, then hang up
            return SandboxResponse(0, drop=True)
        if fault is not None and fault.kind in REPLACING:
            request.drain()
            response = emulator.fault_response(fault.kind, request)
            has_hint = any(name.lower() == "retry-after" for name, _ in response.headers)
            if fault.kind in SERVER_ERRORS and fault.retry_after and not has_hint:
                response.headers = [*response.headers, ("Retry-After", "1")]
            return response
        response = emulator.handle(request)
        if fault is None:
            return response
        if fault.kind == "drop_after":
            response.drop = True
        elif fault.kind == "slow":
            response.delay = self.server.config.slow_seconds
        elif fault.kind == "bad_json" and response.status == 200 and response.body:
            response.body = response.body[: max(1, len(response.body) // 2)]
        return response

    def _drop(self, entry: dict[str, Any]) -> None:
        self.server.stats.record(entry, None, 0)
        self.close_connection = True

    def _send(self, response: SandboxResponse, entry: dict[str, Any]) -> None:
        if response.drop:
            self._drop(entry)
            return
        self.server.pause(response.delay)
        # Counted before the answer leaves, so a client reading the stats right after its
        # response finds it there (a client that hung up meanwhile is counted all the same).
        size = response.file.stat().st_size if response.file is not None else len(response.body)
        sent = 0 if self.command == "HEAD" else size
        self.server.stats.record(entry, response.status, sent)
        self._reply(response)

    def _reply(self, response: SandboxResponse) -> None:
        """Write the answer (quietly giving up on a client that is gone)."""
        try:
            # Not send_response(): it adds its own Server header next to the emulator's.
            self.send_response_only(response.status)
            self.send_header("Date", self.date_time_string(self.server.clock()))
            names = {name.lower() for name, _ in response.headers}
            if "server" not in names:
                self.send_header("Server", "uploader-sandbox")
            for name, value in response.headers:
                self.send_header(name, value)
            if "content-type" not in names and response.body:
                self.send_header(*JSON)
            if response.file is not None:
                self._send_file(response.file)
                return
            self.send_header("Content-Length", str(len(response.body)))
            if not self._trickling(headers=True):
                self.end_headers()
            else:  # the head as end_headers() would write it, then a byte at a time
                real, self.wfile = self.wfile, io.BytesIO()
                try:
                    self.end_headers()
                    head = self.wfile.getvalue()
                finally:
                    self.wfile = real
                self._trickle(head)
            if response.body and self.command != "HEAD":
                if self._trickling(headers=False):
                    self._trickle(response.body)
                else:
                    self.wfile.write(response.body)
        except OSError:  # the client gave up (e.g. its read timeout): nothing more to do
            self.close_connection = True

    def _slow_reader(self, read: Callable[[int], bytes]) -> Callable[[int], bytes]:
        rate = self.server.config.slow_read_bytes_per_second
        return slow_reader(read, rate, self.server.pause) if rate > 0 else read

    def _trickling(self, *, headers: bool) -> bool:
        """Whether this answer (its head when ``headers``) goes out a byte at a time:
        the trickle knobs, for provider answers only (never ``/_sandbox``)."""
        config = self.server.config
        if config.trickle_bytes_per_second <= 0 or self.path.startswith("/_sandbox"):
            return False
        return config.trickle_headers or not headers

    def _trickle(self, data: bytes) -> None:
        config = self.server.config
        trickle(self.wfile, data, config.trickle_bytes_per_second, self.server.pause)
        if self.server.stopping.is_set():
            raise ConnectionAbortedError("the sandbox is stopping")

    def _send_file(self, path: Path) -> None:
        """A stored file as the body, a chunk at a time (never held whole)."""
        with open(path, "rb") as fh:
            self.send_header("Content-Length", str(os.fstat(fh.fileno()).st_size))
            self.end_headers()
            if self.command != "HEAD":
                shutil.copyfileobj(fh, self.wfile, 65536)

    def _control(self, path: str) -> None:
        server = self.server
        document: Any
        status = 200
        if path == "/_sandbox/stats" and self.command == "GET":
            document = server.stats_document()
        elif path == "/_sandbox/uploads" and self.command == "GET":
            document = server.uploads()
        elif path == "/_sandbox/requests" and self.command == "GET":
            document = server.request_log()
        elif path == "/_sandbox/reset" and self.command == "POST":
            server.reset()
            document = {"reset": True}
        else:
            status, document = 404, {"error": f"unknown sandbox endpoint {self.command} {path}"}
        self._reply(SandboxResponse(status, json.dumps(document).encode(), [JSON]))
