"""The HTTP layer: the httpx.Client, and the session that puts the rate limiter around it.

Every request a provider sends goes through :meth:`ApiSession.request`, which reserves the
request's cost in the shared rate-limit state, sends it, translates httpx exceptions into
:class:`UploaderError` values (chained with ``raise ... from``) and reconciles the limiter with
the response headers. Nothing here knows a provider's JSON.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from uploader import __version__
from uploader.errors import NetworkError, TlsError

if TYPE_CHECKING:
    import httpx

    from uploader.models import BucketUpdate
    from uploader.ratelimit.limiter import RateLimiter, Refusal

log = logging.getLogger("uploader.http")

USER_AGENT = f"uploader/{__version__} (+https://github.com/uploader-cli/uploader)"


class Timeouts(NamedTuple):
    connect: float = 10.0
    read: float = 60.0
    write: float = 60.0
    pool: float = 10.0


def import_httpx() -> Any:
    """Import httpx without its command-line extra (which pulls in click and rich)."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    import httpx

    return httpx


def build_client(
    timeouts: Timeouts, *, transport: httpx.BaseTransport | None = None, tls: bool = True
) -> httpx.Client:
    """The one shared client. ``tls=False`` skips loading the CA bundle (loopback http only)."""
    httpx_mod = import_httpx()
    verify: Any = True
    if not tls:
        import ssl

        # Only plain-http loopback URLs are used, so no certificate is ever checked; an
        # empty context saves loading the CA bundle (~30 ms) on the hotkey path.
        verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client: httpx.Client = httpx_mod.Client(
        timeout=httpx_mod.Timeout(
            connect=timeouts.connect, read=timeouts.read, write=timeouts.write, pool=timeouts.pool
        ),
        headers={"User-Agent": USER_AGENT},
        transport=transport,
        verify=verify,
        follow_redirects=False,
        trust_env=False,
    )
    from uploader import gcpolicy

    gcpolicy.resume()  # httpx and httpcore were the last heavy imports
    return client


UpdatesParser = Callable[["httpx.Response"], Sequence["BucketUpdate"]]
RefusalReader = Callable[["httpx.Response"], "Refusal | None"]


def refusal_if_429(response: httpx.Response) -> Refusal | None:
    """The plain reading: a 429 is a rate-limit refusal, nothing else is."""
    from uploader.ratelimit.limiter import Refusal

    return Refusal() if response.status_code == 429 else None


class ApiSession:
    """An httpx client plus the rate limiter of one profile.

    ``request`` reserves ``costs`` (bucket -> credits) before sending and settles them with
    what the response headers say. An answer that ``refusal`` reads as a rate-limit refusal
    (a 429, or a provider's own shape such as Imgur's "uploading too fast" in a 400) is
    recorded as a rejection instead, so that the next reservation waits or fails: the retry
    policy relies on that and adds no wait of its own. ``pending`` tells the limiter how
    many requests of this kind the caller still has to make (for pacing).
    """

    def __init__(
        self,
        http: httpx.Client,
        limiter: RateLimiter | None,
        updates: UpdatesParser,
        *,
        refusal: RefusalReader = refusal_if_429,
    ) -> None:
        self.http = http
        self.limiter = limiter
        self._updates = updates
        self._refusal = refusal
        # Requests handed to the network so far: whether anything may have reached the
        # server (the pipeline asks after Ctrl-C).
        self.requests_sent = 0
        # After a rate-limit refusal: when the limiter lets that request go again (for the
        # message, should the retries give up).
        self.refused_until: float | None = None

    def request(
        self,
        method: str,
        url: str,
        *,
        costs: Mapping[str, int],
        pending: int = 1,
        **kwargs: Any,
    ) -> httpx.Response:
        httpx_mod = import_httpx()
        reservation = self.limiter.acquire(costs, pending=pending) if self.limiter else None
        log.debug("%s %s", method, url)
        self.requests_sent += 1
        try:
            response = self.http.request(method, url, **kwargs)
        except KeyboardInterrupt:
            if self.limiter and reservation is not None:
                self.limiter.settle(reservation, ())  # it may have been counted
            raise
        except httpx_mod.HTTPError as exc:
            sent = not isinstance(
                exc, httpx_mod.ConnectError | httpx_mod.ConnectTimeout | httpx_mod.PoolTimeout
            )
            if self.limiter and reservation is not None:
                if sent:
                    # The server may have counted it: keep the cost as spent.
                    self.limiter.settle(reservation, ())
                else:
                    self.limiter.release(reservation)
            raise network_error(exc, url, sent=sent) from exc
        if self.limiter and reservation is not None:
            try:
                updates = list(self._updates(response))
            except Exception:  # header parsing must never fail a request that worked
                log.debug("could not read rate-limit headers", exc_info=True)
                updates = []
            refusal = self._read_refusal(response)
            if refusal is not None:
                self.limiter.reject(
                    reservation,
                    updates,
                    retry_after=refusal.retry_after,
                    spent=refusal.spent,
                    pause=refusal.pause,
                    note=refusal.note,
                )
                self.refused_until = self.limiter.blocked_until(dict(reservation.costs))
            else:
                self.limiter.settle(reservation, updates)
        log.debug("-> HTTP %s (%d bytes)", response.status_code, len(response.content))
        return response

    def _read_refusal(self, response: httpx.Response) -> Refusal | None:
        try:
            return self._refusal(response)
        except Exception:  # a body we cannot read must not hide a 429 from the limiter
            log.debug("could not read the refusal", exc_info=True)
            return refusal_if_429(response)


def network_error(exc: Exception, url: str, *, sent: bool) -> NetworkError:
    """The NetworkError (a :class:`TlsError` for TLS failures) for an httpx exception."""
    import socket

    message = describe_network_error(exc, url)
    tls = _root(exc, ssl_error())
    if tls is None:
        hint = None
        if _root(exc, socket.gaierror) is not None:
            hint = "check the host name in base_url, and the network's DNS"
        elif _root(exc, ConnectionRefusedError) is not None:
            hint = "nothing listens there: check that the server runs and base_url's port"
        return NetworkError(message, hint=hint, sent=sent)
    if getattr(tls, "verify_message", None):
        hint = "check that base_url names the right host, the system clock and CA certificates"
    else:
        hint = (
            "check base_url: https:// needs a server that speaks TLS on that port "
            "(the local sandbox speaks plain http://)"
        )
    return TlsError(message, hint=hint)


def describe_network_error(exc: Exception, url: str) -> str:
    """One line saying what went wrong on the network, without secrets.

    The cause httpx wraps (``ssl.SSLError``, ``socket.gaierror``, ``ConnectionRefusedError``)
    says which failure it was; the URL is reduced to host and port (no userinfo, no path,
    no query: those may carry secrets).
    """
    httpx_mod = import_httpx()
    import socket

    host = _host(url)
    ssl_kind = ssl_error()
    tls = _root(exc, ssl_kind)
    if tls is not None:
        verify = getattr(tls, "verify_message", None)
        if verify:
            return f"could not verify the TLS certificate of {host}: {verify}"
        return f"TLS handshake with {host} failed: {_ssl_reason(tls)}"
    if isinstance(exc, httpx_mod.ConnectError):
        if _root(exc, socket.gaierror) is not None:
            return f"could not resolve the host name of {host} (DNS lookup failed)"
        if _root(exc, ConnectionRefusedError) is not None:
            return f"connection refused by {host}"
    kinds: list[tuple[type[Exception], str]] = [
        (httpx_mod.ConnectTimeout, f"timed out connecting to {host} (connect timeout)"),
        (httpx_mod.ConnectError, f"could not connect to {host}"),
        (httpx_mod.ReadTimeout, f"{host} did not answer in time (read timeout)"),
        (httpx_mod.WriteTimeout, f"timed out sending to {host} (write timeout)"),
        (httpx_mod.PoolTimeout, "no free connection (pool timeout)"),
        (httpx_mod.RemoteProtocolError, f"{host} closed the connection without a full answer"),
        (httpx_mod.ReadError, f"the connection to {host} broke while reading the answer"),
        (httpx_mod.WriteError, f"the connection to {host} broke while sending"),
    ]
    for kind, text in kinds:
        if isinstance(exc, kind):
            return text
    return f"network error talking to {host} ({type(exc).__name__})"


def ssl_error() -> type[Exception]:
    import ssl

    return ssl.SSLError


def _root(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of ``kind`` in the cause/context chain of ``exc`` (bounded)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _ssl_reason(exc: BaseException) -> str:
    """``WRONG_VERSION_NUMBER`` and the like, as words; OpenSSL's own text otherwise."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        words = reason.replace("_", " ").lower()
        if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"):
            return f"{words} (the server does not speak TLS on that port)"
        return words
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "the server"
    if ":" in host:
        host = f"[{host}]"  # IPv6
    return f"{host}:{port}" if port else host
