"""The standard proxy and CA variables, read as curl reads them (loopback never proxied).

The client is built with ``trust_env=False`` (httpx would also read ``.netrc`` and proxy
loopback addresses), so this module is where the environment is honoured:

* ``https_proxy``/``HTTPS_PROXY`` (then ``all_proxy``/``ALL_PROXY``) for https URLs, and
  ``http_proxy`` (then ``all_proxy``/``ALL_PROXY``) for http URLs; lower case first, as
  curl. ``HTTP_PROXY`` in upper case is ignored, as curl does: a CGI program gets it from
  a request's ``Proxy:`` header ("httpoxy"). A proxy without a scheme is ``http://``.
* ``no_proxy``/``NO_PROXY``: comma-separated host names (a name also covers its
  subdomains; a leading dot is ignored), IP addresses, CIDR ranges, optional ``:port``,
  or ``*`` for none at all.
* Loopback hosts (127.0.0.0/8, ::1, ``localhost``) always go direct: the sandbox and the
  tests never pass through a proxy, whatever the environment says.
* ``SSL_CERT_FILE``/``SSL_CERT_DIR``: the CA certificates to trust instead of the bundled
  ones (a corporate proxy that inspects TLS signs with its own CA).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from uploader.errors import ConfigError

if TYPE_CHECKING:
    import ssl

    import httpx

PROXY_VARIABLES = {
    "https": ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"),
    "http": ("http_proxy", "all_proxy", "ALL_PROXY"),
}
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``: never proxied."""
    import ipaddress  # start-up: only with a proxy variable set (every TLS client loads us)

    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def proxy_for(url: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    """``(variable, proxy URL)`` that a request to ``url`` goes through, or None: direct.

    ConfigError (exit 2, naming the variable, never its value: it may hold a password)
    for a proxy URL that cannot be used.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or is_loopback(host) or bypassed(host, parts.port, env):
        return None
    for name in PROXY_VARIABLES.get(parts.scheme, ()):
        value = env.get(name, "").strip()
        if value:
            return name, checked_proxy(name, value)
    return None


def checked_proxy(name: str, value: str) -> str:
    """The proxy URL of variable ``name`` (``http://`` added when it has no scheme)."""
    proxy = value if "://" in value else f"http://{value}"
    try:
        parts = urlsplit(proxy)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
        raise ConfigError(
            f"{name} is not a usable proxy URL",
            hint="set it to http://HOST:PORT (or https:// or socks5://), or unset it",
        )
    return proxy


def _socks_installed(name: str, proxy: str) -> None:
    """ConfigError naming the variable when ``proxy`` is SOCKS and httpx's optional SOCKS
    support (socksio) is missing: httpx would raise ImportError on the first request."""
    if proxy.lower().startswith("socks"):
        import importlib.util  # start-up: only a SOCKS proxy needs it

        if importlib.util.find_spec("socksio") is None:
            raise ConfigError(
                f"{name} names a SOCKS proxy, and SOCKS support is not installed",
                hint="install it (pip install 'httpx[socks]'), or use an http:// proxy",
            )


def bypassed(host: str, port: int | None, env: Mapping[str, str]) -> bool:
    """Whether ``no_proxy``/``NO_PROXY`` sends ``host`` direct."""
    import ipaddress  # start-up: as in is_loopback

    listed = env.get("no_proxy") or env.get("NO_PROXY") or ""
    name = host.strip("[]").lower().rstrip(".")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    for raw in listed.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry, wanted_port = _split_port(entry)
        if wanted_port is not None and port is not None and wanted_port != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
            except ValueError:
                pass
            continue
        domain = entry.lstrip("*").lstrip(".").rstrip(".")
        if domain and (name == domain or name.endswith("." + domain)):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port`` -> (host, port); IPv6 addresses and CIDR ranges keep their colons."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        if port.isdigit():
            return host, int(port)
    return entry, None


def tls_context(env: Mapping[str, str]) -> ssl.SSLContext | None:
    """A context trusting ``SSL_CERT_FILE``/``SSL_CERT_DIR``; None when neither is set
    (httpx then loads its bundled CA certificates). ConfigError when they cannot be read."""
    cafile = env.get("SSL_CERT_FILE") or None
    capath = env.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        return None
    import ssl  # start-up: only a TLS client with these variables set needs it here

    if capath is not None and not os.path.isdir(capath):  # ssl would notice at the handshake
        raise _ca_error("SSL_CERT_DIR", capath, "not a directory")
    if cafile is not None and os.path.exists(cafile) and not os.path.isfile(cafile):
        # A FIFO would block the read forever, a device never end: a regular file only.
        raise _ca_error("SSL_CERT_FILE", cafile, "not a regular file")
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except (OSError, ssl.SSLError, ValueError) as exc:
        name, value = ("SSL_CERT_FILE", cafile) if cafile else ("SSL_CERT_DIR", capath)
        raise _ca_error(name, str(value), exc.__class__.__name__) from exc


def _ca_error(name: str, value: str, why: str) -> ConfigError:
    return ConfigError(
        f"{name} ({value}) cannot be used: {why}",
        hint=f"point {name} at a readable PEM file (a directory for SSL_CERT_DIR), or unset it",
    )


def routing_transport(httpx_mod: Any, env: Mapping[str, str], verify: Any) -> Any:
    """A transport that sends each request direct or through the proxy the environment
    names for it; None when no proxy variable is set (the client's own transport then)."""
    names = dict.fromkeys(name for names in PROXY_VARIABLES.values() for name in names)
    set_ = [name for name in names if env.get(name, "").strip()]
    if not set_:
        return None
    for name in set_:  # refused now, not at the first request
        checked_proxy(name, env[name].strip())
    return _Router(httpx_mod, dict(env), verify)


class _Router:
    """An ``httpx.BaseTransport`` (duck-typed: httpx is imported lazily) choosing per
    request between one direct transport and one transport per proxy URL."""

    def __init__(self, httpx_mod: Any, env: dict[str, str], verify: Any) -> None:
        self.httpx = httpx_mod
        self.env = env
        self.verify = verify
        self.direct: Any = httpx_mod.HTTPTransport(verify=verify, trust_env=False)
        self.proxied: dict[str, Any] = {}

    def transport_for(self, url: str) -> Any:
        chosen = proxy_for(url, self.env)
        if chosen is None:
            return self.direct
        proxy = chosen[1]
        if proxy not in self.proxied:
            _socks_installed(chosen[0], proxy)
            self.proxied[proxy] = self.httpx.HTTPTransport(
                verify=self.verify, trust_env=False, proxy=proxy
            )
        return self.proxied[proxy]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response: httpx.Response = self.transport_for(str(request.url)).handle_request(request)
        return response

    def close(self) -> None:
        for transport in (self.direct, *self.proxied.values()):
            transport.close()

    def __enter__(self) -> _Router:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()
