"""The rate-limit policy: reserve before sending, reconcile after, wait/pace/fail.

Each provider declares its buckets (:class:`BucketSpec`, :mod:`uploader.ratelimit.bucket`).
Before a request the limiter reserves its cost in every bucket it touches, in state shared
by all processes (a :class:`~uploader.ratelimit.store.StateStore`, the limiter's only view
of storage); after the response it settles the reservation with what the headers said.
When a bucket lacks the budget the policy decides: wait for the reset (up to ``max_wait``)
or fail at once with the local time it resets (exit 4). Batches pace: when the rest of the
batch does not fit in what is left, the budget is spread over the time to reset.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from uploader.errors import AuthError, RateLimitError
from uploader.models import BucketUpdate, Pending
from uploader.ratelimit import owner as owners
from uploader.ratelimit.bucket import (
    BucketSpec,
    BucketState,
    Refusal,
    apply_updates,
    current,
    sanitize,
    spend_locally,
)
from uploader.ratelimit.policy import LimitPolicy, Order, Reservation, state_key
from uploader.ratelimit.refusal import (
    HELD_POLL,
    RESET_MARGIN,
    Block,
    find_block,
    hold_back,
    needs_refresh,
    pace,
    told_first,
    wait_out,
)

if TYPE_CHECKING:
    from uploader.ratelimit.store import StateStore

__all__ = [
    "HELD_POLL",
    "RESET_MARGIN",
    "BucketSpec",
    "BucketState",
    "LimitPolicy",
    "RateLimiter",
    "Refusal",
    "Reservation",
    "state_key",
]

log = logging.getLogger("uploader.ratelimit.limiter")

_T = TypeVar("_T")

# A reservation of a process that died is forgotten after this long (at once when its
# owner is provably gone, see owner.py).
RESERVATION_TTL = 900.0
# How often a batch's worker looks again while other files of its batch hold the credits.
OWN_POLL = 0.05
MAX_LOOPS = 10_000


class RateLimiter:
    """The shared budget of one provider profile (see the module docstring).

    Every public method is one short transaction on the shared state; waiting never holds
    the lock. ``clock`` and ``sleep`` are injected so tests can check every wait exactly.
    """

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
        refresh: Callable[[], Sequence[BucketUpdate]] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.specs = {spec.name: spec for spec in specs}
        self.policy = policy
        self.provider_label = provider_label
        self.clock = clock
        self.sleep = sleep
        self.notify = notify
        self.warn = warn or notify  # "warning: ..." lines (the wiring shows one per run)
        # A free live reading of the buckets (Imgur's GET /3/credits), asked inside the
        # transaction when a bucket with a reserve has no current figures (cold start):
        # processes racing on the lock then see fresh figures instead of the defaults.
        self.refresh = refresh
        self._refresh_failed = False
        self._local = threading.local()  # the state a transaction of this thread holds
        self._mutex = threading.Lock()
        # Reservations of this limiter's requests in flight, and the thread of each.
        self._mine: dict[str, int] = {}
        self._here = owners.me()  # this process, as the owner of its reservations
        self._warned = False

    # -- state helpers -------------------------------------------------------------------

    def _update(self, fn: Callable[[dict[str, Any], float], _T], *, sends: bool = False) -> _T:
        """``fn(state, now)`` as one atomic step on the shared state (the store's
        :meth:`~uploader.ratelimit.store.StateStore.update`), the state tidied first
        (:meth:`_tidy`). ``fn`` may run more than once (an optimistic backend re-runs it
        when another host changed the state meanwhile): it changes only the state it is
        given, and its side effects wait until it returned. Re-entrant within a thread, so
        that the refresh hook's own request (settled like any other) reuses the held state
        instead of waiting for a lock this process holds. Only a step that ``sends`` (may
        let a request go) is refused when the store cannot be used (``after_send``)."""
        held: tuple[dict[str, Any], float] | None = getattr(self._local, "held", None)
        if held is not None:
            return fn(held[0], self.clock())

        def step(state: dict[str, Any], now: float) -> _T:
            self._local.held = (state, now)
            try:
                self._tidy(state, now)
                return fn(state, now)
            finally:
                self._local.held = None

        # The threads of a batch take turns here first: the state store's lock is between
        # processes (and the in-memory fallback has none).
        update = self.store.update if sends else getattr(self.store, "after_send", None)
        with self._mutex:
            return (update or self.store.update)(self.key, step, self.clock)

    def _tidy(self, state: dict[str, Any], now: float) -> None:
        """Drop expired reservations and those of processes of this host that are gone
        (killed mid-request); bring stored figures within their buckets' bounds, with one
        warning the first time anything was out of them."""
        shared = not getattr(self.store, "exclusive", True)  # Redis: several machines
        kept, bad = owners.live_reservations(
            state["reservations"], self._here, now, RESERVATION_TTL, fleet=shared
        )
        state["reservations"] = kept
        for spec in self.specs.values():
            stored = state["buckets"].get(spec.name)
            if stored:
                bad.extend(sanitize(stored, spec, now))
        if bad and not self._warned:
            self._warned = True
            self.warn(
                f"warning: {self.provider_label}: stored rate-limit figures out of bounds "
                f"({', '.join(dict.fromkeys(bad))}): cut to the buckets' windows"
            )

    def _ask_refresh(self) -> list[BucketUpdate]:
        """The refresh hook's figures (an HTTP request: never inside a step an optimistic store
        may re-run); none when it fails (then not asked again), unless credentials are refused."""
        assert self.refresh is not None
        try:
            return [u for u in self.refresh() if u.limit is not None or u.remaining is not None]
        except AuthError:
            raise  # the request it precedes would be refused too: no file goes with them
        except Exception:  # a failed live check must not stop the upload itself
            log.debug("live rate-limit check failed", exc_info=True)
            return []

    # -- acquire -------------------------------------------------------------------------

    def acquire(
        self, costs: Mapping[str, int], *, pending: Pending = 1, order: Order | None = None
    ) -> Reservation:
        """Reserve ``costs`` (bucket -> credits) in every bucket, or wait, pace or raise.

        Unknown bucket names are ignored and zero costs always pass. ``pending`` is how many
        requests of this kind the caller still has to send, this one included: when they do
        not all fit in what is left, sends are spaced so the budget lasts until the reset.
        Waits for a spent bucket are bounded by ``max_wait`` in total (else
        :class:`RateLimitError`); pacing waits are short by construction and not counted.
        ``order``: a batch's file, let by once before its first wait; with ``--on-limit
        fail`` it reserves only after the files before it (:class:`.policy.Order`).
        """
        wanted = {n: int(c) for n, c in costs.items() if c > 0 and n in self.specs}
        if not wanted:
            return Reservation(os.urandom(12).hex(), ())
        waited, note = 0.0, self.notify
        sleep = self.sleep if order is None else told_first(order.let_by, self.sleep)
        strict = order if self.policy.on_limit == "fail" else None  # see Order
        fresh: list[BucketUpdate] | None = None  # live figures asked outside the store
        for _ in range(MAX_LOOPS):
            # Asked again each time round: while this send waits, others of the batch go.
            left = max(1, pending() if callable(pending) else pending)
            rid = os.urandom(12).hex()
            attempt = partial(self._try, wanted=wanted, n=left, rid=rid, fresh=fresh, order=strict)
            outcome = self._update(attempt, sends=True)
            if outcome is None:  # the live figures are wanted first (non-exclusive store)
                fresh = self._ask_refresh()
                continue
            fresh = None
            block, pace_until, now, ours = outcome
            if block is None and pace_until is None and not ours:
                reservation = Reservation(rid, tuple(sorted(wanted.items())))
                self._mine[reservation.id] = threading.get_ident()
                return reservation
            behind = strict is not None and not strict.ready()
            try:
                if ours and not behind:  # this batch's requests in flight: a short wait
                    self.sleep(OWN_POLL)
                elif block is not None and not ours:
                    budget = self.policy.max_wait - waited
                    waited += wait_out(block, now, budget, self.policy, sleep=sleep, notify=note)
                elif pace_until is not None:
                    pace(pace_until - now, self.provider_label, sleep=sleep, notify=note)
            except RateLimitError:
                if order is None or order.ready():
                    raise
                order.hold()  # a refusal is judged once the files before it have reserved
            if order is not None:  # out of the lock; the batch may have stopped meanwhile
                order.hold() if strict else order.check()
        raise RateLimitError(f"{self.provider_label}: gave up waiting for the rate limiter")

    def _try(
        self,
        state: dict[str, Any],
        now: float,
        *,
        wanted: Mapping[str, int],
        n: int,
        rid: str,
        fresh: Sequence[BucketUpdate] | None,
        order: Order | None = None,
    ) -> tuple[Block | None, float | None, float, bool] | None:
        """One attempt of :meth:`acquire` on the state: the reservation ``rid`` added, or
        what holds it back (block, pacing time, now, whether only this limiter's own
        requests in flight or files before it hold it). None: ask the live figures first."""
        if (
            self.refresh is not None
            and not self._refresh_failed
            and needs_refresh(state, self.specs, wanted, now)
        ):
            if fresh is None and not getattr(self.store, "exclusive", False):
                return None
            # A store that excludes every other process while this runs (the file
            # store): ask here, so that processes racing on the lock see fresh figures.
            updates = self._ask_refresh() if fresh is None else fresh
            now = self.clock() if fresh is None else now
            self._apply(state, updates, now, source="live")
            if needs_refresh(state, self.specs, wanted, now):
                self._refresh_failed = True  # not again in this process: go on the defaults
        block, pace_until, intervals = find_block(
            state, self.specs, wanted, max(1, n), now, self.policy.max_wait
        )
        # Credits held by this limiter's requests in flight in other threads (other files
        # of the batch) come back within seconds: wait for them whatever the policy.
        ours = (
            block is not None
            and block.reason == "held"
            and any(
                self._mine.get(str(r.get("id"))) not in (None, threading.get_ident())
                and r["costs"].get(block.spec.name)
                for r in state["reservations"]
            )
        )
        if block is None and pace_until is None and order is not None and not order.ready():
            return None, None, now, True  # free to go, but not before the files before it
        if block is None and pace_until is None:
            state["reservations"].append(
                {
                    "id": rid,
                    "costs": dict(wanted),
                    "expires": now + RESERVATION_TTL,
                    "owner": self._here,
                }
            )
            for name, interval in intervals.items():
                state["buckets"][name]["next_at"] = now + interval
        return block, pace_until, now, ours

    def blocked_until(self, costs: Mapping[str, int]) -> float | None:
        """When a request costing ``costs`` may go next (None: now; for messages only)."""
        wanted = {n: int(c) for n, c in costs.items() if c > 0 and n in self.specs}
        if not wanted:
            return None

        def look(state: dict[str, Any], now: float) -> float | None:
            block, _, _ = find_block(state, self.specs, wanted, 1, now, self.policy.max_wait)
            return block.until if block is not None and block.until > now else None

        return self._update(look)

    # -- after the response ----------------------------------------------------------------

    def settle(self, reservation: Reservation, updates: Sequence[BucketUpdate]) -> None:
        """The request was answered (or may have reached the server): record what we learnt.

        The reservation is dropped and ``updates`` applied. Buckets of the reservation that
        no update names (``counted`` ones always) are decremented locally by their cost:
        the reservation is counted as spent.
        """
        self._mine.pop(reservation.id, None)

        def step(state: dict[str, Any], now: float) -> None:
            self._drop(state, reservation)
            named = self._apply(state, updates, now, source="headers")
            for name, cost in reservation.costs:
                spec = self.specs.get(name)
                if spec is None:
                    continue
                bucket = current(state["buckets"], spec, now)
                bucket.pop("strikes", None)  # answered, not refused: the penalty starts over
                if name not in named:
                    spend_locally(bucket, spec, cost, now)

        self._update(step)

    def release(self, reservation: Reservation) -> None:
        """The request never reached the server: give the reservation back."""
        self._mine.pop(reservation.id, None)
        if reservation.costs:
            self._update(lambda state, _now: self._drop(state, reservation))

    def reject(
        self,
        reservation: Reservation,
        updates: Sequence[BucketUpdate],
        *,
        retry_after: float | None,
        spent: Sequence[str] = (),
        pause: Sequence[str] | None = None,
        note: str | None = None,
    ) -> None:
        """The server refused for rate limiting (see :class:`Refusal`): ``updates`` applied,
        the buckets held back (:func:`~uploader.ratelimit.refusal.hold_back`; ``pause``
        defaults to every bucket of the reservation) so that the next :meth:`acquire` waits
        or refuses; nothing is ever re-sent at once."""
        self._mine.pop(reservation.id, None)

        def step(state: dict[str, Any], now: float) -> None:
            self._drop(state, reservation)
            self._apply(state, updates, now, source="headers", fallback=retry_after)
            named = [u.bucket for u in updates if u.remaining == 0] + list(spent)
            targets = [n for n, _ in reservation.costs] if pause is None else list(pause)
            hold_back(state, self.specs, named, spent, targets, retry_after, note, now)

        self._update(step)

    def record(self, updates: Sequence[BucketUpdate], *, source: str) -> None:
        """Figures from a live check (e.g. ``GET /3/credits``), labelled ``source``."""
        self._update(lambda state, now: self._apply(state, updates, now, source=source))

    @staticmethod
    def _drop(state: dict[str, Any], reservation: Reservation) -> None:
        state["reservations"] = [r for r in state["reservations"] if r["id"] != reservation.id]

    def _apply(
        self,
        state: dict[str, Any],
        updates: Sequence[BucketUpdate],
        now: float,
        *,
        source: str,
        fallback: float | None = None,
    ) -> set[str]:
        """Apply the updates of known buckets (see :func:`apply_update`); return their names.

        Their resets are on this host's clock; a store with a clock of its own (Redis'
        ``TIME``) gets them moved onto it, so that hosts whose clocks disagree agree."""
        shift = 0.0 if getattr(self.store, "exclusive", True) else self._offset(now)
        return apply_updates(
            state["buckets"],
            self.specs,
            updates,
            now,
            source=source,
            fallback=fallback,
            shift=shift,
        )

    def _offset(self, now: float) -> float:
        """The store's clock minus this host's (the store's measure, as of its answer)."""
        offset = getattr(self.store, "offset", None)
        return float(offset) if isinstance(offset, int | float) else now - self.clock()

    # -- display -------------------------------------------------------------------------------

    def states(self) -> list[BucketState]:
        """What ``uploader limits`` shows (:func:`uploader.ratelimit.view.states`)."""
        from uploader.ratelimit.view import states

        return states(self)
