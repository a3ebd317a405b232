"""A lean upload target for benchmarks: a minimal HTTP server that drains a multipart body
and answers ``POST /3/image`` in Imgur's JSON shape (reference 1.4: id, deletehash, link,
type, width, height, name, size, datetime), with Imgur's rate-limit headers.

The sandbox (``uploader sandbox``) is faithful but spends ~0.7 ms of Python per upload, so
one curl process saturates it; this target does as little as it can: 1 MiB reads, one
``bytes.find`` per read for the closing boundary, no validation beyond the file part's
size and, for a PNG, its width and height from the header.

By default every bucket is generous (nothing a benchmark sends runs it out). With
``post_limit`` the target enforces Imgur's POST bucket: ``post_limit`` POSTs per
``post_window`` seconds (a fixed window from the first POST), a 429 beyond it, and headers
that tell the truth (remaining, seconds to the reset, rounded up). ``latency`` adds that
many seconds before each answer (after the body is drained), as a far server would.

In a script::

    with Target(latency=0.05) as target:
        ...  # base_url = target.url; target.stats() -> {"posts": n, "rejected": m}

From a shell (serves until interrupted)::

    python -m benchmarks.target --port 0 [--latency 0.05] [--post-limit 40 --post-window 10]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

READ = 1 << 20
GENEROUS = 10**7
_ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "video/mp4": "mp4"}


def _token(length: int) -> str:
    return bytes(_ALNUM[b % len(_ALNUM)] for b in os.urandom(length)).decode()


class _Bucket:
    """The POST bucket: fixed windows from the first POST; thread-safe."""

    def __init__(self, limit: int | None, window: float) -> None:
        self.limit, self.window = limit, window
        self.lock = threading.Lock()
        self.start: float | None = None
        self.used = 0
        self.posts = 0
        self.rejected = 0

    def take(self) -> tuple[bool, int, int, int]:
        """(allowed, limit, remaining, seconds to reset) for one POST."""
        with self.lock:
            self.posts += 1
            if self.limit is None:
                return True, GENEROUS, GENEROUS - self.posts % GENEROUS, 3600
            now = time.monotonic()
            if self.start is None or now >= self.start + self.window:
                self.start, self.used = now, 0
            reset = max(1, math.ceil(self.start + self.window - now))
            if self.used >= self.limit:
                self.rejected += 1
                return False, self.limit, 0, reset
            self.used += 1
            return True, self.limit, self.limit - self.used, reset


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, the second waits for the
    # client's delayed ACK (40 ms on Linux), which would be all a benchmark measured.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        if self.server.latency > 0:
            time.sleep(self.server.latency)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _limits(self, post: tuple[int, int, int] | None) -> dict[str, str]:
        headers = {
            "X-RateLimit-UserLimit": str(GENEROUS),
            "X-RateLimit-UserRemaining": str(GENEROUS - 10),
            "X-RateLimit-UserReset": "3600",
            "X-RateLimit-ClientLimit": str(GENEROUS * 10),
            "X-RateLimit-ClientRemaining": str(GENEROUS * 10 - 10),
            "X-RateLimit-ClientReset": "86400",
        }
        if post is not None:
            limit, remaining, reset = post
            headers["X-Post-Rate-Limit-Limit"] = str(limit)
            headers["X-Post-Rate-Limit-Remaining"] = str(remaining)
            headers["X-Post-Rate-Limit-Reset"] = str(reset)
        return headers

    def do_GET(self) -> None:
        if self.path.endswith("/3/credits"):
            data = {
                "UserLimit": GENEROUS,
                "UserRemaining": GENEROUS,
                "UserReset": int(time.time()) + 3600,
                "ClientLimit": GENEROUS * 10,
                "ClientRemaining": GENEROUS * 10,
            }
            self._answer(200, {"data": data, "success": True, "status": 200}, {})
            return
        self._answer(404, {"data": {"error": "not here"}, "success": False, "status": 404}, {})

    def do_POST(self) -> None:
        size, kind, name, head = self._drain()
        allowed, limit, remaining, reset = self.server.bucket.take()
        headers = self._limits((limit, remaining, reset))
        if not allowed:
            body = {"data": {"error": "Too Many Requests"}, "success": False, "status": 429}
            self._answer(429, body, headers)
            return
        width = height = 0
        if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24:
            width, height = struct.unpack(">II", head[16:24])
        image_id = _token(7)
        data = {
            "id": image_id,
            "deletehash": _token(15),
            "link": f"https://i.imgur.com/{image_id}.{_EXT.get(kind, 'png')}",
            "type": kind,
            "width": width,
            "height": height,
            "name": name,
            "size": size,
            "datetime": int(time.time()),
            "title": None,
            "description": None,
            "animated": False,
            "views": 0,
        }
        self._answer(200, {"data": data, "success": True, "status": 200}, headers)

    def _drain(self) -> tuple[int, str, str, bytes]:
        """Read the whole body; return the file part's size, type, name and first bytes."""
        length = int(self.headers.get("Content-Length") or 0)
        ctype = self.headers.get("Content-Type", "")
        boundary = ctype.partition("boundary=")[2].strip('"').encode()
        delim = b"\r\n--" + boundary
        left, offset = length, 0
        start = end = -1
        kind, name, head = "application/octet-stream", "", b""
        tail = b""
        while left > 0:
            chunk = self.rfile.read(min(READ, left))
            if not chunk:
                break
            left -= len(chunk)
            if start < 0:
                # The file part's headers: in the first read (they are a few hundred bytes).
                at = chunk.find(b"filename=")
                if at >= 0:
                    stop = chunk.find(b"\r\n\r\n", at)
                    headers = chunk[at:stop].decode("latin-1")
                    name = headers.partition('filename="')[2].partition('"')[0]
                    found = headers.lower().partition("content-type:")[2].strip()
                    kind = found.split("\r\n")[0].strip() or kind
                    start = offset + stop + 4
                    head = chunk[stop + 4 : stop + 28]
            if start >= 0 and end < 0 and boundary:
                window = tail + chunk
                at = window.find(delim, max(0, start - (offset - len(tail))))
                if at >= 0:
                    end = offset - len(tail) + at
                tail = window[-len(delim) :]
            offset += len(chunk)
        size = end - start if start >= 0 and end >= start else 0
        return size, kind, name, head


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port: int, latency: float, bucket: _Bucket) -> None:
        self.latency = latency
        self.bucket = bucket
        super().__init__(("127.0.0.1", port), _Handler)


class Target:
    """The target in a background thread of this process (see the module docstring)."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        post_limit: int | None = None,
        post_window: float = 10.0,
        port: int = 0,
    ) -> None:
        self.bucket = _Bucket(post_limit, post_window)
        self.server = _Server(port, latency, self.bucket)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Target:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def stats(self) -> dict[str, int]:
        return {"posts": self.bucket.posts, "rejected": self.bucket.rejected}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per answer")
    parser.add_argument("--post-limit", type=int, default=None)
    parser.add_argument("--post-window", type=float, default=10.0)
    args = parser.parse_args()
    target = Target(
        latency=args.latency,
        post_limit=args.post_limit,
        post_window=args.post_window,
        port=args.port,
    )
    print(target.url, flush=True)
    try:
        target.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        target.server.server_close()


if __name__ == "__main__":
    main()
