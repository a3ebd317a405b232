"""Ids and links the user gives to ``info`` and ``delete``: checked before any request;
and an answer's ids, links and times, read (``text_of``, ``web_link``, ``epoch_of``) so
that no value a server sends passes for one it is not.

A link must be on a host of the profile's provider (the API's own host, the provider's
public domains, or for a self-hosted server its own domain): ``delete
https://other.example/abc`` must never delete the id ``abc`` here. An id must look like
one of the provider's ids, and is URL-quoted whenever it goes into a path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

from uploader.errors import UsageError
from uploader.ratelimit.headers import decimal

# What no id of any provider holds: it would change the request's path, query or fragment.
UNSAFE = re.compile(r"[/?#%\\\s]")


def link_path(ref: str, what: str, base_url: str, domains: Iterable[str] = ()) -> str | None:
    """The path of ``ref`` when it is a link (None for a bare id), after checking that its
    host is ``base_url``'s or ends in one of ``domains``; UsageError (exit 2) otherwise."""
    text = ref.strip()
    if "://" not in text:
        return None
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
    except ValueError:  # `http://[::1/x`, a port of 99999: not a link at all
        raise UsageError(f"{ref!r} is not {what} or a link to one") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise UsageError(f"{ref!r} is not {what} or a link to one")
    if "@" in parts.netloc:
        raise UsageError(
            f"{ref!r} has a user name or password in it (before '@'): not a link the "
            "provider printed",
            hint="give the id, or the link as the upload printed it",
        )
    allowed = {(urlsplit(base_url).hostname or "").lower(), *domains}
    if not any(host == d or host.endswith("." + d) for d in allowed if d):
        raise UsageError(
            f"{ref!r} is a link to {host}, not to this profile's server",
            hint="give the id, or a link the provider of this profile printed "
            f"(hosts: {', '.join(sorted(d for d in allowed if d))}); -p NAME picks the profile",
        )
    return parts.path


def checked_id(text: str, ref: str, what: str, pattern: re.Pattern[str] | None = None) -> str:
    """``text`` when it is a usable id (non-empty, nothing that changes a URL, and matching
    ``pattern`` when given); UsageError naming ``ref`` otherwise."""
    # ".", "..": a path's own segments; a control character or the surrogates of bytes
    # that are not UTF-8 are in no id and cannot go into a request line.
    bad = not text or text in (".", "..") or UNSAFE.search(text) or not text.isprintable()
    if bad or (pattern is not None and not pattern.fullmatch(text)):
        raise UsageError(f"{ref!r} is not {what} or a link to one")
    return text


def last_segment(ref: str, path: str, what: str, others: Iterable[str]) -> str:
    """The id in a link's ``path``: its last segment without the extension. A link whose
    earlier segments name another kind of object (an album, a gallery post, a user: the
    folders in ``others``) is refused, never read as an image id that happens to be there."""
    segments = [s for s in path.split("/") if s]
    if any(s.lower() in others for s in segments[:-1]):
        raise UsageError(
            f"{ref!r} is not a link to {what}: it names another kind of object",
            hint="give the id, or the image's own link (as the upload printed it)",
        )
    return segments[-1].split(".", 1)[0] if segments else ""


def in_path(media_id: str) -> str:
    """``media_id`` as one path segment: every reserved character quoted."""
    return quote(media_id, safe="")


def own_domain(base_url: str) -> tuple[str, ...]:
    """A self-hosted server's domain (``social.example.org`` -> ``example.org``), where its
    media host (``files.example.org``) usually lives; nothing for an address."""
    host = (urlsplit(base_url).hostname or "").lower()
    labels = host.split(".")
    if not labels or labels[-1].isdigit() or ":" in host or len(labels) < 3:
        return (host,) if host else ()
    return (host, ".".join(labels[1:]))


def text_of(value: Any) -> str | None:
    """A text value of an answer (an id, a deletehash): None for null, an empty string
    (Imgur's ``deletehash: ""``) and what is not text or a number (a list, an object, a
    boolean), whose ``str()`` would pass for an id."""
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        return None
    return str(value)


def web_link(value: Any) -> str | None:
    """``value`` when it is an absolute http(s) URL with a host and no space or control
    character; None for anything else a server may put there (null, a number, a list,
    ``javascript:``, a link with a line break in it)."""
    if not isinstance(value, str) or not value:
        return None
    if any(c.isspace() or not c.isprintable() for c in value):
        return None
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # a bad port, a broken IPv6 literal
        return None
    return value if parts.scheme in ("http", "https") and host else None


def is_web_url(text: str) -> bool:
    """Whether ``text`` is a :func:`web_link`."""
    return web_link(text) is not None


# The last second of the year 9999: no later time can be shown (datetime's limit).
LAST_EPOCH = 253_402_300_799


def epoch_of(value: Any) -> float | None:
    """An answer's time in epoch seconds (Imgur's ``datetime``, reference 1.4; a number of
    Gyazo's) as a float; None for null, a boolean, text that is not a plain number, NaN,
    infinities, and a time before 1970 or after the year 9999 (an answer's absurd date
    must not crash showing it)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str):
        number = decimal(value)  # plain ASCII digits only, as a header's
        if number is None:
            return None
    else:
        try:
            number = float(value)
        except OverflowError:  # float(10**400) overflows
            return None
    return number if 0 <= number <= LAST_EPOCH else None  # NaN compares false
