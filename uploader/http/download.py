"""A picture fetched from an ``https://`` link for ``uploader serve`` (PicGo's URL list).

The server runs on the user's machine, behind their firewall: a link must not make it
fetch from the machine itself or the local network (a router's admin page, a cloud
metadata address) and re-publish that. So: ``https`` only, no user name in the link, the
host resolved first and EVERY address it has checked (loopback, private, link-local,
shared, reserved and multicast addresses are refused), the connection made to a checked
address (a second lookup could answer differently), redirects not followed, a size cap
checked against Content-Length and while reading, and one deadline for the whole fetch.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from typing import BinaryIO
from urllib.parse import urlsplit

from uploader.errors import InputFileError, NetworkError

Resolver = Callable[[str, int], Sequence[str]]
# (checked addresses, port, host name, timeout) -> a socket that speaks HTTP (TLS done).
Opener = Callable[[Sequence[str], int, str, float], socket.socket]
TIMEOUT = 30.0  # seconds for the whole fetch


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` has (the system resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def public_addresses(url: str, host: str, port: int, resolver: Resolver) -> list[str]:
    """The addresses of ``host`` when every one of them is public; InputFileError else."""
    try:
        addresses = list(resolver(host, port))
    except (OSError, UnicodeError) as exc:
        raise InputFileError(f"{url}: cannot resolve {host} ({exc})") from None
    if not addresses:
        raise InputFileError(f"{url}: {host} has no address")
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            raise InputFileError(f"{url}: {host} resolves to {text!r}, not an address") from None
        for checked in (address, *_embedded(address)):
            if not checked.is_global or checked.is_multicast:
                said = "is" if host == text else f"resolves to {text},"
                inside = "" if checked is address else f" (it carries {checked})"
                raise InputFileError(
                    f"{url}: refused: {host} {said} a loopback, private, link-local or "
                    f"reserved address{inside}",
                    hint="uploader serve only fetches pictures from public https addresses",
                )
    return addresses


# NAT64 prefixes (RFC 6052 and RFC 8215): the last 32 bits are an IPv4 address reached
# through the translator, a private one included.
NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def _embedded(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: IPv4-mapped, 6to4, Teredo's server and
    client, NAT64's."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo is not None:
        found += list(address.teredo)
    if any(address in network for network in NAT64):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def fetch(
    url: str,
    target: BinaryIO,
    *,
    largest: int,
    timeout: float = TIMEOUT,
    resolver: Resolver = resolve,
    opener: Opener | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Copy the body at ``url`` into ``target``; the bytes copied. InputFileError for a
    link that is refused (not https, a local address, too large, not 200), NetworkError
    when the host cannot be reached."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "https":
        raise InputFileError(
            f"{url}: only https:// links are fetched", hint="give an https:// link or a file"
        )
    if parts.username is not None or parts.password is not None or not parts.hostname:
        raise InputFileError(f"{url}: not a link to a picture (no host, or a user name in it)")
    host = parts.hostname
    try:
        port = parts.port or 443
    except ValueError:
        raise InputFileError(f"{url}: the port is not a number") from None
    addresses = public_addresses(url, host, port, resolver)
    deadline = clock() + timeout
    connection = http.client.HTTPSConnection(host, port, timeout=timeout)
    try:
        connection.sock = (opener or _tls)(addresses, port, host, timeout)
        connection.request(
            "GET",
            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            headers={"Accept": "image/*", "User-Agent": "uploader"},
        )
        response = connection.getresponse()
        if response.status != 200:
            what = "a redirect (not followed)" if 300 <= response.status < 400 else "an error"
            raise InputFileError(f"{url}: the server answered {response.status}, {what}")
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > largest:
            raise InputFileError(f"{url}: {length} bytes, over the {largest} bytes allowed")
        copied = 0
        while chunk := response.read(1 << 16):
            copied += len(chunk)
            if copied > largest:
                raise InputFileError(f"{url}: over the {largest} bytes allowed: not read further")
            if clock() > deadline:
                raise InputFileError(f"{url}: not fetched within {timeout:g} s")
            target.write(chunk)
        return copied
    except (OSError, http.client.HTTPException) as exc:
        raise NetworkError(
            f"{url}: could not fetch it ({type(exc).__name__}: {exc})", sent=True
        ) from exc
    finally:
        connection.close()


def _tls(addresses: Sequence[str], port: int, host: str, timeout: float) -> socket.socket:
    """A TLS connection (certificate checked for ``host``) to the first checked address
    that answers."""
    last: OSError | None = None
    for address in addresses[:4]:
        try:
            sock = socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            last = exc
            continue
        return ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    raise last or OSError("no address")
