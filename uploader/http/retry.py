"""The one retry policy (tenacity), around each whole operation.

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
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from uploader.errors import (
    AmbiguousUploadError,
    NetworkError,
    RateLimitError,
    ServerError,
    TlsError,
)

if TYPE_CHECKING:
    from tenacity import RetryCallState

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
    the lower bound doubling keeps successive waits from shrinking.
    """
    ceiling: float = min(policy.cap, policy.base * 2.0 ** (attempt - 1))
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


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

    The last error is re-raised unchanged when the policy gives up.
    """
    started = clock()
    try:
        return operation()
    except Exception as exc:
        if not is_retryable(exc, policy) or policy.attempts <= 1:
            raise
        first_failure: list[Exception] = [exc]
    # Only a failed first attempt pays for importing tenacity (the hotkey path stays fast).
    # Tenacity's attempt 1 replays that failure, so attempt numbers, waits and the stop
    # rule are exactly as if tenacity had run the first attempt itself.
    from tenacity import Retrying

    def replay() -> T:
        if first_failure:
            raise first_failure.pop()
        return operation()

    jitter = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitError):
            return 0.0  # the limiter's next reservation does the waiting
        computed = backoff(state.attempt_number, policy, jitter)
        hinted = getattr(exc, "retry_after", None)
        if isinstance(hinted, int | float) and float(hinted) > computed:
            return float(hinted)  # the stop rule ends the retries if it is too long
        return computed

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        return clock() - started + state.upcoming_sleep > policy.max_time

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        on_retry(RetryEvent(state.attempt_number, str(exc), state.upcoming_sleep))

    retrying = Retrying(
        retry=lambda state: bool(
            state.outcome
            and state.outcome.failed
            and is_retryable(state.outcome.exception(), policy)  # type: ignore[arg-type]
        ),
        wait=wait,
        stop=stop,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(replay)
