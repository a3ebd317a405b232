"""What passes between the sandbox server and its emulators.

:class:`SandboxRequest` (one request, its body readable a chunk at a time),
:class:`SandboxResponse`, the :class:`Emulator` protocol every provider module implements,
and :class:`BodyReader`, which reads a body by Content-Length or chunked encoding without
ever holding it whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any, Protocol

Clock = Callable[[], float]  # epoch seconds now: time.time, or a test's own clock


class BadRequestError(ValueError):
    """The request's framing is broken (bad Content-Length or chunk size)."""


@dataclass
class SandboxRequest:
    """One request as an emulator sees it (``path`` is relative to the emulator's prefix).

    ``read(n)`` returns up to ``n`` body bytes (b"" at the end); ``log`` is this request's
    entry in the request log, where an emulator records the form ``fields``, ``file_field``
    and ``file_name`` it parsed.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: Message
    remote_ip: str
    read: Callable[[int], bytes]
    workdir: Path
    log: dict[str, Any]
    origin: str = ""  # the sandbox's own ``http://HOST:PORT``: links point back at it

    def drain(self) -> None:
        """Read and discard the rest of the body."""
        while self.read(65536):
            pass


@dataclass
class SandboxResponse:
    """An answer; ``drop`` closes the connection without one, ``delay`` waits first;
    ``file`` streams a stored file as the body.
    Without a Content-Type header a non-empty body is sent as application/json."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False
    delay: float = 0.0
    file: Path | None = None  # a stored upload sent as the body, streamed (``body`` unused)


class Emulator(Protocol):
    """One provider's emulator, registered under a path prefix."""

    def route_kind(self, method: str, path: str) -> str:
        """ "upload", "get" or "other": which ``fault_routes`` a request belongs to."""
        ...

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer a request (thread-safe; may leave part of the body unread)."""
        ...

    def fault_response(self, kind: str, request: SandboxRequest) -> SandboxResponse:
        """The provider's own shape for an injected "429", "500", "502", "503" or "html"
        answer (the server adds ``Retry-After: 1`` to 5xx when the fault says so)."""
        ...

    def uploads(self) -> list[dict[str, Any]]:
        """The uploads stored now, in the ``/_sandbox/uploads`` shape."""
        ...

    def reset(self) -> None:
        """Forget everything (uploads, buckets, tokens)."""
        ...


def bearer_token(request: SandboxRequest) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
    token = value.strip()
    return token if scheme.lower() == "bearer" and token else None


def credential_hash(authorization: str | None) -> tuple[str | None, str | None]:
    """(scheme, sha256 hex of the credential after it): the log never keeps the secret.
    A bare credential with no scheme (Zipline's raw token) has scheme None."""
    if not authorization or not authorization.strip():
        return None, None
    scheme, space, value = authorization.strip().partition(" ")
    if not space:
        return None, hashlib.sha256(scheme.encode()).hexdigest()
    return scheme, hashlib.sha256(value.strip().encode()).hexdigest()


class BodyReader:
    """Reads a request body by Content-Length or chunked encoding, a bounded chunk at a time."""

    def __init__(self, rfile: Any, headers: Message) -> None:
        self.rfile = rfile
        self.chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        try:
            self.left = 0 if self.chunked else int(headers.get("Content-Length") or 0)
        except ValueError:
            raise BadRequestError("bad Content-Length") from None
        if self.left < 0:
            raise BadRequestError("bad Content-Length")
        self.chunk_left = 0
        self.done = False

    def read(self, size: int) -> bytes:
        if self.done:
            return b""
        if not self.chunked:
            data: bytes = self.rfile.read(min(size, self.left)) if self.left > 0 else b""
            self.left -= len(data)
            self.done = not data or self.left <= 0
            return data
        if self.chunk_left == 0:
            line = self.rfile.readline(1024).strip()
            try:
                self.chunk_left = int(line.split(b";")[0], 16)
            except ValueError:
                raise BadRequestError("bad chunk size") from None
            if self.chunk_left == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                self.done = True
                return b""
        data = self.rfile.read(min(size, self.chunk_left))
        if not data:
            self.done = True
            return b""
        self.chunk_left -= len(data)
        if self.chunk_left == 0:
            self.rfile.readline(16)
        return data

    def drain(self) -> None:
        while self.read(65536):
            pass
