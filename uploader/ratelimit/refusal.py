"""What stands in the way of a send (:func:`find_block`, on the state the limiter holds
under its lock), and the words of the refusal: what, until when, and what helps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from uploader.errors import RateLimitError
from uploader.ratelimit import owner as owners
from uploader.ratelimit.bucket import BucketSpec, current, figures, mark_spent, number
from uploader.ratelimit.bucket import pause as pause_bucket
from uploader.timewords import describe

# A send held back only by other requests in flight looks again this often (they settle
# in seconds; waiting for the bucket's reset would be far too long).
HELD_POLL = 1.0
# Sleep a hair past a reset: whole-second resets are rounded by the server.
RESET_MARGIN = 0.05


class Block(NamedTuple):
    """Why a send cannot go now: the first bucket that stands in the way."""

    spec: BucketSpec
    until: float
    remaining: int
    limit: int | None  # None: the server told what is left, never of how many
    inflight: int
    reason: str  # "spent" | "reserve" | "penalty" | "held"
    note: str | None = None  # what the server said when it refused
    held_until: float | None = None  # when the last reservation holding it expires


def find_block(
    state: dict[str, Any],
    specs: Mapping[str, BucketSpec],
    wanted: Mapping[str, int],
    pending: int,
    now: float,
    max_wait: float,
) -> tuple[Block | None, float | None, dict[str, float]]:
    """The first bucket that blocks, else when pacing allows the send, and new intervals."""
    pace_until: float | None = None
    intervals: dict[str, float] = {}
    for name, cost in wanted.items():
        spec = specs[name]
        bucket = current(state["buckets"], spec, now)
        limit, remaining = figures(bucket, spec)
        inflight, held_until = owners.held(state["reservations"], name)
        blocked_until = number(bucket.get("blocked_until"))
        if blocked_until is not None and blocked_until > now:
            note = bucket.get("note")
            block = Block(spec, blocked_until, remaining or 0, limit, 0, "penalty", note)
            return block, None, {}
        if remaining is None:
            continue  # a budget no server has told yet: nothing to hold the send back on
        available = remaining - inflight - spec.reserve
        reset = number(bucket.get("reset_at"))
        if available < cost:
            until = reset if reset is not None else now + spec.window
            if inflight and held_until is not None and remaining - spec.reserve >= cost:
                # Only credits held by requests in flight stand in the way: they come
                # back (or are spent) as those requests finish, at the latest on expiry.
                block = Block(spec, min(until, held_until), remaining, limit, inflight, "held")
                return block._replace(held_until=held_until), None, {}
            reserve_hit = spec.reserve > 0 and remaining - inflight - cost >= 0
            block = Block(
                spec,
                until,
                max(0, remaining),
                limit,
                inflight,
                "reserve" if reserve_hit else "spent",
                None if reserve_hit else bucket.get("note"),
                held_until,
            )
            return block, None, {}
        # Pace only when the reset is within reach (--max-wait): spreading a daily
        # budget over a day would stall a batch for hours instead of failing clearly.
        left = remaining - spec.reserve  # in flight counted as sent: see the interval
        if pending * cost > left and reset is not None and now < reset <= now + max_wait:
            # Spread what is left over the time to reset instead of bursting into a 429:
            # the next send is due (reset - now) / (sends left) after this one. Sends left
            # count the credits held in flight too: a server's figure often includes them
            # already (other hosts' requests it has answered but they have not settled),
            # and a schedule stretched to the reset on a double count wastes the window.
            intervals[name] = (reset - now) / (left / cost)
            next_at = number(bucket.get("next_at"))
            if next_at is not None and next_at > now:
                pace_until = max(pace_until or 0.0, next_at)
    return None, pace_until, intervals


def needs_refresh(
    state: dict[str, Any], specs: Mapping[str, BucketSpec], wanted: Mapping[str, int], now: float
) -> bool:
    """Whether a wanted bucket with a reserve has no current figures (never seen, or
    past its reset): spending it on defaults could eat into the reserve."""
    for name in wanted:
        spec = specs[name]
        if spec.reserve > 0:
            bucket = current(state["buckets"], spec, now)
            if bucket.get("observed_at") is None or bucket.get("refreshed"):
                return True
    return False


def _of(block: Block) -> str:
    """``3 of 100`` (or ``3`` when the limit was never told)."""
    return f"{block.remaining}" if block.limit is None else f"{block.remaining} of {block.limit}"


def held_words(block: Block, now: float) -> str:
    """``N held by requests in flight, released at HH:MM:SS (in 15 min) at the latest``."""
    words = f"{block.inflight} held by requests in flight"
    if block.held_until is None:
        return words
    return f"{words}, released {describe(block.held_until, now)} at the latest"


def refusal_words(block: Block, now: float) -> tuple[str, str, str]:
    """(message, when it lifts, hint) for a refusal caused by ``block``."""
    spec = block.spec
    if block.reason == "reserve":
        message = (
            f"{spec.label} is down to its reserve ({_of(block)} left, {spec.reserve} kept back)"
        )
        hint = (
            "the reserve exists because an Imgur app that exhausts its daily client "
            "budget 5 times in a month is blocked for the rest of the month; lower "
            "reserve_uploads in the profile to spend it"
        )
    elif block.reason == "penalty":
        if block.note:
            message = f"{spec.label} is paused: {block.note}"
        else:
            message = f"{spec.label} is paused after the server refused a request (429)"
        hint = "wait, or see `uploader limits`"
    elif block.reason == "held":
        kept = f", {spec.reserve} kept back" if spec.reserve else ""
        message = (
            f"{spec.label} has no credit free ({_of(block)} left, {held_words(block, now)}{kept})"
        )
        hint = (
            "a request in flight releases its credits when it finishes (at once if its "
            "process on this host is gone); use --on-limit wait to wait for them, or "
            "see `uploader limits`"
        )
    else:
        held = f", {held_words(block, now)}" if block.inflight else ""
        said = f"; {block.note}" if block.note else ""
        message = f"{spec.label} is spent ({_of(block)} left{held}{said})"
        hint = "use --on-limit wait (with --max-wait) to wait for it, or see `uploader limits`"
    when = "" if block.reason == "held" else f"; it resets {describe(block.until, now)}"
    return message, when, hint


class Policy(Protocol):
    """What to do when a bucket lacks the budget (``limiter.LimitPolicy``)."""

    @property
    def on_limit(self) -> str: ...

    @property
    def max_wait(self) -> float: ...


def wait_out(
    block: Block,
    now: float,
    budget: float,
    policy: Policy,
    *,
    sleep: Callable[[float], None],
    notify: Callable[[str], None],
) -> float:
    """Sleep until ``block`` lifts and return the time slept (at most ``budget``, what is
    left of ``--max-wait``), or raise :class:`RateLimitError` as ``policy`` says."""
    spec, until = block.spec, block.until
    message, when, hint = refusal_words(block, now)
    wait = max(0.0, until - now)
    if block.reason == "held" and policy.on_limit == "wait" and budget > 0:
        step = min(wait, HELD_POLL, budget)
        sleep(step)  # look again soon: a request in flight settles in seconds
        return step
    if policy.on_limit == "fail":
        raise RateLimitError(
            message + when, hint=hint, bucket=spec.name, reset_at=until, retry_after=wait
        )
    if wait > budget:
        if (
            block.note
            and block.reason == "spent"
            and spec.window >= 86400
            and spec.default_limit is not None
        ):
            # Reference 1.10: every request against a spent daily budget counts
            # towards Imgur's monthly block; nothing but the reset helps. (A custom
            # host's day is only a bound of a window it never told: not "daily".)
            hint = "a daily budget the server says is exhausted: wait for its reset"
        elif block.reason != "reserve":
            needed = policy.max_wait - budget + wait + 1  # waited so far + this wait
            hint = f"use --max-wait {needed:.0f} to wait for it, or see `uploader limits`"
        raise RateLimitError(
            f"{message}{when}, beyond --max-wait {policy.max_wait:g} s",
            hint=hint,
            bucket=spec.name,
            reset_at=until,
            retry_after=wait,
        )
    if wait > 1:
        notify(f"waiting {wait:.0f} s for {spec.label} to reset")
    sleep(wait + RESET_MARGIN)
    return wait


def pace(
    pause: float, label: str, *, sleep: Callable[[float], None], notify: Callable[[str], None]
) -> None:
    """Wait ``pause`` seconds so that ``label``'s remaining budget lasts to its reset."""
    if pause > 1:
        notify(f"pacing: waiting {pause:.0f} s to spread the remaining {label} budget")
    sleep(pause)


def hold_back(
    state: dict[str, Any],
    specs: Mapping[str, BucketSpec],
    named: Sequence[str],
    spent: Sequence[str],
    targets: Sequence[str],
    retry_after: float | None,
    note: str | None,
    now: float,
) -> None:
    """After a rate-limit refusal: hold back the buckets it exhausted (``named``: those the
    answer gave 0 remaining, plus ``spent``, marked spent until their known reset, else a
    window from now). Each stays spent until its reset (when none is known: ``now +
    retry_after``, else its window); with a ``retry_after`` it is also paused that long.
    When none is exhausted (no headers, or Imgur's hidden upload throttle with credits
    left, reference 1.10), the ``targets`` pause for ``retry_after``, or, when unknown, 10 s
    doubling per repeated refusal up to the window: taking the window itself would shut
    Imgur's daily client bucket for a day after one unexplained 429."""
    exhausted = [specs[n] for n in dict.fromkeys(named) if n in specs]
    for spec in exhausted:
        bucket = current(state["buckets"], spec, now)
        if spec.name in spent:
            mark_spent(bucket, spec, now, note)
        reset = number(bucket.get("reset_at"))
        # A reset already due (e.g. "Reset: 0") would let the next send go at once:
        # pause instead, as after an unexplained refusal.
        if retry_after is not None or reset is None or reset <= now:
            pause_bucket(bucket, spec, retry_after, now, note)
        elif note:
            bucket["note"] = note
    if exhausted:
        return  # the buckets the server named are the ones to hold back
    for target in (specs[n] for n in targets if n in specs):
        bucket = current(state["buckets"], target, now)
        pause_bucket(bucket, target, retry_after, now, note)


def told_first(told: Callable[[], None], sleep: Callable[[float], None]) -> Callable[[float], None]:
    """``sleep``, calling ``told`` once before the first time it sleeps."""
    pending = [told]

    def first(seconds: float) -> None:
        while pending:
            pending.pop()()
        sleep(seconds)

    return first
