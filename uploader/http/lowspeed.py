"""The low-speed rule at the HTTP boundary: curl's remedy for a server that trickles.

A read timeout never fires against a server that sends one byte every 2 seconds, and a
write timeout never fires against one that reads that slowly. Like curl's
``--speed-limit``/``--speed-time``, an attempt is aborted when fewer than
``limit * seconds`` bytes moved in the last ``seconds`` seconds (the request body sent
plus the answer body read; waiting for the answer counts as no progress, as in curl).

httpx has no such option, so :func:`send` does it around ``Client.send``: the request
body is a :class:`MeteredBody` (re-cut into small pieces, so progress is seen often),
the answer is read through a :class:`MeteredAnswer`, and each piece checks the rule on
the injected clock (tests are exact). A :class:`~uploader.http.watchdog.Watchdog` checks
it too, for the reads and writes that do not return (the answer's headers, a socket that
drains slowly), and cuts the connection's socket (``shutdown``, which wakes a blocked
``recv``/``send``); the sockets are learnt from httpcore's public ``trace`` extension as
connections open.

Imported lazily by the session (it imports httpx).
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from uploader.http.client import LowSpeed, import_httpx
from uploader.http.watchdog import Watchdog

import_httpx()  # before httpx itself: without its command-line extra (start-up)
import httpcore  # noqa: E402
import httpx  # noqa: E402

# The sockets each client has opened (weakly held: closed connections go away by
# themselves): the fallback when the connection of a request is not known (a transport
# without an httpcore pool), where every socket of the client is cut.
_SOCKETS: weakref.WeakKeyDictionary[httpx.Client, weakref.WeakSet[socket.socket]] = (
    weakref.WeakKeyDictionary()
)
# The socket each thread last read or wrote: the connection of the request that thread is
# making (httpcore's sync connections do all their I/O in the requesting thread). A batch
# sends from several threads at once; only the stalled request's connection is cut.
_ACTIVE: weakref.WeakValueDictionary[int, socket.socket] = weakref.WeakValueDictionary()
_RECORDED: weakref.WeakSet[httpx.Client] = weakref.WeakSet()


class _Stream(httpcore.NetworkStream):
    """A network stream that notes, at each read and write, which thread uses it."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        sock = inner.get_extra_info("socket")
        self._sock = sock if isinstance(sock, socket.socket) else None

    def _mark(self) -> None:
        sock = self._sock
        if sock is not None:
            me = threading.get_ident()
            if _ACTIVE.get(me) is not sock:  # mostly it is: a weakref set costs more
                _ACTIVE[me] = sock

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._mark()
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._mark()
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """The pool's network backend, its streams wrapped in :class:`_Stream`."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _record(http: httpx.Client) -> None:
    """Wrap the network backend of the client's httpcore pools (once per client). httpx
    offers no public hook for it: where the pools are not where httpx 0.28 keeps them, the
    fallback (cut every socket of the client) stays."""
    if http in _RECORDED:
        return
    _RECORDED.add(http)
    transports = [getattr(http, "_transport", None), *getattr(http, "_mounts", {}).values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend) and not isinstance(backend, _Backend):
            pool._network_backend = _Backend(backend)  # type: ignore[union-attr]


class TooSlowError(Exception):
    """The low-speed rule ended the attempt (internal: the session translates it)."""


class SpeedMeter:
    """Bytes moved against the clock, and the rule's verdict (thread-safe)."""

    def __init__(self, rule: LowSpeed, clock: Callable[[], float]) -> None:
        self.rule = rule
        self.clock = clock
        self.started = clock()
        self.total = 0
        # (time, bytes moved by then); the first one is the latest at or before the window.
        self._samples: deque[tuple[float, int]] = deque([(self.started, 0)])
        self._quantum = rule.seconds / 64  # samples closer than this are not kept
        self._lock = threading.Lock()
        self.tripped = False

    def moved(self, count: int) -> None:
        """``count`` more bytes went through; raises :class:`TooSlowError` when the rule
        is broken (checked now, in the thread that moves the bytes)."""
        now = self.clock()
        with self._lock:
            self.total += count
            samples = self._samples
            # Samples closer than the quantum merge into the latest one (exact for its
            # time); the point dropped can only make the window's count look larger, so
            # the rule fires a little later, never on a transfer that kept the rate.
            if len(samples) > 1 and now - samples[-2][0] < self._quantum:
                samples[-1] = (now, self.total)
            else:
                samples.append((now, self.total))
        self.check(now)

    def too_slow(self, now: float) -> bool:
        """Whether fewer than ``limit * seconds`` bytes moved in the last ``seconds``."""
        seconds = self.rule.seconds
        with self._lock:
            if now - self.started < seconds:
                return False
            edge = now - seconds
            samples = self._samples
            while len(samples) > 1 and samples[1][0] <= edge:
                samples.popleft()
            return self.total - samples[0][1] < self.rule.limit * seconds

    def check(self, now: float | None = None) -> None:
        if self.too_slow(self.clock() if now is None else now):
            self.tripped = True
            raise TooSlowError


class MeteredBody(httpx.SyncByteStream):
    """The request body, in pieces, each counted once the transport has taken it (written
    to the socket). ``done`` once all of it was.

    Pieces start at ``size`` bytes (small enough that a link at the rule's limit shows
    progress often) and double, up to ``largest``, while each one is taken in under a
    sixteenth of the rule's window: a fast link then costs a 500 MB upload a few hundred
    trips through httpcore instead of tens of thousands (issue 13). A piece that took
    longer than an eighth of the window sends the size back to ``size``. A piece is
    therefore never more than twice one that went through at over 8x the rate needed for it
    to take half the window. Pieces are views of the chunk (no copies), except that the
    small chunks between the large ones (httpx's multipart framing: a dozen per file) are
    sent together, with the start of the next chunk: a 300 KB file goes in 7 writes
    rather than 18."""

    def __init__(self, inner: Any, meter: SpeedMeter, size: int, largest: int = 1 << 20) -> None:
        self.inner = inner
        self.meter = meter
        self.size = size
        self.largest = max(size, largest)
        self.done = False

    def __iter__(self) -> Iterator[bytes]:
        meter, small = self.meter, self.size
        fast, slow = meter.rule.seconds / 16, meter.rule.seconds / 8
        size, last = small, meter.clock()
        held: list[bytes] = []  # small chunks (the multipart framing), sent together
        held_size = 0
        for chunk in itertools.chain(self.inner, (b"",)):  # b"": the end: what is held goes
            if chunk and len(chunk) < small and held_size + len(chunk) <= small:
                held.append(chunk)
                held_size += len(chunk)
                continue
            view = memoryview(chunk)
            start = 0
            while held or start < len(view):
                if held:  # what was held, with the start of this chunk: one write
                    start = min(len(view), max(0, size - held_size))
                    piece: bytes | memoryview = b"".join([*held, view[:start]])
                    held, held_size = [], 0
                elif not start and size >= len(chunk):
                    piece, start = chunk, len(chunk)  # whole: h11 sends it without a copy
                else:
                    piece = view[start : start + size]  # bytes-like: h11 joins it
                    start += len(piece)
                yield piece  # type: ignore[misc]  # a memoryview is bytes-like
                meter.moved(len(piece))
                now = meter.clock()
                took, last = now - last, now
                if took < fast and len(piece) == size:  # a full piece: a fair sample
                    size = min(self.largest, size * 2)
                elif took > slow:
                    size = small
        self.done = True

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


# Every answer of these APIs is a JSON document of a few kB (a listing page: tens of kB);
# a body past this is no answer of theirs, and reading it whole could fill the memory.
LARGEST_ANSWER = 32 << 20


class AnswerTooLargeError(Exception):
    """The answer's body passed :data:`LARGEST_ANSWER` bytes; the rest was not read."""


class MeteredAnswer(httpx.SyncByteStream):
    """The answer's raw body, each chunk counted as it arrives (against the rule when a
    ``meter`` is given) and cut at :data:`LARGEST_ANSWER` bytes."""

    def __init__(self, inner: Any, meter: SpeedMeter | None) -> None:
        self.inner = inner
        self.meter = meter

    def __iter__(self) -> Iterator[bytes]:
        total = 0
        for chunk in self.inner:
            total += len(chunk)
            if total > LARGEST_ANSWER:
                raise AnswerTooLargeError
            if self.meter is not None:
                self.meter.moved(len(chunk))
            yield chunk

    def close(self) -> None:
        self.inner.close()


class Attempt:
    """One request under the rule: what it sent and whether the rule ended it."""

    def __init__(self, rule: LowSpeed, clock: Callable[[], float]) -> None:
        self.meter = SpeedMeter(rule, clock)
        self.body: MeteredBody | None = None
        self.answered = False  # the answer's headers arrived

    @property
    def may_have_arrived(self) -> bool:
        """False only when the request provably never reached the server whole: its body
        was not all written and no answer came (a server cannot act on half a request)."""
        return self.answered or self.body is None or self.body.done


def send(
    http: httpx.Client,
    method: str,
    url: str,
    kwargs: Mapping[str, Any],
    attempt: Attempt,
) -> httpx.Response:
    """``http.request(method, url, **kwargs)`` under the low-speed rule, the answer read
    whole. Raises :class:`TooSlowError` (from the httpx error, when the watchdog cut the
    connection) when the rule ended the attempt; ``attempt`` (its rule, its clock) says
    what was sent."""
    rule = attempt.meter.rule
    _record(http)
    sockets = _SOCKETS.setdefault(http, weakref.WeakSet())
    me = threading.get_ident()

    def trace(name: str, info: Mapping[str, Any]) -> None:
        # "connection.connect_tcp.complete", "connection.start_tls.complete" (and the
        # proxy's own): the stream of a new connection.
        stream = info.get("return_value") if name.endswith(".complete") else None
        found = getattr(stream, "get_extra_info", None)
        if found is not None:
            sock = found("socket")
            if isinstance(sock, socket.socket):
                sockets.add(sock)

    def cut() -> None:
        # The connection this request is using; else (no recording backend) every one.
        mine = _ACTIVE.get(me)
        for sock in [mine] if mine is not None else list(sockets):
            with contextlib.suppress(OSError):  # closed meanwhile
                sock.shutdown(socket.SHUT_RDWR)

    options = dict(kwargs)
    extensions = dict(options.pop("extensions", None) or {})
    extensions["trace"] = trace
    request = http.build_request(method, url, extensions=extensions, **options)
    # Pieces of at most 16 KiB, as curl's upload buffer: progress is seen often enough for
    # the rule (a link barely above the limit may need limit + piece/seconds bytes/s).
    size = max(4096, min(16384, int(rule.limit * rule.seconds) // 2))
    attempt.body = MeteredBody(request.stream, attempt.meter, size)
    request.stream = attempt.body
    meter = attempt.meter
    try:
        with Watchdog(meter, cut, interval=min(1.0, rule.seconds / 4)):
            response = http.send(request, stream=True)
            attempt.answered = True
            try:
                response.stream = MeteredAnswer(response.stream, meter)
                response.read()
            except BaseException:
                response.close()
                raise
    except httpx.HTTPError as exc:
        if meter.tripped:
            raise TooSlowError from exc
        raise
    finally:
        _spent(request)
    return response


def _spent(request: httpx.Request) -> None:
    """Let go of a request's body once the exchange is over. httpx and httpcore keep the
    request and its answer in reference cycles, freed only when the cycle collector runs:
    with the body in them (the held bytes of a file up to 32 MiB), a batch's memory grew by
    several files before they went (issue 13)."""
    body = request.stream
    if isinstance(body, MeteredBody):
        body.inner = ()
    request.stream = _SPENT


_SPENT = httpx.ByteStream(b"")


def read_capped(
    http: httpx.Client, method: str, url: str, kwargs: Mapping[str, Any]
) -> httpx.Response:
    """``http.request(method, url, **kwargs)`` with the answer read whole, but never past
    :data:`LARGEST_ANSWER` bytes (when the low-speed rule is off)."""
    request = http.build_request(method, url, **kwargs)
    try:
        response = http.send(request, stream=True)
        try:
            response.stream = MeteredAnswer(response.stream, None)
            response.read()
        except BaseException:
            response.close()
            raise
    finally:
        _spent(request)
    return response
