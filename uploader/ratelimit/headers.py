"""Reading providers' rate-limit headers, robustly (reference 1.10, 2.5, 3.7).

Every function here is pure and never raises on bad input: an unparseable value is logged
at debug level (the header's name and a short excerpt of the value, never a whole header
map) and skipped, because a header we cannot read must never fail an upload that succeeded.
Header names match case-insensitively (``httpx.Headers`` already does; plain dicts do not).
Times returned are LOCAL epoch seconds: server-absolute values are corrected for clock skew
measured with the ``Date`` header.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from uploader.models import BucketUpdate

log = logging.getLogger("uploader.ratelimit.limiter")

# Numbers above this are epoch seconds (2001-09-09); below, durations (reference 1.10:
# Imgur documents UserReset as an epoch but sends 3600).
EPOCH_THRESHOLD = 1e9
# Numbers above this are epoch MILLIseconds (1e11 s would be the year 5138).
EPOCH_MS_THRESHOLD = 1e11
# Mastodon's per-token API throttle allows 300 per 5 min (1500 per user); the media
# throttle allows 30 per 30 min (reference 3.7). A lower limit on a media POST is media's.
MASTODON_API_LIMIT = 300

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def _skip(name: str, value: str) -> None:
    log.debug("ignoring unparseable %s value %r", name, value[:40])


# A number as a header writes it: ASCII digits, an optional sign, fraction and exponent.
# float() alone also takes "1_0" (10), "١٢٣" (123) and full-width digits: no server means
# those, and a header read as a number it does not say is a misread bucket.
_DECIMAL = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"


def decimal(text: str) -> float | None:
    """``text`` (surrounding spaces allowed) as a finite float when it is a plain ASCII
    decimal number; None for anything else: garbage, ``nan``, ``inf``, ``1e400``, ``1_0``,
    digits of other scripts."""
    text = text.strip()
    if re.fullmatch(_DECIMAL, text) is None:  # compiled on first use (re caches it)
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def _finite(text: str) -> float | None:
    """``text`` as a finite float; None for garbage, ``nan`` and ``inf`` (:func:`decimal`)."""
    return decimal(text)


def http_date(value: str) -> float | None:
    """An HTTP date as epoch seconds, in any of the three forms RFC 9110 (7231) accepts.

    ``Sun, 06 Nov 1994 08:49:37 GMT`` (IMF-fixdate), ``Sunday, 06-Nov-94 08:49:37 GMT``
    (RFC 850) and ``Sun Nov  6 08:49:37 1994`` (asctime). Parsed by hand: ``email.utils``
    would cost the hotkey path several milliseconds.
    """
    parts = value.replace(",", " ").replace("-", " ").split()
    try:
        if len(parts) == 6 and parts[5].upper() in ("GMT", "UTC"):
            day, month, year, clock = int(parts[1]), parts[2], int(parts[3]), parts[4]
            if year < 100:  # RFC 850 two-digit years: RFC 9110 says read them as recent
                year += 2000 if year < 70 else 1900
        elif len(parts) == 5:  # asctime
            month, day, clock, year = parts[1], int(parts[2]), parts[3], int(parts[4])
        else:
            return None
        hour, minute, second = (int(p) for p in clock.split(":"))
        moment = datetime(year, _MONTHS[month[:3].lower()], day, hour, minute, second, tzinfo=UTC)
    except (KeyError, ValueError, OverflowError):
        return None
    return moment.timestamp()


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of ``name`` in ``headers``, whatever the case of either."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, found in headers.items():
        if key.lower() == wanted:
            return found
    return None


def header_int(headers: Mapping[str, str], name: str) -> int | None:
    """An integer header (``"1250"``, ``"1250.0"``); None when absent or unreadable.

    A header repeated by a proxy arrives comma-joined (``"1250, 1250"``): the first counts.
    """
    raw = header(headers, name)
    if raw is None:
        return None
    number = _finite(raw.split(",", 1)[0].strip())
    if number is None:
        _skip(name, raw)
        return None
    return int(number)


def server_skew(headers: Mapping[str, str], now: float) -> float:
    """Server clock minus local ``now``, from the ``Date`` header; 0.0 when absent/unreadable.

    ``Date`` has whole seconds and is stamped before the answer travels, so the skew comes
    out up to a second (plus latency) too small: corrected resets err late, the safe side.
    """
    raw = header(headers, "date")
    if not raw:
        return 0.0
    server = http_date(raw)
    if server is None:
        _skip("Date", raw)
        return 0.0
    return server - now


def parse_reset(value: str, now: float, skew: float) -> float | None:
    """A reset value as a LOCAL epoch time, or None when unreadable.

    * ISO 8601 with or without fraction, ``Z`` or offset (Mastodon sends
      ``2026-08-01T13:55:00.824007Z``; no offset means UTC): absolute, minus ``skew``.
    * A number above 1e9: epoch seconds (above 1e11: epoch milliseconds), minus ``skew``.
    * A smaller non-negative number: seconds from ``now`` (no skew: it is a duration).
    * An HTTP date (``Sat, 01 Aug 2026 13:55:00 GMT``) or ``2026-08-01 13:55:00 UTC``:
      absolute, minus ``skew``.
    """
    when = http_date(value.strip())  # an HTTP date (its comma is not a proxy's join)
    if when is not None:
        return when - skew
    text = value.split(",", 1)[0].strip()
    if not text:
        return None
    number = _finite(text)
    if number is not None:
        if number < 0:
            _skip("reset", value)
            return None
        if number > EPOCH_MS_THRESHOLD:
            return number / 1000.0 - skew
        return number - skew if number > EPOCH_THRESHOLD else now + number
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    elif text[-4:].upper() in (" UTC", " GMT"):
        text = text[:-4] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        _skip("reset", value)
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # servers speak UTC
    return parsed.timestamp() - skew


def imgur_updates(headers: Mapping[str, str], now: float) -> list[BucketUpdate]:
    """Imgur's ``user``, ``client`` and ``post`` buckets, for those the headers describe.

    ``X-RateLimit-UserReset`` is documented as an epoch, but live servers send a constant
    3600 (and the undocumented ``ClientReset`` 86400): window lengths (reference 1.10).
    Values above 1e9 are read as epochs; smaller ones as "at most this many seconds from
    now" (``now + value``), an upper bound, which is all a window length tells us.
    ``X-Post-Rate-Limit-Reset`` is seconds remaining; servers send whole seconds (the sandbox
    rounds up), so ``now + value`` is again an upper bound that the limiter narrows.
    """
    skew = server_skew(headers, now)
    updates = []
    for bucket, prefix in (
        ("user", "X-RateLimit-User"),
        ("client", "X-RateLimit-Client"),
        ("post", "X-Post-Rate-Limit-"),
    ):
        update = _bucket(headers, bucket, prefix, now, skew)
        if update is not None:
            updates.append(update)
    return updates


def mastodon_updates(
    headers: Mapping[str, str], now: float, *, media_request: bool
) -> list[BucketUpdate]:
    """The one bucket Mastodon's ``X-RateLimit-*`` headers describe, or [] without them.

    The headers describe whichever throttle is closest to exhaustion (reference 3.7). On a
    media POST that is the media bucket (30 per 30 min) or the per-token API bucket (300 per
    5 min; 1500 per user): a limit below 300 there means ``"media"``, anything else
    ``"api"``. Forks send epoch-integer resets (handled by :func:`parse_reset`) or no
    headers at all (GoToSocial, localhost, paths outside ``/api``): then [].
    """
    skew = server_skew(headers, now)
    limit = header_int(headers, "X-RateLimit-Limit")
    media = media_request and limit is not None and limit < MASTODON_API_LIMIT
    update = _bucket(headers, "media" if media else "api", "X-RateLimit-", now, skew)
    return [update] if update is not None else []


def _bucket(
    headers: Mapping[str, str], bucket: str, prefix: str, now: float, skew: float
) -> BucketUpdate | None:
    """``<prefix>Limit``, ``<prefix>Remaining`` and ``<prefix>Reset`` as one update."""
    limit = header_int(headers, prefix + "Limit")
    remaining = header_int(headers, prefix + "Remaining")
    if limit is not None and limit <= 0:
        _skip(prefix + "Limit", str(limit))
        limit = None
    if remaining is not None and remaining < 0:
        remaining = 0  # "limit minus count" can overshoot; nothing is left either way
    if limit is None and remaining is None:
        return None  # a reset alone says nothing we could act on
    raw_reset = header(headers, prefix + "Reset")
    reset_at = parse_reset(raw_reset, now, skew) if raw_reset is not None else None
    return BucketUpdate(bucket, limit, remaining, reset_at)


def retry_after_seconds(value: str, now: float) -> float | None:
    """``Retry-After`` (delta-seconds or an HTTP date) as seconds from ``now``.

    None when empty or unreadable; a date in the past gives 0.0.
    """
    text = value.strip()
    if not text:
        return None
    seconds = _finite(text)
    if seconds is None:
        when = http_date(text)
        if when is not None:
            return max(0.0, when - now)
        seconds = _finite(text.split(",", 1)[0].strip())  # "120, 120" from a proxy
    if seconds is None or seconds < 0:
        _skip("Retry-After", value)
        return None
    return seconds


_NUMBER = r"(\d+(?:\.\d+)?|an?|one)"
_UNIT = r"(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d)\b"
_AMOUNT = _NUMBER + r"\s*(?:more\s+)?" + _UNIT
_HINT = (
    r"\b(?:wait|(?:again|retry|resets?|available)\s+in|after)\s+(?:another\s+|about\s+)?" + _AMOUNT
)
_MORE = r"\s*(?:,\s*|\s)(?:and\s+)?" + _AMOUNT
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def wait_hint_seconds(text: str) -> float | None:
    """A wait asked for in message text, in seconds; None when the text asks for none.

    "Please wait 37 more minutes" -> 2220.0, "wait 30 seconds" -> 30.0, "try again in 2
    hours" -> 7200.0, "try again in an hour" -> 3600.0, "retry in 1 minute and 30 seconds"
    -> 90.0.
    """
    # Compiled on first use (the re module caches it): only failed requests need it.
    match = re.compile(_HINT, re.IGNORECASE).search(text)
    if match is None:
        return None
    total = 0.0
    while match is not None:
        number = match.group(1).lower()
        amount = 1.0 if number in ("a", "an", "one") else float(number)
        total += amount * _SECONDS[match.group(2)[0].lower()]
        match = re.compile(_MORE, re.IGNORECASE).match(text, match.end())
    return total
