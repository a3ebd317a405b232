"""Redis with the local file store behind it (issue 14, "Redis unreachable").

:class:`FailoverStore` sends every update to the Redis store while it works. This host
keeps a copy of the fleet's state as it last saw it, its times moved from Redis' clock onto
this host's (``<key>-fleet.json`` in the local state directory, written at most every
COPY_EVERY seconds and when the run ends), so that when Redis cannot be used it never
spends blindly:

* with ``on_backend_error = "fail"`` the run stops (exit 4) before anything is sent;
* with ``"fallback"`` (the default) it says so once on stderr and goes on with the local
  file store, where every bucket the fleet copy knows is capped at SHARE of the fleet's
  remaining figure (of its limit when that window has ended): the other hosts of the fleet
  are assumed to spend the rest. Buckets the fleet copy never held keep their local figures.

The switch happens without a traceback, mid-batch too, and is said once; Redis is tried
again every RETRY seconds of a long run (a batch, ``uploader serve``) and used again when
it answers (one line says so); the next run tries it first anyway.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING, Any, TypeVar

from uploader.errors import RateLimitError
from uploader.ratelimit.stateshape import clean_state, shifted

if TYPE_CHECKING:
    from uploader.ratelimit.redis_store import RedisStateStore
    from uploader.ratelimit.store import FileStateStore

_T = TypeVar("_T")
log = logging.getLogger("uploader.ratelimit.limiter")

SHARE = Fraction(1, 4)  # of the last known fleet budget, per bucket, while Redis is down
COPY_EVERY = 2.0  # seconds between two local copies of the fleet's state
FLEET = "-fleet"  # suffix of the local copy's key
SHARE_SUFFIX = "~share"  # a bucket's allowance while Redis is down (see cap)
RETRY = 60.0  # seconds after a failure before Redis is tried again (a long batch, serve)


def cap(local: dict[str, Any], fleet: dict[str, Any], now: float) -> None:
    """Give ``local`` (in place) a share allowance per bucket ``fleet`` knows: SHARE of the
    fleet's remaining figure (of its limit when that window ended), kept in a bucket
    ``NAME~share`` (the limiter ignores names it has no spec for) that :func:`spend`
    counts down. An allowance still running (an earlier fallback run) is kept when lower."""
    for name, seen in fleet["buckets"].items():
        if name.endswith(SHARE_SUFFIX):
            continue
        limit, left, reset = seen.get("limit"), seen.get("remaining"), seen.get("reset_at")
        live = isinstance(reset, int | float) and reset > now
        basis = left if live and isinstance(left, int) else limit
        if not isinstance(basis, int):
            continue
        allowance = {"remaining": int(basis * SHARE), "reset_at": reset if live else None}
        old = local["buckets"].get(name + SHARE_SUFFIX)
        if old is not None and _running(old, now) and old.get("remaining", 0) <= basis * SHARE:
            continue
        local["buckets"][name + SHARE_SUFFIX] = allowance
        blocked = seen.get("blocked_until")
        mine = local["buckets"].setdefault(name, {})
        if isinstance(limit, int):
            mine.setdefault("limit", limit)
        if isinstance(blocked, int | float) and blocked > float(mine.get("blocked_until") or 0):
            mine["blocked_until"] = blocked
    spend(local, {}, now)


def _running(allowance: dict[str, Any], now: float) -> bool:
    reset = allowance.get("reset_at")
    return reset is None or (isinstance(reset, int | float) and reset > now)


def spend(state: dict[str, Any], before: dict[str, dict[str, int]], now: float) -> None:
    """Count the reservations of ``before`` (id -> costs) gone from ``state`` against the
    allowances, then cap each bucket's remaining at its allowance (in place)."""
    gone = set(before) - {r["id"] for r in state["reservations"]}
    for name in [n for n in state["buckets"] if n.endswith(SHARE_SUFFIX)]:
        allowance = state["buckets"][name]
        if not _running(allowance, now):
            del state["buckets"][name]  # its window ended: the local figures again
            continue
        real = name.removesuffix(SHARE_SUFFIX)
        used = sum(before[rid].get(real, 0) for rid in gone)
        left = max(0, int(allowance.get("remaining") or 0) - used)
        allowance["remaining"] = left
        bucket = state["buckets"].setdefault(real, {})
        own = bucket.get("remaining")
        bucket["remaining"] = left if not isinstance(own, int) else min(own, left)
        if bucket.get("reset_at") is None and allowance.get("reset_at") is not None:
            bucket["reset_at"] = allowance["reset_at"]
        bucket.setdefault("observed_at", now)


def state_of(why: str) -> str:
    """How a Redis that failed with ``why`` (:func:`why`'s words) is described: it refused
    the credentials or a command, or it could not be reached at all."""
    if why.startswith("authentication failed"):
        return "refused the login"
    if why.startswith("not authorised"):
        return "refused access"
    return "unreachable"


class FailoverStore:
    """The Redis store, and the file store once Redis failed (see the module docstring)."""

    def __init__(
        self,
        primary: RedisStateStore,
        local: FileStateStore,
        *,
        on_error: str,
        notify: Callable[[str], None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.local = local
        self.on_error = on_error
        self.notify = notify
        self.failed: str | None = None  # why Redis was given up, once it was
        self._capped: set[str] = set()
        self._copied: dict[str, float] = {}  # key -> monotonic time of its last local copy
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self._retry_at = 0.0  # when Redis is tried again after a failure
        atexit.register(self.flush)

    @property
    def exclusive(self) -> bool:
        return self.failed is not None

    @property
    def offset(self) -> float:
        return 0.0 if self.failed is not None else self.primary.offset

    @property
    def shown(self) -> str:
        return self.primary.shown

    def probe(self) -> None:
        """Try Redis once now (the start of a run): fail or fall back before sending."""
        from uploader.ratelimit.redis_store import BackendError

        try:
            self.primary.probe()
        except BackendError as exc:
            self._give_up(str(exc))

    def update(
        self,
        key: str,
        fn: Callable[[dict[str, Any], float], _T],
        clock: Callable[[], float],
        *,
        refuse: bool = True,
    ) -> _T:
        """``fn`` on Redis, else on the local files; with ``on_backend_error = "fail"``
        a :class:`RateLimitError` instead, unless not ``refuse`` (:meth:`after_send`)."""
        from uploader.ratelimit.redis_store import BackendError

        if self.failed is not None:
            self._try_again()
        if self.failed is None:
            try:
                result = self.primary.update(key, fn, clock)
            except BackendError as exc:
                self._give_up(str(exc), refuse=refuse)
            else:
                self._copy(key)
                return result
        elif refuse and self.on_error == "fail":
            raise self._refusal(self.failed)
        self._cap(key, clock())

        def counted(state: dict[str, Any], now: float) -> _T:
            before = {r["id"]: r["costs"] for r in state["reservations"]}
            result = fn(state, now)
            spend(state, before, now)
            return result

        return self.local.update(key, counted, clock)

    def after_send(
        self, key: str, fn: Callable[[dict[str, Any], float], _T], clock: Callable[[], float]
    ) -> _T:
        """:meth:`update` for a step after a request went (settle, release, a refusal's
        figures): never refused, even in "fail" mode, whose refusal is for sending only.
        The answer is on the server: its file must be reported, and its figures kept."""
        return self.update(key, fn, clock, refuse=False)

    def read(self, key: str) -> dict[str, Any]:
        from uploader.ratelimit.redis_store import BackendError

        if self.failed is not None:
            self._try_again()
        if self.failed is None:
            try:
                return self.primary.read(key)
            except BackendError as exc:
                self._give_up(str(exc))
        self._cap(key, time.time())
        return self.local.read(key)

    def flush(self) -> None:
        """Write the local copies not written yet (at the end of the run: never raises)."""
        for key in list(self._dirty):
            try:
                self._copy(key, force=True)
            except Exception:  # an exit hook must not print a traceback
                log.debug("local copy of the fleet's state not written", exc_info=True)

    def _try_again(self) -> None:
        """Redis again, when it answers a probe (at most every RETRY seconds): a long run
        (a batch, ``uploader serve``) goes back to the fleet's figures, and says so."""
        from uploader.ratelimit.redis_store import BackendError

        with self._lock:
            if self.failed is None or self._monotonic() < self._retry_at:
                return
            self._retry_at = self._monotonic() + RETRY
        try:
            self.primary.probe()
        except BackendError:
            return
        with self._lock:
            if self.failed is None:
                return
            self.failed = None
            self._capped.clear()  # capped again from the fleet's figures if it fails again
        self.notify(f"rate-limit state: {self.shown} answers again: the fleet's figures again")

    def _give_up(self, why: str, *, refuse: bool = True) -> None:
        with self._lock:
            first, self.failed = self.failed is None, self.failed or why
            if first:
                self._retry_at = self._monotonic() + RETRY
        if self.on_error == "fail":
            if refuse:
                raise self._refusal(self.failed)
            if first:  # an answer's figures kept locally; the next send is refused
                self.notify(
                    f"warning: rate-limit state: {self.shown} {state_of(why)} ({why}): "
                    "nothing more is sent (this answer's figures kept in the local file store)"
                )
            return
        if first:
            self.notify(
                f"warning: rate-limit state: {self.shown} {state_of(why)} ({why}): using the "
                "local file store with a conservative share of the last known budget"
            )

    def _refusal(self, why: str) -> RateLimitError:
        return RateLimitError(
            f"rate-limit state: {self.shown} {state_of(why)} ({why}): nothing sent",
            hint={
                "unreachable": "start the Redis server or fix [state] backend",
                "refused the login": "fix the user or password of [state] backend",
                "refused access": "give the Redis user of [state] backend the commands it "
                "needs (ACL), or use another user",
            }[state_of(why)]
            + " (the password: in the URL or UPLOADER_REDIS_PASSWORD); or set [state] "
            'on_backend_error = "fallback" to go on with a share of the local budget',
        )

    def _copy(self, key: str, *, force: bool = False) -> None:
        seen = self.primary.last.get(key)
        if seen is None:
            return
        at = self._monotonic()
        if not force and at - self._copied.get(key, -COPY_EVERY) < COPY_EVERY:
            self._dirty.add(key)
            return
        self._copied[key] = at
        self._dirty.discard(key)
        # Kept on this host's clock, the one the local store runs on once Redis is gone.
        cleaned = clean_state(shifted(seen[0], -self.primary.offset))

        def save(copy: dict[str, Any], _now: float) -> None:
            copy["buckets"] = cleaned["buckets"] if cleaned else {}
            copy["reservations"] = []

        self.local.update(key + FLEET, save, time.time)

    def _cap(self, key: str, now: float) -> None:
        with self._lock:
            if key in self._capped:
                return
            self._capped.add(key)
        seen = self.primary.last.get(key)  # on Redis' clock; the local copy on this host's
        fleet = (
            shifted(seen[0], -self.primary.offset)
            if seen is not None
            else self.local.read(key + FLEET)
        )
        if fleet["buckets"]:
            self.local.update(key, lambda state, _now: cap(state, fleet, now), time.time)
