"""The one retry policy, around each whole operation.

Retried, with exponential backoff ("equal jitter"), capped per wait and in total:
  * network failures where nothing reached the server (connection refused, DNS, timeouts),
    but not a failed TLS handshake or certificate check: trying again cannot fix those;
  * 5xx answers (:class:`ServerError`);
  * a rate-limit refusal the server sent (:class:`RateLimitError` with ``from_server``),
    whatever its HTTP status: the session has recorded it with the limiter, so the next
    attempt's reservation waits for the reset (or refuses, which is final) and the policy
    itself adds no wait;
  * an ambiguous upload (body sent, answer lost) only when the caller allows it.
A wait hint (``Retry-After``, carried as ``retry_after``) can lengthen a backoff but never
shorten it: Imgur's Varnish 503 pages say ``Retry-After: 0`` (reference 1.2 #5), and
obeying that would re-send a whole file at once, again and again. Waits the caps do not
allow end the retries. Everything else (other 4xx, authentication, bad input, the limiter
refusing) is final and tried exactly once.

Three rules make the policy, each a small function: :func:`is_retryable` (which failures),
:func:`wait_before_retry` (how long) and :func:`gives_up` (attempts and the time budget,
the upcoming wait included). :func:`call_with_retries` is the bounded loop that applies
them. It is a plain loop, not tenacity: ``import tenacity`` costs about 60 ms (it loads
asyncio), more than the whole rest of a hotkey upload's imports may spend, and a lazy
import would need the first attempt outside ``Retrying`` with its wait, stop and
before-sleep steps done a second time by hand (or its failure replayed into tenacity).
Twenty lines of loop state the rules exactly and are tested rule by rule.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from uploader.errors import (
    AmbiguousUploadError,
    NetworkError,
    RateLimitError,
    ServerError,
    TlsError,
)

T = TypeVar("T")


@dataclass(frozen=True, eq=False, repr=False)  # lean: startup matters
class RetryPolicy:
    """How hard to try. Defaults suit a hotkey: give up within about 30 s."""

    attempts: int = 4
    max_time: float = 30.0
    base: float = 0.5
    cap: float = 10.0
    retry_ambiguous: bool = False


class RetryEvent(NamedTuple):
    """One failed attempt that will be retried: for ``-v`` output."""

    attempt: int
    reason: str
    wait: float


def is_retryable(exc: BaseException, policy: RetryPolicy) -> bool:
    if isinstance(exc, RateLimitError):
        return exc.from_server
    if isinstance(exc, ServerError):
        return True
    if isinstance(exc, AmbiguousUploadError):
        return policy.retry_ambiguous
    if isinstance(exc, TlsError):
        return False  # a wrong scheme or certificate stays wrong
    if isinstance(exc, NetworkError):
        return not exc.sent
    return False


def backoff(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Equal jitter: half of min(cap, base * 2**(attempt-1)), plus up to as much again.

    Not "full jitter" (uniform from 0): a wait near 0 re-sends the whole file at once, and
    the lower bound doubling keeps successive waits from shrinking. The floor is half of
    ``base``: a cap below ``base`` (0, say) cannot make the backoff vanish.
    """
    ceiling: float = max(policy.base, min(policy.cap, policy.base * 2.0 ** (attempt - 1)))
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


def wait_before_retry(
    exc: BaseException, attempt: int, policy: RetryPolicy, rng: random.Random
) -> float:
    """The wait after failed attempt number ``attempt`` (from 1).

    0 after a rate-limit refusal (the limiter's next reservation does the waiting);
    otherwise the :func:`backoff`, which a longer ``retry_after`` hint replaces (a hint
    never shortens it; :func:`gives_up` ends the retries if it is too long).
    """
    if isinstance(exc, RateLimitError):
        return 0.0
    computed = backoff(attempt, policy, rng)
    hinted = getattr(exc, "retry_after", None)
    if isinstance(hinted, int | float) and float(hinted) > computed:
        return float(hinted)
    return computed


def gives_up(attempt: int, elapsed: float, wait: float, policy: RetryPolicy) -> bool:
    """Whether to stop after failed attempt number ``attempt``: the attempts are used up,
    or waiting ``wait`` more would end beyond ``max_time`` from the start."""
    return attempt >= policy.attempts or elapsed + wait > policy.max_time


def call_with_retries(
    operation: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    on_retry: Callable[[RetryEvent], None] = lambda _e: None,
) -> T:
    """Run ``operation`` until it succeeds, fails for good, or the caps are reached.

    ``on_retry`` hears of each failed attempt that will be retried, before the wait. The
    last error is re-raised unchanged when the policy gives up.
    """
    started = clock()
    jitter = rng or random.Random()  # noqa: S311 - jitter, not cryptography
    attempt = 1
    while True:  # bounded: gives_up() is true once attempt reaches policy.attempts
        try:
            return operation()
        except Exception as exc:
            if not is_retryable(exc, policy):
                raise
            wait = wait_before_retry(exc, attempt, policy, jitter)
            if gives_up(attempt, clock() - started, wait, policy):
                raise
            on_retry(RetryEvent(attempt, str(exc), wait))
        sleep(wait)
        attempt += 1
