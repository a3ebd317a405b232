"""The rate-limit state in Redis (issue 14): one budget for a fleet of hosts.

A :class:`~uploader.ratelimit.store.StateStore` whose every update is optimistic and atomic:

1. the ``LOAD`` script returns the key's JSON state, its version and the server's ``TIME``
   (so every host of the fleet reads one clock: skew between hosts does not matter);
2. the limiter's step runs in Python on that state, with that time (the rules live once,
   in :mod:`uploader.ratelimit.limiter`, for both backends);
3. the ``COMMIT`` script writes the new JSON only when the version is still the one loaded
   (then bumps it and sets the key's TTL), else the step is run again on the new state,
   a bounded number of times with a short jittered backoff.

No lock is ever held between round trips, so a crashed or stalled host blocks nobody; its
reservations are leases that expire (Redis time). Keys are ``uploader:v1:state:<key>``
(``key`` is a hash of kind, base URL and credential identity: no secret), a hash with the
fields ``data`` and ``ver``, expiring a while after the latest reset, pause or lease it
holds. Scripts are registered once and run with EVALSHA (NOSCRIPT: loaded again).
Anything else found at a key (bad JSON, an unknown shape, another Redis type, a version
that is no counter) is discarded with one warning and replaced by the next commit.

This is the only module that imports the ``redis`` client: the file backend never loads it.
Every failure of the server (refused, timeout, TLS, authentication, a commit that keeps
losing) is a :class:`BackendError`; :mod:`uploader.ratelimit.failover` decides what a run
does then.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis import exceptions as rexc

from uploader.ratelimit.stateshape import LARGEST_STATE, clean_state, empty_state

log = logging.getLogger("uploader.ratelimit.limiter")

_T = TypeVar("_T")

PREFIX = "uploader:v1:state:"
CONNECT_TIMEOUT = 1.0  # seconds: an unreachable server must not stall a hotkey for long
SOCKET_TIMEOUT = 2.0
MAX_TRIES = 64  # commits lost to other hosts before giving up (then: BackendError)
BACKOFF = 0.002  # seconds, doubled per lost commit up to BACKOFF_CAP, jittered
BACKOFF_CAP = 0.05
# A state stays this long past the latest time it mentions (a reset, a pause, a lease):
# figures about a window that ended are worth little, and an unused budget costs no memory.
KEEP = 3600.0
# The longest a key is kept (a time far ahead in a damaged state must not make the key
# immortal, nor overflow PEXPIRE): a month and a bit, more than any bucket's window.
LONGEST_KEEP = 40 * 86400.0

# Anything else at our key (another type, a version that is no counter: garbage) is
# discarded with a warning, never a reason to give Redis up: LOAD reports it as the version
# "type:KIND" or the odd version as it is, and COMMIT replaces it when that still holds.

# KEYS[1]: the state's hash. Returns {data or "", version, seconds, microseconds}.
LOAD = """
local t = redis.call('TIME')
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'hash' and kind ~= 'none' then return {'', 'type:' .. kind, t[1], t[2]} end
local v = redis.call('HMGET', KEYS[1], 'data', 'ver')
return {v[1] or '', v[2] or '0', t[1], t[2]}
"""

# KEYS[1]: the hash; ARGV: the version loaded, the new JSON, the TTL in ms.
# Returns 1 when written, 0 when another host wrote first. Every check comes before the
# first write (a script that fails half-way keeps what it wrote).
COMMIT = """
local kind = redis.call('TYPE', KEYS[1])['ok']
local ver = '0'
if kind == 'hash' then
  ver = redis.call('HGET', KEYS[1], 'ver') or '0'
elseif kind ~= 'none' then
  ver = 'type:' .. kind
end
if ver ~= ARGV[1] then return 0 end
local n = tonumber(ver)
if n == nil or n < 0 or n >= 2^52 or n ~= math.floor(n) then n = 0 end
if kind ~= 'hash' then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'ver', string.format('%d', n + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


class BackendError(Exception):
    """Redis cannot be used; ``str()`` says why in a few words (never the password)."""


def ttl_ms(state: dict[str, Any], now: float) -> int:
    """How long the key lives: KEEP past the latest time the state mentions."""
    latest = now
    for bucket in state["buckets"].values():
        for name in ("reset_at", "blocked_until", "next_at"):
            value = bucket.get(name)
            if isinstance(value, int | float) and value > latest:
                latest = float(value)
    for item in state["reservations"]:
        latest = max(latest, float(item["expires"]))
    return int(min(latest - now + KEEP, LONGEST_KEEP) * 1000)


def why(exc: BaseException, password: str | None) -> str:
    """A few words on a client failure, with the password (if any) scrubbed."""
    kinds = (
        (rexc.AuthenticationError, "authentication failed"),
        (rexc.AuthorizationError, "not authorised"),
        (rexc.NoPermissionError, "not authorised"),  # an ACL user without our commands
        (rexc.TimeoutError, "timed out"),
    )
    text = next((words for cls, words in kinds if isinstance(exc, cls)), "")
    detail = " ".join(str(exc).split())[:160] or type(exc).__name__
    if "ssl" in detail.lower() or "certificate" in detail.lower():
        text = "TLS failed"
    text = f"{text}: {detail}" if text else detail
    return text.replace(password, "***") if password else text


class RedisStateStore:
    """The state of each key in one Redis database (see the module docstring)."""

    exclusive = False  # a step may run again when another host changed the state

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        username: str | None = None,
        notify: Callable[[str], None] = lambda _m: None,
        shown: str = "redis",
        sleep: Callable[[float], None] = time.sleep,
        ca_file: str | None = None,
        ca_path: str | None = None,
    ) -> None:
        self.shown = shown
        self.notify = notify
        self._password = password
        self._sleep = sleep
        self._warned: set[str] = set()
        self.last: dict[str, tuple[dict[str, Any], float]] = {}  # key -> state, Redis time
        self.conflicts = 0  # commits lost to another writer (for benchmarks and tests)
        self.offset = 0.0  # Redis' clock minus the host's, measured at the last load
        # rediss://: the certificate and host name are always checked (redis-py's default,
        # "required"), against the CA certificates the HTTP client trusts (see runtime.py).
        tls: dict[str, Any] = {}
        self._tls = url.startswith("rediss://")
        if self._tls:
            tls = {"ssl_cert_reqs": "required", "ssl_ca_certs": ca_file, "ssl_ca_path": ca_path}
        self._client = redis.Redis.from_url(
            url,
            **tls,
            username=username,
            password=password,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=SOCKET_TIMEOUT,
            retry=None,
            decode_responses=False,
        )
        self._load = self._client.register_script(LOAD)
        self._commit = self._client.register_script(COMMIT)

    def probe(self) -> None:
        """One round trip (PING): BackendError when the server cannot be used."""
        self._call(self._client.ping)

    def close(self) -> None:
        self._client.close()

    def update(
        self, key: str, fn: Callable[[dict[str, Any], float], _T], clock: Callable[[], float]
    ) -> _T:
        """``fn(state, now)`` atomically, ``now`` from Redis ``TIME`` (``clock`` unused)."""
        name = PREFIX + key
        for attempt in range(MAX_TRIES):
            state, text, version, now = self._fetch(key, name)
            self.offset = now - clock()  # Redis time minus this host's, as of this answer
            result = fn(state, now)
            after = json.dumps(state, sort_keys=True)
            if after == text:
                self.last[key] = (state, now)
                return result  # nothing changed: nothing to write
            written = self._call(
                self._commit, keys=[name], args=[version, after, ttl_ms(state, now)]
            )
            if written == 1:
                self.last[key] = (state, now)
                return result
            self.conflicts += 1
            delay = min(BACKOFF_CAP, BACKOFF * 2 ** min(attempt, 10))
            self._sleep(random.uniform(0, delay))  # noqa: S311 - jitter, not a secret
        raise BackendError(f"{MAX_TRIES} commits in a row lost to other hosts")

    def read(self, key: str) -> dict[str, Any]:
        """A snapshot of ``key``'s state (display only)."""
        return self._fetch(key, PREFIX + key)[0]

    def read_timed(self, key: str) -> tuple[dict[str, Any], float]:
        """A snapshot and the server's time of it."""
        state, _, _, now = self._fetch(key, PREFIX + key)
        return state, now

    def keys(self) -> list[str]:
        """The state keys in this database (``state migrate``, tests)."""
        found = self._call(lambda: list(self._client.scan_iter(match=PREFIX + "*", count=500)))
        return sorted(k.decode("utf-8", "replace")[len(PREFIX) :] for k in found)

    def _fetch(self, key: str, name: str) -> tuple[dict[str, Any], str, bytes, float]:
        """(state, its canonical JSON, version, Redis time) of ``key``."""
        reply = self._call(self._load, keys=[name])
        try:
            raw, version, sec, usec = reply
            now = int(sec) + int(usec) / 1e6
        except (TypeError, ValueError) as exc:
            raise BackendError(f"unexpected answer to the load script ({exc})") from None
        state = None
        version = bytes(version)
        # Not ours as it stands (another type at the key, a version that is no counter):
        # the next commit replaces it, whatever the step does.
        damaged = version.startswith(b"type:") or not version.isdigit()
        if version.startswith(b"type:"):
            kind = version[5:].decode("ascii", "replace")
            self._warn(
                key, f"rate-limit state {self.shown} {name}: a Redis {kind}, not a state: discarded"
            )
        elif damaged:
            self._warn(key, f"rate-limit state {self.shown} {name}: a bad version: replaced")
        if raw:
            try:
                if len(raw) > LARGEST_STATE:
                    raise ValueError("too large")
                dropped: list[str] = []
                state = clean_state(json.loads(raw), dropped)
                why_bad = "an unknown shape"
            except (ValueError, RecursionError):
                why_bad = "not JSON"
            if state is None:
                self._warn(key, f"rate-limit state {self.shown} {name}: {why_bad}: discarded")
            elif dropped:
                shown = ", ".join(dict.fromkeys(dropped))
                self._warn(
                    key,
                    f"rate-limit state {self.shown} {name}: discarded malformed entries ({shown})",
                )
                damaged = True  # written again without them
        if state is None:
            state = empty_state()
            damaged = damaged or bool(raw)
        text = "" if damaged else json.dumps(state, sort_keys=True)
        return state, text, version, now

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (rexc.RedisError, OSError, ValueError) as exc:
            text = why(exc, self._password)
            plain = text.startswith("TLS") and "certificate" not in text.lower()
            if self._tls and (isinstance(exc, rexc.TimeoutError) or plain):
                # A server without TLS never completes the handshake: it times out, or
                # answers in plain text ("wrong version number").
                text += "; no TLS handshake: a server without TLS is redis://, not rediss://"
            log.debug("redis %s: %s", self.shown, text)
            raise BackendError(text) from None

    def _warn(self, key: str, message: str) -> None:
        log.debug("%s", message)
        if key not in self._warned:
            self._warned.add(key)
            self.notify(f"warning: {message}")
