"""What every command needs from the outside world, and the profile's wiring.

:class:`Runtime` gathers everything that comes from outside (environment, standard input,
clock, sleep, messages, the HTTP transport) so that tests inject it. :func:`wire` gives a
profile its credential and its shared rate limiter (the one place a state store is chosen);
:func:`open_provider` adds the one HTTP client and the ETag cache: every command that
talks to a provider starts there.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, NamedTuple
from urllib.parse import urlsplit

from uploader.config import paths
from uploader.config.options import url_options
from uploader.config.settings import Config, Defaults, Profile
from uploader.http.cache import EtagCache
from uploader.http.client import LowSpeed, Timeouts, build_client
from uploader.http.retry import RetryPolicy
from uploader.providers import provider_class
from uploader.providers.base import ProviderContext
from uploader.ratelimit.limiter import LimitPolicy, RateLimiter, state_key
from uploader.ratelimit.store import FileStateStore

if TYPE_CHECKING:
    from uploader.config.statebackend import RedisTarget
    from uploader.ratelimit.redis_store import RedisStateStore
    from uploader.ratelimit.store import StateStore

log = logging.getLogger("uploader.ratelimit.limiter")

if TYPE_CHECKING:
    import httpx

    from uploader.auth.credentials import Credential
    from uploader.providers.base import Provider


@dataclass(frozen=True, eq=False, repr=False)  # lean: startup matters
class Runtime:
    """Everything from the outside world, injectable for tests."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    stdin: BinaryIO = field(default_factory=lambda: sys.stdin.buffer)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    notify: Callable[[str], None] = lambda _message: None
    debug: Callable[[str], None] = lambda _message: None
    use_cache: bool = True
    transport: httpx.BaseTransport | None = None


def limit_policy(on_limit: str, max_wait: float) -> LimitPolicy:
    """The limiter's policy from ``--on-limit`` and ``--max-wait`` (resolved by the CLI:
    flag, environment, config file): the one place it is built from them."""
    return LimitPolicy(on_limit="fail" if on_limit == "fail" else "wait", max_wait=max_wait)


def retry_policy(defaults: Defaults, *, retry_ambiguous: bool | None = None) -> RetryPolicy:
    """The retry policy of ``[defaults]``: each backoff at most 10 s; ``retry_ambiguous``
    (the flag) wins over the config's.

    ``--max-wait`` is not part of it: it bounds waits for a rate-limit bucket, not the
    backoff between attempts (``--max-wait 0`` made every backoff 0 s: three instant
    re-sends of a whole file after a 5xx). ``retry_max_time`` bounds the retries."""
    return RetryPolicy(
        attempts=defaults.retries,
        max_time=defaults.retry_max_time,
        cap=10.0,
        retry_ambiguous=defaults.retry_ambiguous if retry_ambiguous is None else retry_ambiguous,
    )


class Wiring(NamedTuple):
    """A profile with its provider class, credential and shared rate limiter."""

    profile: Profile
    cls: type[Provider]
    credential: Credential
    limiter: RateLimiter


def wire(
    config: Config, name: str | None, runtime: Runtime, *, policy: LimitPolicy | None = None
) -> Wiring:
    """The one path from a profile name to its credential and limiter (keyed by kind, base
    URL and credential, so every process of the same account shares one budget)."""
    profile = config.profile(name)
    cls = provider_class(profile.kind)
    credential = cls.resolve_credential(profile, runtime.env)
    warn = _first_only(runtime.notify)  # bad state: one warning line, whoever finds it
    limiter = RateLimiter(
        state_store(config, runtime, warn),
        state_key(profile.kind, profile.base_url, credential.identity),
        cls.bucket_specs(profile),
        policy or LimitPolicy(),
        provider_label=f"{cls.display_name} ({profile.name})",
        clock=runtime.clock,
        sleep=runtime.sleep,
        notify=once_per_wait(runtime.notify, runtime.clock),
        warn=warn,
    )
    return Wiring(profile, cls, credential, limiter)


def state_store(config: Config, runtime: Runtime, warn: Callable[[str], None]) -> StateStore:
    """The store of ``[state] backend``: the local files, or Redis with the local files
    behind it (ratelimit/failover.py), tried once here so that a run that must not go on
    without Redis stops before sending anything."""
    local = FileStateStore(paths.state_dir(runtime.env) / "ratelimit", notify=warn)
    target = config.state.redis()
    if target is None:
        return local
    # One per backend and directory in a process: `limits` wires every profile, and a
    # Redis that is down is reported once, not once per profile.
    cache_key = (config.state.backend, config.state.on_backend_error, str(local.directory))
    if cache_key in _REDIS_STORES:
        return _REDIS_STORES[cache_key]
    # Only with this backend: the Redis client costs the hotkey path nothing otherwise.
    from uploader.ratelimit.failover import FailoverStore

    primary = open_redis(target, runtime, warn)
    store = FailoverStore(
        primary, local, on_error=config.state.on_backend_error, notify=runtime.notify
    )
    store.probe()
    _REDIS_STORES[cache_key] = store
    return store


_REDIS_STORES: dict[tuple[str, str, str], StateStore] = {}


def open_redis(
    target: RedisTarget, runtime: Runtime, notify: Callable[[str], None]
) -> RedisStateStore:
    """The Redis store at ``target``: the password from the URL, else (none, or an empty
    one) ``UPLOADER_REDIS_PASSWORD``; for ``rediss://`` the CAs the HTTP client trusts."""
    from uploader.ratelimit.redis_store import RedisStateStore

    password = target.password or runtime.env.get("UPLOADER_REDIS_PASSWORD") or None
    ca_file, ca_path = runtime.env.get("SSL_CERT_FILE"), runtime.env.get("SSL_CERT_DIR")
    if target.tls and not ca_file and not ca_path:
        import certifi  # the HTTP client's CA bundle (httpx's), so both trust the same CAs

        ca_file = certifi.where()
    return RedisStateStore(
        target.url,
        password=password,
        username=target.username,
        notify=notify,
        shown=target.shown,
        ca_file=ca_file or None,
        ca_path=ca_path or None,
    )


def describe_store(store: object) -> str:
    """Where a limiter's figures are kept, as ``uploader limits`` names it: the Redis URL
    (no password; the fleet's figures), or the local directory."""
    shown = getattr(store, "shown", None)
    local = getattr(store, "local", store)
    directory = str(getattr(local, "directory", "memory"))
    if shown is None:
        return f"{directory} (local file store)"
    failed = getattr(store, "failed", None)
    if failed:
        from uploader.ratelimit.failover import state_of

        return f"{directory} (local file store: {shown} {state_of(failed)}, a share of its budget)"
    return f"{shown} (Redis: the fleet's figures)"


def once_per_wait(
    notify: Callable[[str], None], clock: Callable[[], float]
) -> Callable[[str], None]:
    """``notify`` for the limiter: a wait ("waiting 41 s for Imgur POST bucket (per IP) to
    reset", "pacing: waiting 30 s ...") that the same words told while it lasts already
    cover is not told again. With ``-j N`` the workers wait for the same reset side by
    side: one line, as one file at a time would print, not N."""
    lock = threading.Lock()
    until: dict[str, float] = {}  # a wait's words, digits left out -> when it ends

    def told(message: str) -> None:
        words = message.removeprefix("pacing: ")
        number, _, rest = words.removeprefix("waiting ").partition(" s ")
        if not words.startswith("waiting ") or not number.isdigit():
            notify(message)
            return
        key = f"{message[: len(message) - len(words)]}{rest}"
        now = clock()
        with lock:
            if now + int(number) <= until.get(key, -1.0) + 1:
                return
            until[key] = now + int(number)
        notify(message)

    return told


def _first_only(notify: Callable[[str], None]) -> Callable[[str], None]:
    """``notify`` for the first message only (the rest go to the debug log)."""
    said: list[str] = []

    def once(message: str) -> None:
        if said:
            log.debug("%s", message)
            return
        said.append(message)
        notify(message)

    return once


def open_provider(
    config: Config, name: str | None, runtime: Runtime, *, policy: LimitPolicy
) -> tuple[Profile, Provider, httpx.Client]:
    """The profile, its provider (with credential and limiter) and the shared client."""
    profile, cls, credential, limiter = wire(config, name, runtime, policy=policy)
    defaults = config.defaults
    timeouts = Timeouts(
        defaults.connect_timeout,
        defaults.read_timeout,
        defaults.write_timeout,
        defaults.pool_timeout,
    )
    urls = [profile.base_url] + [
        str(profile.option(key)) for key in url_options(profile.kind) if profile.option(key)
    ]
    tls = any(urlsplit(url).scheme == "https" for url in urls)
    http = build_client(timeouts, transport=runtime.transport, tls=tls)
    cache = EtagCache(paths.cache_dir(runtime.env) / "etags", enabled=runtime.use_cache)
    context = ProviderContext(
        profile,
        credential,
        http,
        limiter,
        clock=runtime.clock,
        sleep=runtime.sleep,
        cache=cache,
        env=runtime.env,
        low_speed=LowSpeed(defaults.low_speed_limit, defaults.low_speed_time),
    )
    provider = cls(context)
    if any(spec.reserve for spec in limiter.specs.values()):
        # Cold start: a bucket with a reserve is read live (free) before it is spent on
        # defaults, once, under the state lock (see RateLimiter.refresh).
        limiter.refresh = provider.live_limits
    return profile, provider, http
