"""http/download.py: what `uploader serve` fetches for a link, and what it refuses.

The connection is injected (a plain socket to a local server stands in for the TLS one),
so every rule is exercised without the network: the addresses checked, redirects not
followed, the size cap by Content-Length and while reading."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.images import png_bytes
from uploader.errors import InputFileError
from uploader.http.download import fetch, public_addresses

PICTURE = png_bytes(width=16, seed=5)
PUBLIC = "93.184.216.34"  # never connected to: the opener below goes to 127.0.0.1


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/ok.png":
            self._send(200, PICTURE, length=True)
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "https://127.0.0.1/secret.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big":
            self._send(200, PICTURE, length=True, claimed=10_000_000)
        elif self.path == "/endless":
            self._send(200, PICTURE * 100, length=False)
        else:
            self._send(404, b"no", length=True)

    def _send(self, status: int, body: bytes, *, length: bool, claimed: int = 0) -> None:
        self.send_response(status)
        if length:
            self.send_header("Content-Length", str(claimed or len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client stopped reading (the cap)
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _get(port: int, path: str, largest: int = 1 << 20) -> bytes:
    seen: list[Sequence[str]] = []

    def opener(addresses: Sequence[str], _port: int, _host: str, timeout: float) -> socket.socket:
        seen.append(addresses)
        return socket.create_connection(("127.0.0.1", port), timeout=timeout)

    out = io.BytesIO()
    fetch(
        f"https://pictures.example{path}",
        out,
        largest=largest,
        resolver=lambda host, _p: [PUBLIC],
        opener=opener,
    )
    assert seen == [[PUBLIC]]
    return out.getvalue()


def test_a_public_picture_is_fetched_whole(port: int) -> None:
    assert _get(port, "/ok.png") == PICTURE


def test_a_redirect_is_not_followed(port: int) -> None:
    with pytest.raises(InputFileError, match=r"answered 302, a redirect \(not followed\)"):
        _get(port, "/moved")


def test_too_large_by_its_length_and_while_reading(port: int) -> None:
    with pytest.raises(InputFileError, match="10000000 bytes, over the 1048576 bytes allowed"):
        _get(port, "/big")
    with pytest.raises(InputFileError, match="over the 5000 bytes allowed: not read further"):
        _get(port, "/endless", largest=5000)


@pytest.mark.parametrize(
    "addresses",
    [
        [PUBLIC, "10.0.0.5"],  # every address is checked, not only the first
        ["192.168.0.1"],
        ["fe80::1%eth0"],
        ["::ffff:10.0.0.1"],
        ["100.64.0.1"],  # shared address space (carrier-grade NAT)
        ["224.0.0.1"],
        [PUBLIC, "::1"],
        ["64:ff9b::7f00:1"],  # NAT64 to 127.0.0.1
        ["64:ff9b::a9fe:a9fe"],  # NAT64 to 169.254.169.254
        ["2002:c0a8:0101::1"],  # 6to4 from 192.168.1.1
        ["2001:0:4136:e378:8000:63bf:f5ff:fffe"],  # Teredo, client 10.0.0.1
    ],
)
def test_any_local_address_refuses_the_host(addresses: list[str]) -> None:
    with pytest.raises(InputFileError, match="a loopback, private, link-local or reserved"):
        public_addresses("https://x.example/a.png", "x.example", 443, lambda h, p: addresses)


def test_an_embedded_public_address_is_let_through_and_a_literal_named() -> None:
    nat64 = "64:ff9b::808:808"  # 8.8.8.8 through the translator
    assert public_addresses("https://x.example/a", "x.example", 443, lambda h, p: [nat64]) == [
        nat64
    ]
    with pytest.raises(InputFileError) as caught:
        public_addresses("https://10.1.2.3/a", "10.1.2.3", 443, lambda h, p: ["10.1.2.3"])
    assert caught.value.message == (
        "https://10.1.2.3/a: refused: 10.1.2.3 is a loopback, private, link-local or "
        "reserved address"
    )
    with pytest.raises(InputFileError) as caught:
        public_addresses("https://x.example/a", "x.example", 443, lambda h, p: ["64:ff9b::a00:1"])
    assert caught.value.message.endswith(
        "x.example resolves to 64:ff9b::a00:1, a loopback, private, link-local or reserved "
        "address (it carries 10.0.0.1)"
    )


def test_a_host_without_address_is_refused() -> None:
    def fails(host: str, port: int) -> list[str]:
        raise socket.gaierror("no such host")

    with pytest.raises(InputFileError, match=r"cannot resolve x\.example"):
        public_addresses("https://x.example/a.png", "x.example", 443, fails)
    with pytest.raises(InputFileError, match=r"x\.example has no address"):
        public_addresses("https://x.example/a.png", "x.example", 443, lambda h, p: [])


@pytest.mark.parametrize(
    "url",
    ["http://pictures.example/a.png", "ftp://pictures.example/a.png", "file:///etc/passwd"],
)
def test_only_https(url: str) -> None:
    with pytest.raises(InputFileError, match="only https:// links are fetched"):
        fetch(url, io.BytesIO(), largest=1, resolver=lambda h, p: [PUBLIC])


def test_a_user_name_in_the_link_is_refused() -> None:
    with pytest.raises(InputFileError, match="a user name in it"):
        fetch("https://me@pictures.example/a.png", io.BytesIO(), largest=1)
