"""Checks of single values, shared by every source of a value: the config file, its
``UPLOADER_*`` variables and the command line's flags (one validator per value)."""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Any
from urllib.parse import urlsplit

from uploader.config.options import OptionSpec
from uploader.errors import ConfigError


def problem(spec: OptionSpec, value: Any) -> str | None:
    """What is wrong with ``value`` for ``spec`` ("must be ..."), or None: the one check of
    a value, whether it came from the file, a variable or a flag."""
    expected = spec.type
    ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
    if not ok:
        names = {
            str: "a string",
            int: "an integer",
            float: "a number",
            bool: "true or false",
            dict: "a table",
        }
        return f"must be {names[expected]}, not {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, not {value!r}"
    if spec.choices and value not in spec.choices:
        return f"must be one of {', '.join(spec.choices)}, not {value!r}"
    if spec.minimum is not None and value < spec.minimum:
        return f"must be at least {spec.minimum:g}, not {value!r}"
    if spec.maximum is not None and value > spec.maximum:
        return f"must be at most {spec.maximum:g}, not {value!r}"
    if spec.is_command:
        return _command_problem(value)
    if spec.is_path and (not value.strip() or not value.isprintable()):
        return f"is not a file's path (empty, blank or with a control character): {value!r}"
    return None


def _command_problem(command: str) -> str | None:
    import shlex  # start-up: only a profile with a command needs it

    try:
        words = shlex.split(command)
    except ValueError as exc:
        return f"is not a command line ({str(exc).lower()}): {command!r}"
    if not words:
        return "is empty: it must name a program that prints the token"
    return None


def focus_point(text: str) -> str:
    """``X,Y`` (a Mastodon focal point, each -1.0..1.0) in a canonical spelling; ValueError
    saying what is wrong otherwise."""
    parts = text.split(",")
    try:
        point = [float(part) for part in parts]
    except ValueError:
        point = []
    if len(point) != 2 or not all(math.isfinite(v) and -1.0 <= v <= 1.0 for v in point):
        raise ValueError(f"{text!r} is not X,Y with each a number from -1.0 to 1.0")
    return ",".join(f"{v:g}" for v in point)


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot go into an HTTP header (a client id, a token), or None."""
    if not value.isascii() or not value.isprintable() or any(c.isspace() for c in value):
        return "has a space, a line break or a character other than printable ASCII"
    if len(value) > LONGEST_HEADER_TEXT:
        return (
            f"is {len(value)} characters long, more than a request header carries "
            f"({LONGEST_HEADER_TEXT})"
        )
    return None


# Servers refuse a request whose headers pass 8 KiB (nginx's default buffer, 431 or 400):
# a token or client id longer than that is a wrong value, never sent.
LONGEST_HEADER_TEXT = 8000


LOOPBACK = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


def is_loopback(host: str) -> bool:
    """127.0.0.1 or ::1, written as an address (what the README promises): a name such as
    ``localhost`` is resolved by the system and may point elsewhere, so it does not count."""
    try:
        return ipaddress.ip_address(host.strip("[]")) in LOOPBACK
    except ValueError:
        return False


def host_problem(host: str) -> str | None:
    """Why ``host`` is no address to listen on (``serve --host``), or None: an IP address
    (``[::1]`` too) or a host name; an empty one would be every interface."""
    if not host:
        return "is empty (every interface would listen): name an address, e.g. 127.0.0.1"
    if any(c.isspace() or not c.isprintable() for c in host):
        return f"{host!r} has a space, a line break or a control character"
    return None if is_host(host) else f"{host!r} is not an IP address or a host name"


def is_host(host: str) -> bool:
    """An IP address (``[::1]`` too) or a host name an IDNA encoder takes (``exämple.org``;
    labels of letters, digits, '-' and '_', as container names have)."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        pass
    else:
        return True
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return all(_LABEL.match(label) for label in ascii_host.removesuffix(".").split("."))


_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")


def _host_name_ok(host: str) -> bool:
    """Whether an internationalised host name (``exämple.com``, ``xn--...``) is one: a
    malformed one would fail deep inside the HTTP client on every request."""
    if host.isascii() and "xn--" not in host:
        return True
    try:
        host.encode("idna").decode("idna")
    except UnicodeError:
        return False
    return True


def check_url(url: str, where: str, key: str) -> None:
    """https only, except plain http to 127.0.0.1 and ::1 (the sandbox); a port, when
    given, is a number from 1 to 65535; no ``user:password@`` (httpx would send it as Basic
    auth instead of the provider's credentials, and it would be printed wherever the URL is).
    ``key`` is the dotted key, for the message."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # `http://[::1/x`: an unclosed IPv6 address
        raise ConfigError(f"{where}: key {key!r}: {url!r} is not an http(s) URL") from None
    if "@" in parts.netloc:
        raise ConfigError(
            f"{where}: key {key!r}: the URL has a user name or password in it (before '@')",
            hint="remove the 'user:password@' part: credentials go in the credential store "
            "or UPLOADER_<NAME>_* variables",
        )
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ConfigError(f"{where}: key {key!r}: {url!r} has a space or a control character")
    if parts.scheme not in ("http", "https") or not host or not _host_name_ok(host):
        raise ConfigError(f"{where}: key {key!r}: {url!r} is not an http(s) URL")
    if "?" in url or "#" in url:  # even empty: every endpoint would land after it
        raise ConfigError(
            f"{where}: key {key!r}: {url!r} has a query or fragment ('?' or '#')",
            hint="every endpoint is appended to the URL's path: give only scheme, host, "
            "port and path",
        )
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise ConfigError(
            f"{where}: key {key!r}: {url!r} has no valid port",
            hint="a port is a number from 1 to 65535, e.g. http://127.0.0.1:8765/imgur",
        )
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigError(
            f"{where}: key {key!r}: {url!r} uses plain http to a non-loopback host",
            hint="use https:// (plain http is allowed only for the addresses 127.0.0.1 "
            "and [::1], not for names such as localhost)",
        )
