"""The one shared ``httpx.Client``: its timeouts, User-Agent and TLS set-up.

Nothing else builds a client. Requests go through :class:`uploader.http.session.ApiSession`,
never through the client directly. httpx is imported here, lazily (startup matters).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from uploader import __version__, gcpolicy

if TYPE_CHECKING:
    import httpx

USER_AGENT = f"uploader/{__version__} (+https://github.com/uploader-cli/uploader)"


class Timeouts(NamedTuple):
    connect: float = 10.0
    read: float = 60.0
    write: float = 60.0
    pool: float = 10.0


class LowSpeed(NamedTuple):
    """curl's low-speed rule (``CURLOPT_LOW_SPEED_LIMIT``/``_TIME``): an attempt whose
    transfer stays below ``limit`` bytes/s for ``seconds`` is aborted. 0 in either turns
    it off. Applied by :mod:`uploader.http.lowspeed` to every request of the session."""

    limit: int = 1000
    seconds: float = 30.0

    @property
    def enabled(self) -> bool:
        return self.limit > 0 and self.seconds > 0


# How much of a file httpx's multipart encoder reads at a time (its own default, 64 KiB,
# costs a 500 MB upload thousands of trips through the encoder, h11 and the socket: issue
# 13). The low-speed rule re-cuts the body into pieces sized for its own needs.
UPLOAD_READ = 1 << 20


def import_httpx() -> Any:
    """Import httpx without its command-line extra (which pulls in click and rich), its
    multipart file reads set to :data:`UPLOAD_READ` (a class attribute of httpx's encoder;
    left alone should a later httpx not have it)."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    import httpx  # start-up: `--version`, `config` and `limits` never send a request

    field = getattr(sys.modules.get("httpx._multipart"), "FileField", None)
    if field is not None and getattr(field, "CHUNK_SIZE", UPLOAD_READ) < UPLOAD_READ:
        field.CHUNK_SIZE = UPLOAD_READ
    return httpx


def build_client(
    timeouts: Timeouts,
    *,
    transport: httpx.BaseTransport | None = None,
    tls: bool = True,
    env: Mapping[str, str] | None = None,
) -> httpx.Client:
    """The one shared client. ``tls=False`` skips loading the CA bundle (loopback http only).

    With ``tls`` (any non-loopback server), the proxy and CA variables of ``env`` (default:
    the process environment) are honoured as :mod:`uploader.http.proxy` describes; a
    given ``transport`` (tests) is used as it is.
    """
    httpx_mod = import_httpx()
    verify: Any = True
    if not tls:
        import ssl  # start-up: as httpx (`uploader limits` loads this module, needs no TLS)

        # Only plain-http loopback URLs are used, so no certificate is ever checked; an
        # empty context saves loading the CA bundle (~30 ms) on the hotkey path. Loopback
        # is never proxied either: no proxy variable is even read.
        verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    else:
        from uploader.http import proxy  # start-up: only TLS clients (real servers) need it

        source = os.environ if env is None else env
        verify = proxy.tls_context(source) or True
        if transport is None:
            transport = proxy.routing_transport(httpx_mod, source, verify)
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
    _forget_cookies(httpx_mod, client)
    build_no_redirects(client)
    gcpolicy.resume()  # httpx and httpcore were the last heavy imports
    return client


def _forget_cookies(httpx_mod: Any, client: httpx.Client) -> None:
    """No cookie a server sets is kept or sent back, as with curl without ``-b``: these APIs
    have no cookie session (a credential goes in its header), and a tracking cookie would
    follow the user from upload to upload. It also saves what httpx spends reading each
    answer's headers for cookies (an urllib request and an email message per answer:
    ~3% of a batch's CPU, issue 13). httpx has no switch for it: its client keeps its jar
    in ``_cookies``; left alone should a later httpx keep it elsewhere."""

    class Forgotten(httpx_mod.Cookies):  # type: ignore[misc]
        def extract_cookies(self, response: httpx.Response) -> None:
            return None

    if isinstance(getattr(client, "_cookies", None), httpx_mod.Cookies):
        client._cookies = Forgotten()


def build_no_redirects(client: httpx.Client) -> None:
    """No redirect is followed, so none is built: httpx still builds the request a 3xx's
    ``Location`` points to (kept as ``response.next_request``) and raises ``InvalidURL``
    (no ``HTTPError``: a crash) on a ``Location`` it cannot parse (``javascript:...``,
    ``http://[::1``). A server's header must never crash the tool: the answer is returned
    as it came, its ``Location`` read (or not) by whoever reads the answer."""
    if callable(getattr(client, "_build_redirect_request", None)):

        def unchanged(request: httpx.Request, _response: httpx.Response) -> httpx.Request:
            return request

        client._build_redirect_request = unchanged  # type: ignore[method-assign,assignment]
