"""Reading providers' rate-limit headers, robustly (reference 1.10, 2.5, 3.7).

Every function here is pure and never raises on bad input: an unparseable value is logged
at debug level and skipped, because a header we cannot read must never fail an upload that
succeeded. Header names match case-insensitively. Times returned are LOCAL epoch seconds:
server-absolute values are corrected for clock skew measured with the ``Date`` header.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from uploader.models import BucketUpdate

log = logging.getLogger("uploader.ratelimit")

# Numbers above this are epoch seconds (2001-09-09); below, durations (reference 1.10).
EPOCH_THRESHOLD = 1e9


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def http_date(value: str) -> float | None:
    """An RFC 9110 IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) as epoch seconds.

    Parsed by hand: ``email.utils`` would cost the hotkey path several milliseconds.
    """
    parts = value.replace(",", " ").split()
    if len(parts) != 6 or parts[5].upper() not in ("GMT", "UTC"):
        return None
    try:
        day, month, year = int(parts[1]), _MONTHS[parts[2][:3].lower()], int(parts[3])
        hour, minute, second = (int(p) for p in parts[4].split(":"))
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
    except (KeyError, ValueError):
        return None


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
    raw = header(headers, name)
    if raw is None:
        return None
    try:
        return int(float(raw.strip()))
    except ValueError:
        log.debug("ignoring unparseable %s header", name)
        return None


def server_skew(headers: Mapping[str, str], now: float) -> float:
    """Server clock minus local clock, from ``Date``; 0.0 when absent or unparseable."""
    raw = header(headers, "date")
    if not raw:
        return 0.0
    server = http_date(raw)
    if server is None:
        log.debug("ignoring unparseable Date header")
        return 0.0
    return server - now


def parse_reset(value: str, now: float, skew: float) -> float | None:
    """A reset value as a local epoch time.

    ISO 8601 (Mastodon: ``2026-08-01T13:55:00.824007Z``) and epoch numbers are absolute
    server times, corrected by ``skew``; smaller numbers are seconds from now.
    """
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if number < 0:
            return None
        return number - skew if number > EPOCH_THRESHOLD else now + number
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        log.debug("ignoring unparseable reset value")
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp() - skew


def imgur_updates(headers: Mapping[str, str], now: float) -> list[BucketUpdate]:
    """Imgur's user, client and POST buckets.

    ``X-RateLimit-UserReset`` is documented as an epoch but live servers send 3600 (and
    ``ClientReset`` 86400): window lengths. Either way ``now + value`` is the latest the
    bucket can reset, so small values are read as seconds from now (an upper bound).
    ``X-Post-Rate-Limit-Reset`` is documented as seconds remaining.
    """
    skew = server_skew(headers, now)
    updates = []
    for bucket, limit, remaining, reset in (
        ("user", "X-RateLimit-UserLimit", "X-RateLimit-UserRemaining", "X-RateLimit-UserReset"),
        (
            "client",
            "X-RateLimit-ClientLimit",
            "X-RateLimit-ClientRemaining",
            "X-RateLimit-ClientReset",
        ),
        (
            "post",
            "X-Post-Rate-Limit-Limit",
            "X-Post-Rate-Limit-Remaining",
            "X-Post-Rate-Limit-Reset",
        ),
    ):
        update = _bucket(headers, bucket, limit, remaining, reset, now, skew)
        if update is not None:
            updates.append(update)
    return updates


def mastodon_updates(
    headers: Mapping[str, str], now: float, *, media_request: bool
) -> list[BucketUpdate]:
    """Mastodon's headers describe whichever throttle is closest to exhaustion.

    On a media POST that is the media bucket (30 per 30 min) or the per-token API bucket
    (300 per 5 min; 1500 per user): a limit below 300 there means the media bucket.
    Servers without headers (GoToSocial, Pleroma, Pixelfed variants) give [].
    """
    skew = server_skew(headers, now)
    limit = header_int(headers, "X-RateLimit-Limit")
    bucket = "media" if media_request and limit is not None and limit < 300 else "api"
    update = _bucket(
        headers,
        bucket,
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        now,
        skew,
    )
    return [update] if update is not None else []


def _bucket(
    headers: Mapping[str, str],
    bucket: str,
    limit_name: str,
    remaining_name: str,
    reset_name: str,
    now: float,
    skew: float,
) -> BucketUpdate | None:
    limit = header_int(headers, limit_name)
    remaining = header_int(headers, remaining_name)
    raw_reset = header(headers, reset_name)
    reset_at = parse_reset(raw_reset, now, skew) if raw_reset is not None else None
    if limit is None and remaining is None:
        return None
    return BucketUpdate(bucket, limit, remaining, reset_at)


def retry_after_seconds(value: str, now: float) -> float | None:
    """``Retry-After`` as delta-seconds or an HTTP date; None when absent or unreadable."""
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    when = http_date(text)
    if when is None:
        log.debug("ignoring unparseable Retry-After")
        return None
    return max(0.0, when - now)


_HINT_PATTERN = (
    r"(?:wait|again in|retry in|after)\s+(?:another\s+|about\s+)?(\d+(?:\.\d+)?)\s*(?:more\s+)?"
    r"(seconds?|secs?|s\b|minutes?|mins?|m\b|hours?|hrs?|h\b)"
)
_UNIT = {"s": 1, "m": 60, "h": 3600}


def wait_hint_seconds(text: str) -> float | None:
    """A wait asked for in message text: "Please wait 37 more minutes" -> 2220.0."""
    match = re.search(_HINT_PATTERN, text, re.IGNORECASE)
    if match is None:
        return None
    return float(match.group(1)) * _UNIT[match.group(2)[0].lower()]
