"""One rate-limit bucket: its spec, and how what we know of it changes over time.

A stored bucket is a plain dict in the shared state (:mod:`uploader.ratelimit.store`) with the
fields ``limit``, ``remaining``, ``reset_at``, ``observed_at``, ``source``, ``next_at``
(pacing), ``blocked_until`` and ``strikes`` (after a 429) and ``note`` (what the server said
when it refused, for the limiter's message), each optional. The functions here
change one such dict in place; :mod:`uploader.ratelimit.limiter` calls them under the state lock.

Two rules keep stored knowledge honest:

* A bucket past its reset is refreshed to its limit; that is a guess, and the next
  response's headers overrule it.
* Nothing a server says or the state file holds reaches further than the bucket's
  documented window (plus RESET_SLACK): a reset or a pause beyond it is cut to it (a
  ``Reset: 1e16`` would otherwise block an hourly bucket for good), a remaining above the
  limit is the limit. :func:`sanitize` applies the bounds to a stored bucket.
* A bucket below its limit always has a reset time: when no header said one, ``now +
  window``, which bounds it for any fixed or sliding window, so a spent bucket whose server
  never tells us its reset (forks, local counts) can never stay at zero for good.

A spec without a ``default_limit`` (a custom host's budget, unknown until its first
answer) has no figures until a server gives some: :func:`figures` says None, nothing is
counted locally, and the limiter never holds a send back on a made-up number. Once an
answer (or a refusal) told what is left, it paces and waits like any other; past the
reset it is the learned limit again, or unknown when only a count was ever told.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from uploader.models import BucketUpdate

# Whole-second resets are only known to about a second; estimates this close are one window.
SAME_WINDOW_SLACK = 2.0
# A 429 that names no spent bucket and gives no wait: pause this long, doubling per repeat.
PENALTY_BASE = 10.0
# How far past its window a reset or pause may lie (server clock skew, rounding).
RESET_SLACK = 60.0
# Counts above this are no real bucket's (and would overflow float arithmetic).
MAX_COUNT = 10**9
# Repeated refusals double the pause; past this many the cap (the window) applies anyway.
MAX_STRIKES = 32

# NamedTuples rather than frozen dataclasses: as immutable, and cheaper to define at import
# time (the hotkey path imports this module).


class BucketSpec(NamedTuple):
    """One bucket a provider has.

    ``default_limit`` applies before any header was seen (None: unknown until a server
    says, see the module docstring); ``window`` (seconds) is the fallback reset when
    nothing better is known, and the furthest a reset or pause may lie; ``reserve``
    credits are never spent (the Imgur client bucket); ``counted`` buckets get no headers
    (Gyazo) and are counted locally.
    """

    name: str
    label: str
    default_limit: int | None
    window: float
    reserve: int = 0
    counted: bool = False


class BucketState(NamedTuple):
    """What we know of one bucket, for ``uploader limits`` and tests.

    ``source`` is where the figures came from: ``"headers"``, a live check (``"live"``,
    ``"credits"``), ``"counted"`` locally, ``"refused"`` (the server said spent), ``"paused"``
    (held back after a refusal that named no bucket), or ``"default"`` (nothing seen yet).
    """

    bucket: str
    label: str
    limit: int | None
    remaining: int | None
    reset_at: float | None
    observed_at: float | None
    source: str
    reserve: int
    held: int = 0  # credits held by requests in flight
    held_until: float | None = None  # when the last of those reservations expires


class Refusal(NamedTuple):
    """A server's "too many requests", whatever HTTP status carried it.

    Imgur says "You are uploading too fast" in a 400 (reference 1.2 #2) and "Daily client
    requests exceeded" in a 429 without headers (1.10): the provider reads such answers
    into a Refusal, and the session hands it to :meth:`RateLimiter.reject`, so that the next
    reservation waits or fails instead of re-sending at once.

    ``retry_after``: the wait the server asked for (header or message text), if any.
    ``spent``: buckets the server says are exhausted; they stay spent until their reset.
    ``pause``: when no bucket is named spent (here or by a header with 0 left), the buckets
    to pause; None means every bucket of the refused request.
    ``note``: one line on what the server said, for the limiter's messages.
    """

    retry_after: float | None = None
    spent: tuple[str, ...] = ()
    pause: tuple[str, ...] | None = None
    note: str | None = None


_NUMBER = (int, float)
_BOUNDED_TIMES = ("reset_at", "blocked_until", "next_at")


def number(value: object) -> float | None:
    """A stored time as a float, or None."""
    return float(value) if isinstance(value, _NUMBER) else None


def horizon(spec: BucketSpec, now: float) -> float:
    """The latest a reset or pause of ``spec`` can be: its window from now, plus slack."""
    return now + spec.window + RESET_SLACK


def sanitize(bucket: dict[str, Any], spec: BucketSpec, now: float) -> list[str]:
    """Bring a stored bucket within its bounds (see the module docstring), in place;
    return the fields that were out of them (empty: it was sound).

    It runs several times in every transaction of the limiter, so it is written for a
    sound bucket to pass quickly (issue 13: the limiter's cost per file)."""
    fixed = []
    get = bucket.get
    latest = now + spec.window + RESET_SLACK
    for name in _BOUNDED_TIMES:
        value = get(name)
        if value is not None and isinstance(value, _NUMBER) and value > latest:
            bucket[name] = latest
            fixed.append(name)
    observed = get("observed_at")
    if (
        observed is not None
        and isinstance(observed, _NUMBER)
        and not 0 <= observed <= now + RESET_SLACK
    ):
        bucket["observed_at"] = min(max(float(observed), 0.0), now)
        fixed.append("observed_at")
    limit = get("limit")
    if limit is not None and isinstance(limit, int) and not 0 < limit <= MAX_COUNT:
        bucket.pop("limit")
        fixed.append("limit")
    remaining = get("remaining")
    if remaining is not None and isinstance(remaining, int):
        ceiling = int(get("limit") or spec.default_limit or MAX_COUNT)  # figures()[0]
        if not 0 <= remaining <= ceiling:
            bucket["remaining"] = min(max(remaining, 0), ceiling)
            fixed.append("remaining")
    strikes = get("strikes")
    if strikes is not None and isinstance(strikes, int) and not 0 <= strikes <= MAX_STRIKES:
        bucket["strikes"] = MAX_STRIKES
        fixed.append("strikes")
    return fixed


def current(buckets: dict[str, Any], spec: BucketSpec, now: float) -> dict[str, Any]:
    """The stored bucket of ``spec`` (created empty, :func:`sanitize`-d), refreshed when
    its reset has passed.

    A bucket without a reset (state written by older versions) expires ``window`` after
    it was last observed.
    """
    bucket: dict[str, Any] = buckets.setdefault(spec.name, {})
    sanitize(bucket, spec, now)
    reset_at = number(bucket.get("reset_at"))
    observed = number(bucket.get("observed_at"))
    if reset_at is None and observed is not None and bucket.get("remaining") is not None:
        reset_at = observed + spec.window
        if below(bucket, spec):
            bucket["reset_at"] = reset_at  # kept, so that refusals name the real reset
    if reset_at is not None and now >= reset_at:
        full = bucket.get("limit") or spec.default_limit
        if full is None:
            bucket.pop("remaining", None)  # only a count was ever told: unknown again
        else:
            bucket["remaining"] = full
        bucket["reset_at"] = None
        bucket["next_at"] = None
        bucket["refreshed"] = True
        bucket.pop("note", None)  # it described the window that just ended
    return bucket


def figures(bucket: Mapping[str, Any], spec: BucketSpec) -> tuple[int | None, int | None]:
    """(limit, remaining) of a stored bucket, defaults filled in; None where unknown (a
    spec without ``default_limit`` that no server has told)."""
    limit = bucket.get("limit") or spec.default_limit
    remaining = bucket.get("remaining")
    if remaining is None:
        return (None, None) if limit is None else (int(limit), int(limit))
    return (None if limit is None else int(limit)), int(remaining)


def below(bucket: Mapping[str, Any], spec: BucketSpec) -> bool:
    """Whether a bucket has less than its limit left (a known count under an unknown limit
    counts as below: it must come back by a reset)."""
    limit, left = figures(bucket, spec)
    return left is not None and (limit is None or left < limit)


def apply_update(
    bucket: dict[str, Any],
    spec: BucketSpec,
    update: BucketUpdate,
    now: float,
    *,
    source: str,
    fallback: float | None = None,
) -> None:
    """Fold what one response said into ``bucket`` (already :func:`current`).

    Whole-second resets are imprecise. A reset given as "seconds from now", rounded up by
    the server, makes ``now + value`` an upper bound, so successive estimates within
    SAME_WINDOW_SLACK of the stored one (while it has not passed) describe one window: keep
    the tighter (earlier) reset and the lower remaining (the count only falls within a
    window; a higher one is a late answer). An estimate further away, or a stored reset
    already past, starts a new window and replaces both. A bucket left below its limit with
    no reset known gets ``now + fallback`` (a 429's Retry-After), else ``now + window``.
    """
    latest = horizon(spec, now)
    new_reset, new_limit, new_left = update.reset_at, update.limit, update.remaining
    if new_reset is not None and not new_reset <= latest:  # NaN too
        new_reset = latest if new_reset > now else None
    if new_limit is not None and not 0 < new_limit <= MAX_COUNT:
        new_limit = None
    if new_left is not None:
        new_left = min(max(new_left, 0), new_limit or figures(bucket, spec)[0] or MAX_COUNT)
    if fallback is not None and not 0 <= fallback <= spec.window + RESET_SLACK:
        fallback = spec.window if fallback > 0 else None
    old_reset = number(bucket.get("reset_at"))
    old_left = bucket.get("remaining")
    if (
        old_reset is not None
        and new_reset is not None
        and old_reset > now
        and abs(new_reset - old_reset) <= SAME_WINDOW_SLACK
        and not bucket.get("refreshed")
    ):
        bucket["reset_at"] = min(old_reset, new_reset)
        if new_left is not None:
            bucket["remaining"] = new_left if old_left is None else min(int(old_left), new_left)
    else:
        if new_reset is not None:
            bucket["reset_at"] = new_reset
        if new_left is not None:
            bucket["remaining"] = new_left
            if old_left is not None and new_left > int(old_left):
                bucket["next_at"] = None  # refilled: the old pacing schedule is void
    if new_left:
        bucket.pop("note", None)  # credits left: an earlier refusal's words no longer apply
    bucket.pop("refreshed", None)
    if new_limit is not None:
        bucket["limit"] = new_limit
    if bucket.get("reset_at") is None and below(bucket, spec):
        bucket["reset_at"] = now + (fallback if fallback is not None else spec.window)
    bucket["observed_at"] = now
    bucket["source"] = source
    sanitize(bucket, spec, now)  # a stored remaining above a newly lower limit, say


def spend_locally(bucket: dict[str, Any], spec: BucketSpec, cost: int, now: float) -> None:
    """Count ``cost`` as spent when no header told us the server's count (nothing to count
    from while the budget is unknown)."""
    _, left = figures(bucket, spec)
    if left is None:
        return
    bucket["remaining"] = max(0, left - cost)
    if bucket.get("reset_at") is None:
        bucket["reset_at"] = now + spec.window
    if spec.counted:
        bucket["source"] = "counted"
        bucket["observed_at"] = now


def pause(
    bucket: dict[str, Any],
    spec: BucketSpec,
    retry_after: float | None,
    now: float,
    note: str | None = None,
) -> None:
    """Refuse sends until ``now + retry_after``; unknown, 10 s doubling per repeated 429.

    The doubling is capped at the window, and starts over once a request is answered. A
    hint of 0 (or less) still pauses PENALTY_BASE: the server has just refused, and an
    immediate re-send would only be refused again. ``note`` says why, for the message.
    """
    strikes = min(int(bucket.get("strikes", 0)), MAX_STRIKES)
    if retry_after is None or not retry_after > 0:  # NaN too
        retry_after = min(spec.window, PENALTY_BASE * 2**strikes)
    retry_after = min(retry_after, spec.window + RESET_SLACK)  # a Retry-After of years
    bucket["strikes"] = strikes + 1
    bucket["blocked_until"] = max(now + retry_after, number(bucket.get("blocked_until")) or 0.0)
    bucket["refused_at"] = now  # `uploader limits` says when the server refused
    _set_note(bucket, note)


def mark_spent(bucket: dict[str, Any], spec: BucketSpec, now: float, note: str | None) -> None:
    """The server said this bucket is exhausted: nothing left until its reset.

    The reset is the one known (still ahead), else a window from now: for Imgur's daily
    client bucket that is a day, the safe side of a budget whose exhaustion counts towards
    the monthly block (reference 1.10).
    """
    bucket["remaining"] = 0
    reset = number(bucket.get("reset_at"))
    if reset is None or reset <= now:
        bucket["reset_at"] = now + spec.window
    bucket["observed_at"] = now
    bucket["source"] = "refused"  # `uploader limits` shows "refused at HH:MM:SS"
    bucket.pop("refreshed", None)
    _set_note(bucket, note)


def _set_note(bucket: dict[str, Any], note: str | None) -> None:
    if note:
        bucket["note"] = note
    else:
        bucket.pop("note", None)


def snapshot(spec: BucketSpec, stored: Mapping[str, Any] | None, now: float) -> BucketState:
    """What ``uploader limits`` shows for one bucket, as the next send would see it.

    A bucket past its reset shows its full limit; one paused after a 429 shows 0 left
    until the pause ends; one never seen shows its defaults with source "default".
    """
    if not stored:
        limit = spec.default_limit
        return BucketState(spec.name, spec.label, limit, limit, None, None, "default", spec.reserve)
    bucket = current({spec.name: dict(stored)}, spec, now)
    limit, remaining = figures(bucket, spec)
    reset_at = number(bucket.get("reset_at"))
    blocked_until = number(bucket.get("blocked_until"))
    observed_at = number(bucket.get("observed_at"))
    source = str(bucket.get("source", "default"))
    if blocked_until is not None and blocked_until > now:
        remaining, reset_at = 0, blocked_until  # usable again then
        refused_at = number(bucket.get("refused_at"))
        if source != "refused" and refused_at is not None:
            source, observed_at = "paused", refused_at  # what is known: the refusal, its time
    return BucketState(
        bucket=spec.name,
        label=spec.label,
        limit=limit,
        remaining=remaining,
        reset_at=reset_at,
        observed_at=observed_at,
        source=source,
        reserve=spec.reserve,
    )


def apply_updates(
    buckets: dict[str, Any],
    specs: Mapping[str, BucketSpec],
    updates: Sequence[BucketUpdate],
    now: float,
    *,
    source: str,
    fallback: float | None = None,
    shift: float = 0.0,
) -> set[str]:
    """:func:`apply_update` for each update of a known bucket, its reset moved by ``shift``
    (onto the store's clock); the names of the buckets updated."""
    named: set[str] = set()
    for update in updates:
        spec = specs.get(update.bucket)
        if spec is not None:
            if shift and update.reset_at is not None:
                update = replace(update, reset_at=update.reset_at + shift)  # noqa: PLW2901
            named.add(update.bucket)
            apply_update(
                current(buckets, spec, now), spec, update, now, source=source, fallback=fallback
            )
    return named
