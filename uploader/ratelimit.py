"""The rate-limit model and policy: reserve before sending, reconcile after, wait/pace/fail.

Each provider declares its buckets (:class:`BucketSpec`). Before a request the limiter
reserves its cost in every bucket it touches, in state shared by all processes
(:mod:`uploader.ratestate`); after the response it settles the reservation with what the
headers said. When a bucket lacks the budget the policy decides: wait for the reset (up to
``max_wait``) or fail at once with the local time it resets (exit 4). Batches pace: when the
rest of the batch does not fit in what is left, the budget is spread over the time to reset.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, NamedTuple

from uploader.errors import RateLimitError
from uploader.models import BucketUpdate
from uploader.ratestate import StateStore

__all__ = [
    "BucketSpec",
    "BucketState",
    "LimitPolicy",
    "RateLimiter",
    "Reservation",
    "StateStore",
    "state_key",
]

log = logging.getLogger("uploader.ratelimit")

# A reservation of a process that died is forgotten after this long.
RESERVATION_TTL = 900.0
# Whole-second resets are only known to about a second; estimates this close are one window.
SAME_WINDOW_SLACK = 2.0
# A 429 that names no bucket and gives no wait: back off this long, doubling per repeat.
PENALTY_BASE = 10.0
MAX_LOOPS = 10_000


class BucketSpec(NamedTuple):
    """One bucket a provider has: its defaults before any header was seen."""

    name: str
    label: str
    default_limit: int
    window: float
    reserve: int = 0
    counted: bool = False


class LimitPolicy(NamedTuple):
    on_limit: Literal["wait", "fail"] = "wait"
    max_wait: float = 300.0


class BucketState(NamedTuple):
    """What we know of one bucket, for `uploader limits`."""

    bucket: str
    label: str
    limit: int | None
    remaining: int | None
    reset_at: float | None
    observed_at: float | None
    source: str
    reserve: int


class Reservation(NamedTuple):
    id: str
    costs: tuple[tuple[str, int], ...]


def state_key(kind: str, base_url: str, identity: str) -> str:
    """The state file's name: a hash of provider kind, base URL and credential identity."""
    return hashlib.sha256(f"{kind}\0{base_url}\0{identity}".encode()).hexdigest()[:32]


def _clock_text(epoch: float, now: float) -> str:
    local = datetime.fromtimestamp(epoch).astimezone().strftime("%H:%M:%S")
    delta = max(0.0, epoch - now)
    if delta < 90:
        rel = f"in {delta:.0f} s"
    elif delta < 5400:
        rel = f"in {delta / 60:.0f} min"
    else:
        rel = f"in {delta / 3600:.1f} h"
    return f"{local} ({rel})"


class _Block(NamedTuple):
    spec: BucketSpec
    until: float | None
    remaining: int
    limit: int
    reason: str  # "spent" | "reserve" | "penalty"


class RateLimiter:
    """The shared budget of one provider profile (see the module docstring)."""

    def __init__(
        self,
        store: StateStore,
        key: str,
        specs: Sequence[BucketSpec],
        policy: LimitPolicy,
        *,
        provider_label: str,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        notify: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.store = store
        self.key = key
        self.specs = {spec.name: spec for spec in specs}
        self.policy = policy
        self.provider_label = provider_label
        self.clock = clock
        self.sleep = sleep
        self.notify = notify

    # -- state helpers -------------------------------------------------------------------

    def _bucket(self, state: dict[str, Any], spec: BucketSpec, now: float) -> dict[str, Any]:
        """The stored bucket, refreshed when its reset has passed (stale state is not trusted)."""
        bucket: dict[str, Any] = state["buckets"].setdefault(spec.name, {})
        reset_at = bucket.get("reset_at")
        if isinstance(reset_at, int | float) and now >= reset_at:
            bucket["remaining"] = bucket.get("limit") or spec.default_limit
            bucket["reset_at"] = None
            bucket["next_at"] = None
            bucket["refreshed"] = True
        return bucket

    @staticmethod
    def _inflight(state: dict[str, Any], name: str, exclude: str | None = None) -> int:
        total = 0
        for item in state["reservations"]:
            if item.get("id") != exclude:
                total += int(dict(item.get("costs", {})).get(name, 0))
        return total

    @staticmethod
    def _purge(state: dict[str, Any], now: float) -> None:
        state["reservations"] = [
            r
            for r in state["reservations"]
            if isinstance(r, dict) and float(r.get("expires", 0)) > now
        ]

    # -- acquire -------------------------------------------------------------------------

    def acquire(self, costs: Mapping[str, int], *, pending: int = 1) -> Reservation:
        """Reserve ``costs``; wait, pace or raise RateLimitError as the policy says."""
        wanted = {n: int(c) for n, c in costs.items() if c > 0 and n in self.specs}
        for _ in range(MAX_LOOPS):
            with self.store.transaction(self.key) as state:
                now = self.clock()
                self._purge(state, now)
                block, pace_until, intervals = self._check(state, wanted, max(1, pending), now)
                if block is None and pace_until is None:
                    reservation = Reservation(os.urandom(12).hex(), tuple(sorted(wanted.items())))
                    state["reservations"].append(
                        {"id": reservation.id, "costs": wanted, "expires": now + RESERVATION_TTL}
                    )
                    for name, interval in intervals.items():
                        state["buckets"][name]["next_at"] = now + interval
                    return reservation
            if block is not None:
                self._wait_for(block, now)
            elif pace_until is not None:
                pause = pace_until - now
                if pause > 1:
                    self.notify(
                        f"pacing: waiting {pause:.0f} s to spread the remaining "
                        f"{self.provider_label} budget"
                    )
                self.sleep(pause)
        raise RateLimitError(f"{self.provider_label}: gave up waiting for the rate limiter")

    def _check(
        self, state: dict[str, Any], wanted: Mapping[str, int], pending: int, now: float
    ) -> tuple[_Block | None, float | None, dict[str, float]]:
        pace_until: float | None = None
        intervals: dict[str, float] = {}
        for name, cost in wanted.items():
            spec = self.specs[name]
            bucket = self._bucket(state, spec, now)
            limit = int(bucket.get("limit") or spec.default_limit)
            remaining = bucket.get("remaining")
            remaining = limit if remaining is None else int(remaining)
            blocked_until = bucket.get("blocked_until")
            if isinstance(blocked_until, int | float) and blocked_until > now:
                return _Block(spec, float(blocked_until), remaining, limit, "penalty"), None, {}
            available = remaining - self._inflight(state, name) - spec.reserve
            reset_at = bucket.get("reset_at")
            reset = float(reset_at) if isinstance(reset_at, int | float) else None
            if available < cost:
                reason = "reserve" if spec.reserve and remaining - cost >= 0 else "spent"
                if reset is None and spec.counted:
                    reset = now + spec.window
                return _Block(spec, reset, max(0, remaining), limit, reason), None, {}
            # Pace only when the reset is within reach (--max-wait): spreading a daily
            # budget over a day would stall a batch for hours instead of failing clearly.
            if (
                pending * cost > available
                and reset is not None
                and now < reset <= now + self.policy.max_wait
            ):
                # Spread what is left over the time to reset instead of bursting into a 429.
                intervals[name] = (reset - now) / (available / cost)
                next_at = bucket.get("next_at")
                if isinstance(next_at, int | float) and next_at > now:
                    pace_until = max(pace_until or 0.0, float(next_at))
        return None, pace_until, intervals

    def _wait_for(self, block: _Block, now: float) -> None:
        spec = block.spec
        if block.reason == "reserve":
            message = (
                f"{spec.label} is down to its reserve ({block.remaining} of {block.limit} "
                f"left, {spec.reserve} kept back)"
            )
            hint = (
                "the reserve exists because an Imgur app that exhausts its daily client "
                "budget 5 times in a month is blocked for the rest of the month; lower "
                "reserve_uploads in the profile to spend it"
            )
        elif block.reason == "penalty":
            message = f"{spec.label} is paused after the server refused a request (429)"
            hint = "wait, or see `uploader limits`"
        else:
            message = f"{spec.label} is spent ({block.remaining} of {block.limit} left)"
            hint = "use --on-limit wait (with --max-wait) to wait for it, or see `uploader limits`"
        until = block.until
        when = f"; it resets at {_clock_text(until, now)}" if until is not None else ""
        wait = None if until is None else max(0.0, until - now)
        if self.policy.on_limit == "fail":
            raise RateLimitError(
                message + when, hint=hint, bucket=spec.name, reset_at=until, retry_after=wait
            )
        if wait is None or wait > self.policy.max_wait:
            beyond = (
                f"{message}{when}, beyond --max-wait {self.policy.max_wait:g} s"
                if wait is not None
                else f"{message} and its reset time is unknown"
            )
            raise RateLimitError(
                beyond, hint=hint, bucket=spec.name, reset_at=until, retry_after=wait
            )
        if wait > 1:
            self.notify(f"waiting {wait:.0f} s for {spec.label} to reset")
        # A hair past the reset: whole-second resets are rounded by the server.
        self.sleep(wait + 0.05)

    # -- after the response ----------------------------------------------------------------

    def settle(self, reservation: Reservation, updates: Sequence[BucketUpdate]) -> None:
        """The request was answered (or may have reached the server): record what we learnt."""
        with self.store.transaction(self.key) as state:
            now = self.clock()
            self._drop(state, reservation)
            named = self._apply(state, updates, now, source="headers")
            for name, cost in reservation.costs:
                spec = self.specs.get(name)
                if spec is None or name in named:
                    continue
                bucket = self._bucket(state, spec, now)
                limit = int(bucket.get("limit") or spec.default_limit)
                left = bucket.get("remaining")
                bucket["remaining"] = max(0, (limit if left is None else int(left)) - cost)
                if spec.counted:
                    bucket["source"] = "counted"
                    bucket["observed_at"] = now
                    if bucket.get("reset_at") is None:
                        bucket["reset_at"] = now + spec.window
            for name, _ in reservation.costs:
                if name in state["buckets"]:
                    state["buckets"][name].pop("strikes", None)

    def release(self, reservation: Reservation) -> None:
        """The request never reached the server: give the reservation back."""
        with self.store.transaction(self.key) as state:
            self._drop(state, reservation)

    def reject(
        self,
        reservation: Reservation,
        updates: Sequence[BucketUpdate],
        *,
        retry_after: float | None,
    ) -> None:
        """A 429: record it; the buckets it names (or, if none, all it touched) pause."""
        with self.store.transaction(self.key) as state:
            now = self.clock()
            self._drop(state, reservation)
            self._apply(state, updates, now, source="headers")
            exhausted = [u.bucket for u in updates if u.remaining == 0 and u.bucket in self.specs]
            for name in exhausted:
                bucket = self._bucket(state, self.specs[name], now)
                if bucket.get("reset_at") is None:
                    bucket["reset_at"] = now + (retry_after or self.specs[name].window)
                bucket["remaining"] = 0
            if exhausted and retry_after is None:
                return
            targets = exhausted or [n for n, _ in reservation.costs if n in self.specs]
            for name in targets:
                bucket = self._bucket(state, self.specs[name], now)
                strikes = int(bucket.get("strikes", 0))
                pause = (
                    retry_after
                    if retry_after is not None
                    else min(self.specs[name].window, PENALTY_BASE * 2**strikes)
                )
                bucket["strikes"] = strikes + 1
                bucket["blocked_until"] = now + pause

    def record(self, updates: Sequence[BucketUpdate], *, source: str) -> None:
        """Figures from a live check (e.g. ``GET /3/credits``)."""
        with self.store.transaction(self.key) as state:
            self._apply(state, updates, self.clock(), source=source)

    @staticmethod
    def _drop(state: dict[str, Any], reservation: Reservation) -> None:
        state["reservations"] = [r for r in state["reservations"] if r.get("id") != reservation.id]

    def _apply(
        self, state: dict[str, Any], updates: Sequence[BucketUpdate], now: float, *, source: str
    ) -> set[str]:
        named: set[str] = set()
        for update in updates:
            spec = self.specs.get(update.bucket)
            if spec is None:
                continue
            named.add(update.bucket)
            bucket = self._bucket(state, spec, now)
            stored = bucket.get("reset_at")
            old_reset = float(stored) if isinstance(stored, int | float) else None
            same_window = (
                old_reset is not None
                and update.reset_at is not None
                and old_reset > now
                and abs(update.reset_at - old_reset) <= SAME_WINDOW_SLACK
                and not bucket.get("refreshed")
            )
            if same_window:
                # A reset given in whole seconds (rounded up) is an upper bound: successive
                # observations narrow it. The server's count only falls within a window,
                # so an older answer arriving late must not raise what we know is left.
                assert update.reset_at is not None
                assert old_reset is not None
                bucket["reset_at"] = min(old_reset, update.reset_at)
                if update.remaining is not None:
                    old = bucket.get("remaining")
                    bucket["remaining"] = (
                        update.remaining if old is None else min(int(old), update.remaining)
                    )
            else:
                if update.reset_at is not None:
                    bucket["reset_at"] = update.reset_at
                if update.remaining is not None:
                    bucket["remaining"] = update.remaining
                bucket["next_at"] = None if update.reset_at is not None else bucket.get("next_at")
            bucket.pop("refreshed", None)
            if update.limit is not None:
                bucket["limit"] = update.limit
            bucket["observed_at"] = now
            bucket["source"] = source
        return named

    # -- display -------------------------------------------------------------------------------

    def states(self) -> list[BucketState]:
        state = self.store.read(self.key)
        now = self.clock()
        found = []
        for spec in self.specs.values():
            bucket = dict(state["buckets"].get(spec.name, {}))
            reset_at = bucket.get("reset_at")
            limit = bucket.get("limit")
            remaining = bucket.get("remaining")
            source = str(bucket.get("source", "default"))
            if isinstance(reset_at, int | float) and now >= reset_at:
                remaining, reset_at = limit, None  # past its reset: full again
            if not bucket:
                limit, remaining = spec.default_limit, spec.default_limit
            found.append(
                BucketState(
                    bucket=spec.name,
                    label=spec.label,
                    limit=int(limit) if limit is not None else spec.default_limit,
                    remaining=int(remaining) if remaining is not None else None,
                    reset_at=float(reset_at) if isinstance(reset_at, int | float) else None,
                    observed_at=bucket.get("observed_at"),
                    source=source,
                    reserve=spec.reserve,
                )
            )
        return found
