"""``uploader serve``: a PicGo-compatible local server for editors (Typora, Obsidian's
"Image auto upload", VS-PicList), on ``127.0.0.1:36677`` by default.

Security model: a local HTTP API that uploads local files to a public host is an
exfiltration channel, since any web page the user visits can send requests to 127.0.0.1.
Every request therefore passes, in this order: the Host check (a loopback name or the
address bound: a page that rebinds its own name to 127.0.0.1 is refused), the Origin check
(a request carrying an ``Origin`` not in ``[serve] allowed_origins`` is refused: browsers
always send one on a cross-site POST; no CORS header is ever sent, so a preflight fails),
the secret (when set: ``Authorization: Bearer``, ``X-PicGo-Secret`` or ``?secret=``,
compared in constant time; ``/heartbeat`` skips it), and the body checks of
``serve_body.py`` (no ``text/plain`` or form-encoded bodies, lengths bounded). Without a
secret the server binds loopback only.
"""

from __future__ import annotations

import errno
import hmac
import json
import math
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from uploader.commands.runtime import Runtime
from uploader.commands.serve_actions import Answer, ServeOptions, do_delete, do_upload, refusal

__all__ = ["ServeOptions", "serve"]
from uploader.config.settings import Config
from uploader.errors import RequestRefusedError, UploaderError, UsageError

SERVER_NAME = "uploader serve"
READ_TIMEOUT = 30.0  # seconds a client may take to send its request


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class App:
    """One running server's settings and what it does with a request."""

    def __init__(
        self,
        config: Config,
        options: ServeOptions,
        runtime: Runtime,
        fetch: Callable[[str, Any, int], int],
    ) -> None:
        self.config = config
        self.options = options
        self.runtime = runtime
        self.fetch = fetch
        # Host header values accepted (set once bound); None: any (bound beyond loopback,
        # where the secret guards).
        self.hosts: set[str] | None = set()

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> Answer:
        parts = urlsplit(request.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        route = parts.path.rstrip("/") or "/"
        headers = {name.lower(): value for name, value in request.headers.items()}
        host = headers.get("host", "").lower()
        if self.hosts is not None and host not in self.hosts:
            raise RequestRefusedError(f"Host {host!r} is not this server", status=403)
        origin = request.headers.get("Origin")
        if origin is not None and not self.config.serve.origin_allowed(origin):
            raise RequestRefusedError(
                f"requests from origin {origin!r} are refused "
                "(add it to [serve] allowed_origins if it is your editor)",
                status=403,
            )
        if route not in ("/heartbeat", "/upload", "/delete"):
            raise RequestRefusedError(f"no such endpoint: {route}", status=404)
        if method != "POST":
            raise RequestRefusedError(f"{method} is not accepted: use POST", status=405)
        if route == "/heartbeat":
            alive = {"success": True, "result": "alive", "server": SERVER_NAME}
            return 200, {**alive, "pid": os.getpid()}
        self._check_secret(request, query)
        picbed = (query.get("picbed") or query.get("configName") or [""])[0] or None
        if route == "/delete":
            return do_delete(
                self.config, self.options, self.runtime, request.rfile, headers, picbed
            )
        spool = Path(tempfile.mkdtemp(prefix="uploader-serve-"))
        try:
            return do_upload(
                self.config,
                self.options,
                self.runtime,
                request.rfile,
                headers,
                picbed,
                spool,
                self.fetch,
            )
        finally:
            shutil.rmtree(spool, ignore_errors=True)

    def _check_secret(self, request: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        secret = self.options.secret
        if not secret:
            return
        offered: list[str] = list(query.get("secret", []))
        auth = request.headers.get("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            offered.append(auth[7:].strip())
        offered += request.headers.get_all("X-PicGo-Secret") or []
        expected = secret.encode()
        # Every offer compared in full (constant time each): no early exit on a match.
        matched = [hmac.compare_digest(o.encode(), expected) for o in offered]
        if not any(matched):
            raise RequestRefusedError("Unauthorized", status=401)


class Handler(BaseHTTPRequestHandler):
    """One connection, one request (HTTP/1.0: the connection closes after the answer)."""

    server: Server
    timeout = READ_TIMEOUT
    server_version = "uploader"
    sys_version = ""

    def _serve(self, method: str) -> None:
        app = self.server.app
        try:
            status, body = app.handle(self, method)
        except UploaderError as exc:
            status, body = refusal(exc)
        except Exception as exc:  # noqa: BLE001 - a request must never stop the server
            app.runtime.notify(f"error: internal error: {type(exc).__name__}: {exc}")
            status, body = 500, {"success": False, "result": [], "message": "internal error"}
        self._answer(status, body)

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Connection", "close")
            reset = body.get("reset_at")
            if status == 429 and isinstance(reset, float | int):
                wait = max(0, math.ceil(reset - self.server.app.runtime.clock()))
                self.send_header("Retry-After", str(wait))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client left: nothing to tell it

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_OPTIONS(self) -> None:
        self._serve("OPTIONS")

    def log_message(self, format: str, *args: Any) -> None:
        path = urlsplit(self.path).path  # never the query: ?secret= may be in it
        self.server.app.runtime.debug(f"serve: {self.command} {path} {args[1:2]}")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)


class Stopped(BaseException):
    """SIGTERM: leave serve_forever() in the main thread.

    A BaseException, as KeyboardInterrupt is: the signal may arrive while the main thread
    is inside ``process_request`` (starting a request's thread), where socketserver hands
    any ``Exception`` to ``handle_error`` and goes on serving."""


def serve(
    config: Config,
    options: ServeOptions,
    runtime: Runtime,
    announce: Callable[[str], None],
    *,
    fetch: Callable[[str, Any, int], int] | None = None,
) -> None:
    """Run the server until SIGTERM (returns) or Ctrl-C (KeyboardInterrupt goes on)."""
    if not is_loopback(options.host) and not options.secret:
        raise UsageError(
            f"--host {options.host}: serving beyond this machine needs a secret",
            hint="set --secret or UPLOADER_SERVE_SECRET, or keep the default 127.0.0.1",
        )
    config.profile(options.provider)  # an unknown profile fails now, not per request
    if fetch is None:
        from uploader.http.download import fetch as https_fetch

        def fetch(url: str, target: Any, largest: int) -> int:
            return https_fetch(url, target, largest=largest)

    app = App(config, options, runtime, fetch)
    try:
        server = Server((options.host, options.port), app)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise _port_taken(options.host, options.port) from None
        raise UsageError(
            f"cannot listen on {options.host}:{options.port} ({exc.strerror})"
        ) from None
    port = server.server_address[1]
    shown = f"[{options.host}]" if ":" in options.host else options.host
    if is_loopback(options.host):
        app.hosts = {f"{name}:{port}" for name in ("localhost", "127.0.0.1", "[::1]", shown)}
    else:
        app.hosts = None
    previous = None
    if threading.current_thread() is threading.main_thread():

        def stop(_signum: int, _frame: object) -> None:
            raise Stopped

        previous = signal.signal(signal.SIGTERM, stop)
    try:
        announce(f"http://{shown}:{port}")
        server.serve_forever(poll_interval=0.5)
    except Stopped:
        runtime.notify("uploader serve: stopped (SIGTERM)")
    finally:
        server.server_close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _port_taken(host: str, port: int) -> UsageError:
    """The error for a port in use, naming an earlier ``uploader serve`` when it answers
    ``/heartbeat`` in our own shape."""
    import http.client

    earlier = None
    try:
        connection = http.client.HTTPConnection(host, port, timeout=2)
        connection.request("POST", "/heartbeat", body=b"", headers={"Content-Length": "0"})
        answer = json.loads(connection.getresponse().read(4096))
        if isinstance(answer, dict) and answer.get("server") == SERVER_NAME:
            earlier = answer.get("pid")
        connection.close()
    except (OSError, ValueError, http.client.HTTPException):
        pass
    if earlier is not None:
        pid = f"pid {earlier}, " if isinstance(earlier, int) else ""
        shown = f"[{host}]" if ":" in host else host
        return UsageError(
            f"port {port} is taken by an earlier `uploader serve` ({pid}answering on "
            f"http://{shown}:{port})",
            hint="use that one, or stop it first; --port picks another port",
        )
    return UsageError(
        f"port {port} on {host} is taken by another program (not an `uploader serve`)",
        hint=f"stop that program (PicGo, say) or pick another port with --port; "
        f"`ss -ltnp 'sport = :{port}'` names it",
    )
