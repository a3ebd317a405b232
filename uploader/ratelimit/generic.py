"""Rate-limit headers of any host (custom uploaders, issue 17): whatever the host sends.

A custom host has one budget the limiter knows of (one bucket, ``"requests"`` unless told
otherwise); :func:`generic_updates` reads it from the first of these styles the answer has:

1. The IETF fields, structured (draft 07 and 08+ of "RateLimit header fields for HTTP"):
   ``RateLimit-Policy: "burst";q=100;w=60, "daily";q=1000;w=86400`` with
   ``RateLimit: "burst";r=50;t=30`` (draft 08+: ``r`` left, ``t`` seconds to reset, the
   limit is the named policy's ``q``), or ``RateLimit: limit=100, remaining=50, reset=30``
   with ``RateLimit-Policy: 100;w=60`` (draft 07).
2. The older draft's ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset``
   (seconds to reset).
3. The common ``X-RateLimit-Limit/Remaining/Reset`` (also spelt ``X-Rate-Limit-``), the
   reset as epoch seconds, epoch milliseconds, seconds from now or an ISO 8601 time
   (detected by :func:`~uploader.ratelimit.headers.parse_reset`, corrected for the skew
   the ``Date`` header shows); ``X-RateLimit-Reset-After`` (seconds, Discord) before it.

Why this order: a host that sends several styles keeps the older ones for older clients,
and the newest is the one it maintains; the IETF fields name the policy they describe and
give the reset only as seconds from now (nothing to guess), the older draft also gives
seconds, while an ``X-RateLimit-Reset`` must be guessed (epoch, seconds or a time). Styles
are never mixed (a limit from one and a count from another may describe different
policies), except that a ``RateLimit-Policy`` without ``RateLimit`` lends its quota to the
older draft's fields, which the drafts of that time sent together.

When several IETF policies are described, the one closest to exhaustion wins: the fewest
requests left, since every request counts against each of them and that one refuses first;
on a tie the later reset (the longer wait). A ``RateLimit`` item whose policy is not in
``RateLimit-Policy`` still gives what is left and the reset (the limit stays unknown); a
policy's window ``w`` bounds the reset when the item gives none.

Like :mod:`uploader.ratelimit.headers`, nothing here raises on any input: a value that
cannot be read is skipped with a debug log (its name and a short excerpt), never the
whole header map; a remaining below 0 reads as 0, a limit of 0 or less as unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import NamedTuple

from uploader.models import BucketUpdate
from uploader.ratelimit import fields
from uploader.ratelimit.bucket import Refusal
from uploader.ratelimit.headers import (
    decimal,
    header,
    parse_reset,
    retry_after_seconds,
    server_skew,
    wait_hint_seconds,
)

log = logging.getLogger("uploader.ratelimit.limiter")

X_PREFIXES = ("X-RateLimit-", "X-Rate-Limit-")
# How much of an answer's text is searched for a wait or quoted in a message.
TEXT_SCAN = 2048
NOTE_LENGTH = 120


def _skip(name: str, value: object) -> None:
    log.debug("ignoring unparseable %s value %r", name, str(value)[:40])


class _Policy(NamedTuple):
    name: str | None
    quota: int | None
    window: float | None


def _count(value: object) -> int | None:
    """A structured number as a count (booleans are no counts)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _first_number(text: str) -> float | None:
    """The number a header starts with: ``"100"``, ``"100, 100;w=60"`` (GitHub, Envoy; or a
    header repeated by a proxy), ``"100;w=60"``; None when it starts with none."""
    return decimal(text.split(",", 1)[0].split(";", 1)[0])  # "1_0", "١٢": no number


def _limit(value: int | None, name: str) -> int | None:
    if value is not None and value <= 0:
        _skip(name, value)
        return None
    return value


def _left(value: int | None) -> int | None:
    return None if value is None else max(0, value)


def _reset(value: object, now: float, skew: float, name: str) -> float | None:
    """A structured reset (seconds from now; an epoch when above 1e9) as a local time."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        if value is not None:
            _skip(name, value)
        return None
    return parse_reset(str(value), now, skew)


def _policies(raw: str) -> list[_Policy]:
    """``RateLimit-Policy``: named policies (draft 08+: ``"name";q=100;w=60``) or bare
    quotas (draft 07: ``100;w=60``)."""
    found = []
    for bare, params in fields.read_list(raw, lambda m: _skip("RateLimit-Policy", m)):
        if isinstance(bare, str):
            name, quota = bare, _count(params.get("q"))
        else:
            name, quota = None, _count(bare)
        window = _count(params.get("w"))
        quota = _limit(quota, "RateLimit-Policy")
        found.append(_Policy(name, quota, float(window) if window and window > 0 else None))
    return found


def _window_reset(policy: _Policy | None, now: float) -> float | None:
    """A policy's window as an upper bound of its reset (fixed or sliding alike)."""
    return None if policy is None or policy.window is None else now + policy.window


def _draft07(
    raw: str, policies: list[_Policy], now: float, skew: float, bucket: str
) -> list[BucketUpdate]:
    """``RateLimit: limit=100, remaining=50, reset=30``, the limit else from the policy."""
    found = fields.read_dict(raw, lambda m: _skip("RateLimit", m))
    limit = _limit(_count(found["limit"][0]) if "limit" in found else None, "RateLimit")
    remaining = _left(_count(found["remaining"][0]) if "remaining" in found else None)
    reset = found["reset"][0] if "reset" in found else None
    quotas = [p for p in policies if p.quota is not None]
    policy = next((p for p in quotas if p.quota == limit), quotas[0] if quotas else None)
    if limit is None and policy is not None:
        limit = policy.quota
    if limit is None and remaining is None:
        return []
    reset_at = _reset(reset, now, skew, "RateLimit reset")
    if reset_at is None:
        reset_at = _window_reset(policy, now)
    return [BucketUpdate(bucket, limit, remaining, reset_at)]


def _draft08(
    raw: str, policies: list[_Policy], now: float, skew: float, bucket: str
) -> list[BucketUpdate]:
    """``RateLimit: "name";r=50;t=30`` items, each with its named policy's quota."""
    named: dict[str, _Policy] = {}
    for each in policies:
        if each.name is not None:
            named.setdefault(each.name, each)
    found = []
    for bare, params in fields.read_list(raw, lambda m: _skip("RateLimit", m)):
        policy: _Policy | None = named.get(bare) if isinstance(bare, str) else None
        limit = None if policy is None else policy.quota
        remaining = _left(_count(params.get("r")))
        if limit is None and remaining is None:
            _skip("RateLimit", bare)
            continue
        reset_at = _reset(params.get("t"), now, skew, "RateLimit t")
        if reset_at is None:
            reset_at = _window_reset(policy, now)
        found.append(BucketUpdate(bucket, limit, remaining, reset_at))
    return found


def _closest(updates: list[BucketUpdate], now: float) -> BucketUpdate | None:
    """The update closest to exhaustion: fewest left, then the latest reset."""

    def key(update: BucketUpdate) -> tuple[bool, int, float]:
        left = update.remaining
        reset = update.reset_at if update.reset_at is not None else now
        return left is None, 0 if left is None else left, -reset

    return min(updates, key=key, default=None)


def _structured(
    headers: Mapping[str, str], now: float, skew: float, bucket: str
) -> BucketUpdate | None:
    raw_policy = header(headers, "RateLimit-Policy")
    raw = header(headers, "RateLimit")
    policies = _policies(raw_policy) if raw_policy else []
    updates: list[BucketUpdate] = []
    if raw:
        read = _draft07 if fields.is_dictionary(raw) else _draft08
        updates = read(raw, policies, now, skew, bucket)
    if not updates:  # the policies alone: the smallest quota binds first
        quotas = [p.quota for p in policies if p.quota is not None]
        if quotas:
            updates = [BucketUpdate(bucket, min(quotas), None, None)]
    return _closest(updates, now)


def _header_count(headers: Mapping[str, str], name: str) -> int | None:
    raw = header(headers, name)
    if raw is None:
        return None
    number = _first_number(raw)
    if number is None:
        _skip(name, raw)
        return None
    return int(number)


def _fields(
    headers: Mapping[str, str], prefix: str, now: float, skew: float, bucket: str
) -> BucketUpdate | None:
    """``<prefix>Limit``, ``<prefix>Remaining``, ``<prefix>Reset-After`` (seconds) or else
    ``<prefix>Reset`` (detected) as one update; None when neither count is there."""
    limit = _limit(_header_count(headers, prefix + "Limit"), prefix + "Limit")
    remaining = _left(_header_count(headers, prefix + "Remaining"))
    if limit is None and remaining is None:
        return None  # a reset alone says nothing to act on
    reset_at = None
    after = header(headers, prefix + "Reset-After")
    if after is not None:
        seconds = _first_number(after)
        if seconds is not None and seconds >= 0:
            reset_at = now + seconds
        else:
            _skip(prefix + "Reset-After", after)
    raw_reset = header(headers, prefix + "Reset")
    if reset_at is None and raw_reset is not None:
        reset_at = parse_reset(raw_reset.split(";", 1)[0], now, skew)
    return BucketUpdate(bucket, limit, remaining, reset_at)


def generic_updates(
    headers: Mapping[str, str], now: float, bucket: str = "requests"
) -> list[BucketUpdate]:
    """What an answer's headers say of the host's one budget, as ``bucket`` (see the
    module docstring for the styles and their order); [] when they say nothing."""
    skew = server_skew(headers, now)
    structured = _structured(headers, now, skew, bucket)
    if structured is not None and structured.remaining is not None:
        return [structured]
    older = _fields(headers, "RateLimit-", now, skew, bucket)
    if older is not None:
        if older.limit is None and structured is not None:
            older = BucketUpdate(bucket, structured.limit, older.remaining, older.reset_at)
        return [older]
    for prefix in X_PREFIXES:
        found = _fields(headers, prefix, now, skew, bucket)
        if found is not None:
            return [found]
    return [] if structured is None else [structured]


def counted_with_reset(updates: list[BucketUpdate]) -> list[BucketUpdate]:
    """``updates`` as the limiter of a custom host takes them: without a count that comes
    with no reset. A custom host's bucket has no known window, only a bound of a day:
    ``0 left`` with no reset would shut the host for that day, and a batch larger than
    what is left would be spread over it. A host that is really spent answers 429, which
    holds it back for its ``Retry-After`` (else 10 s, doubling per repeated refusal)."""
    found = []
    for update in updates:
        if update.reset_at is None and update.remaining is not None:
            log.debug("%s left, but no reset given: not used", update.remaining)
            continue
        found.append(update)
    return found


def _message(data: object) -> str | None:
    """The message of a JSON error body: ``{"error": {"message": "..."}}`` (Chevereto),
    ``{"message": "..."}``, ``{"error": "..."}``, ``{"detail": "..."}``."""
    for _ in range(3):
        if isinstance(data, str):
            return data
        if not isinstance(data, dict):
            return None
        keys = ("message", "error", "detail", "error_message", "msg")
        data = next((data[k] for k in keys if k in data), None)
    return data if isinstance(data, str) else None


def said(text: str) -> str | None:
    """What an error answer says, as one short printable line; None for an HTML page or
    a body without a message."""
    body = text[:TEXT_SCAN].strip()
    if not body or body[0] == "<":
        return None
    if body[0] in "{[":
        import json  # only refusals read bodies

        try:
            message = _message(json.loads(text[: TEXT_SCAN * 8]))
        except (ValueError, RecursionError):
            return None
        if message is None:
            return None
        body = message
    line = " ".join("".join(c for c in body if c.isprintable()).split())
    return line[:NOTE_LENGTH] or None


def generic_refusal(
    status: int, headers: Mapping[str, str], text: str, now: float, *, bucket: str = "requests"
) -> Refusal | None:
    """Whether an answer of a custom host is a rate-limit refusal, and what it tells the
    limiter; None for any other answer.

    * A 429 is one. Its wait: ``Retry-After`` (seconds or an HTTP date), else the reset of
      the budget its headers say is spent, else a wait asked for in its text.
    * A 403 whose headers say the budget is spent or give a ``Retry-After`` is one too
      (GitHub's way of saying it; any other 403 is a refusal of the credential).
    * A 503 with a ``Retry-After`` above 0 is one: the host asks to be left alone that
      long. Without one (or with 0) it is a server error, for the retry policy.
    * A 200 with 0 left is not one: its updates already mark the budget spent.

    ``spent`` vs ``pause`` (see :class:`~uploader.ratelimit.bucket.Refusal` and
    :func:`~uploader.ratelimit.refusal.hold_back`): ``spent=(bucket,)`` only when the
    headers say 0 left AND when it comes back: the bucket then stays spent until that
    reset (``uploader limits`` shows "refused"). Otherwise ``pause=(bucket,)``: paused for
    the wait, or 10 s doubling per repeated refusal when none is known; marking it spent
    without a known reset would shut it for its whole window after one unexplained 429.
    """
    if status not in (429, 403, 503):
        return None
    raw_retry = header(headers, "Retry-After")
    wait = retry_after_seconds(raw_retry, now) if raw_retry is not None else None
    if status == 503:
        if wait is None or wait <= 0:
            return None
        return Refusal(wait, pause=(bucket,), note="the server asked to come back later (HTTP 503)")
    updates = generic_updates(headers, now, bucket)
    spent = next((u for u in updates if u.remaining == 0), None)
    if status == 403 and wait is None and spent is None:
        return None
    reset_at = spent.reset_at if spent is not None else None
    if wait is None and reset_at is not None and reset_at > now:
        wait = reset_at - now
    if wait is None:
        wait = wait_hint_seconds(text[:TEXT_SCAN])
    quoted = said(text)
    note = (
        f'the server said "{quoted}" (HTTP {status})'
        if quoted
        else f"the server refused (HTTP {status})"
    )
    if reset_at is not None and reset_at > now:
        return Refusal(wait, spent=(bucket,), note=note)
    return Refusal(wait, pause=(bucket,), note=note)
