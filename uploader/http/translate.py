"""The one place where foreign exceptions become :class:`UploaderError` values.

Like httpx's own ``map_httpcore_exceptions``: httpx's transport errors (and the ``ssl`` and
``socket`` errors they wrap) become :class:`NetworkError` or :class:`TlsError`, and a body
that should be JSON but is not becomes :class:`UnreadableAnswerError`; each is raised
``from`` the original, so ``-vv`` shows the whole chain. Messages are one line and carry no
secret: a URL is reduced to host and port, a body to its type (and an HTML page's title).

New translations go here, next to these; the session (:mod:`uploader.http.session`) and the
providers call them, nothing else catches httpx, ``json`` or ``socket`` exceptions.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from uploader.errors import NetworkError, TlsError, UnreadableAnswerError
from uploader.http.client import import_httpx

if TYPE_CHECKING:
    import httpx


def network_error(exc: Exception, url: str, *, sent: bool) -> NetworkError:
    """The NetworkError (a :class:`TlsError` for TLS failures) for an httpx exception.

    ``sent`` says whether the request may have reached the server (see NetworkError).
    """
    message = describe_network_error(exc, url)
    tls = _root(exc, _ssl_error())
    if tls is None:
        hint = None
        if _root(exc, _dns_error()) is not None:
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


def too_slow_error(url: str, limit: int, seconds: float, *, sent: bool) -> NetworkError:
    """The transfer stayed below ``limit`` bytes/s for ``seconds`` (the low-speed rule,
    :mod:`uploader.http.lowspeed`): a network error, ``sent`` as the attempt went."""
    return NetworkError(
        f"the transfer with {_host(url)} was too slow: less than {limit} bytes/s for "
        f"{seconds:g} s (low_speed_limit, low_speed_time)",
        hint="a stalled server or network; to wait longer, raise low_speed_time (or set "
        "low_speed_limit = 0) in the config's [defaults]",
        sent=sent,
    )


def too_large_error(url: str, largest: int) -> NetworkError:
    """The answer's body passed ``largest`` bytes: no answer of these APIs is that big (a
    wrong ``base_url``, or a broken server); the request was sent and maybe carried out."""
    return NetworkError(
        f"the answer of {_host(url)} was over {largest >> 20} MiB, which no answer of "
        "this API is: stopped reading it",
        hint="check base_url: it may point at another kind of server",
        sent=True,
    )


def describe_network_error(exc: Exception, url: str) -> str:
    """One line saying what went wrong on the network, without secrets.

    The cause httpx wraps (``ssl.SSLError``, ``socket.gaierror``, ``ConnectionRefusedError``)
    says which failure it was; the URL is reduced to host and port (no userinfo, no path,
    no query: those may carry secrets).
    """
    httpx_mod = import_httpx()
    host = _host(url)
    tls = _root(exc, _ssl_error())
    if tls is not None:
        verify = getattr(tls, "verify_message", None)
        if verify:
            return f"could not verify the TLS certificate of {host}: {verify}"
        return f"TLS handshake with {host} failed: {_ssl_reason(tls)}"
    if isinstance(exc, httpx_mod.ConnectError):
        if _root(exc, _dns_error()) is not None:
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


def was_sent(exc: Exception) -> bool:
    """Whether a request that failed with this httpx exception may have reached the server:
    not when the connection never opened (refused, DNS, TLS, connect or pool timeout)."""
    httpx_mod = import_httpx()
    return not isinstance(
        exc, httpx_mod.ConnectError | httpx_mod.ConnectTimeout | httpx_mod.PoolTimeout
    )


def json_body(response: httpx.Response, provider: str, action: str) -> Any:
    """The body parsed as JSON, or :class:`UnreadableAnswerError` naming the provider.

    For answers whose body must be JSON (a success, a token answer). What the JSON means is
    the caller's business. For an upload, the pipeline treats this error like a lost answer:
    the object was most likely created.
    """
    try:
        return json.loads(response.content)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        raise UnreadableAnswerError(
            f"{provider} answered the {action} with HTTP {response.status_code} and a body "
            f"that is not JSON ({describe_body(response)})",
            status=response.status_code,
        ) from exc


def json_or_none(response: httpx.Response) -> Any:
    """The first JSON document of the body, or None: for error answers, whose body may be
    anything (an HTML page, nothing, or two JSON documents back to back: Imgur 1.2 #6)."""
    try:
        text = response.content.decode("utf-8").lstrip()
        found, _ = json.JSONDecoder().raw_decode(text)
    except ValueError:  # not UTF-8, not JSON
        return None
    return found


def describe_body(response: httpx.Response) -> str:
    """A short, safe description of a non-JSON body: its type and, for HTML, its title."""
    ctype = response.headers.get("content-type", "no content type").split(";")[0].strip()
    text = response.content[:4096].decode("utf-8", "replace")
    lowered = text.lower()
    start = lowered.find("<title>")
    if start >= 0:
        end = lowered.find("</title>", start)
        title = " ".join(text[start + 7 : end if end > 0 else start + 120].split())
        return f"{ctype} page titled {title[:100]!r}"
    if not response.content:
        return "empty body"
    return f"{ctype}, {len(response.content)} bytes"


def _ssl_error() -> type[Exception]:
    import ssl  # start-up: called after httpx failed (httpx loaded it); `limits` needs none

    return ssl.SSLError


def _dns_error() -> type[Exception]:
    import socket  # start-up: as ssl in _ssl_error

    return socket.gaierror


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
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "the server"
    if ":" in host:
        host = f"[{host}]"  # IPv6
    return f"{host}:{port}" if port else host
