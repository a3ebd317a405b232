"""What ``uploader limits`` shows of a limiter's state: one :class:`BucketState` per bucket.

The state is judged on the store's clock (Redis' ``TIME`` for a fleet: a bucket whose
reset has passed there is full again, whatever this host's clock says), and the times
shown are moved onto this host's clock, the one the display counts "in N min" from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from uploader.ratelimit import owner as owners
from uploader.ratelimit.bucket import BucketState, snapshot
from uploader.ratelimit.stateshape import clean_state, empty_state

if TYPE_CHECKING:
    from uploader.ratelimit.limiter import RateLimiter


def moved(shown: BucketState, shift: float) -> BucketState:
    """``shown`` with its times moved by ``shift`` seconds (from one clock onto another)."""
    if not shift:
        return shown
    reset, seen, held = shown.reset_at, shown.observed_at, shown.held_until
    return shown._replace(
        reset_at=None if reset is None else reset + shift,
        observed_at=None if seen is None else seen + shift,
        held_until=None if held is None else held + shift,
    )


def _copy(state: dict[str, Any], now: float) -> tuple[dict[str, Any], float]:
    return clean_state(state) or empty_state(), now  # a copy: the store writes nothing


def states(limiter: RateLimiter) -> list[BucketState]:
    """One :class:`BucketState` per spec of ``limiter``, as its next ``acquire`` would see
    it, with the credits held by requests in flight (reservations of live processes)."""
    store = limiter.store
    if getattr(store, "exclusive", True):
        state, now, shift = store.read(limiter.key), limiter.clock(), 0.0
    else:  # Redis: a snapshot and the time of it, on Redis' clock
        state, now = store.update(limiter.key, _copy, limiter.clock)
        shift = limiter._offset(now)
    limiter._tidy(state, now)  # a copy: display only
    found = []
    for spec in limiter.specs.values():
        held, until = owners.held(state["reservations"], spec.name)
        shown = snapshot(spec, state["buckets"].get(spec.name), now)
        found.append(moved(shown._replace(held=held, held_until=until), -shift))
    return found
