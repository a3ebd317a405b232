"""The retry policy with injected sleep and clock: exact waits for given fault sequences."""

from __future__ import annotations

import random

import pytest

from tests.support.clock import FakeTime
from uploader.errors import (
    AmbiguousUploadError,
    AuthError,
    InputFileError,
    NetworkError,
    ProviderError,
    RateLimitError,
    ServerError,
    TlsError,
    UploaderError,
)
from uploader.http.retry import RetryEvent, RetryPolicy, backoff, call_with_retries


def _run(
    faults: list[UploaderError | None], policy: RetryPolicy, seed: int = 1
) -> tuple[FakeTime, list[int], list[RetryEvent], object]:
    fake = FakeTime()
    calls: list[int] = []
    events: list[RetryEvent] = []
    sequence = iter(faults)

    def operation() -> str:
        calls.append(1)
        fault = next(sequence)
        if fault is not None:
            raise fault
        return "ok"

    outcome: object
    try:
        outcome = call_with_retries(
            operation,
            policy,
            sleep=fake.sleep,
            clock=fake.clock,
            rng=random.Random(seed),
            on_retry=events.append,
        )
    except UploaderError as exc:
        outcome = exc
    return fake, calls, events, outcome


def test_backoff_is_equal_jitter_exponential_capped() -> None:
    policy = RetryPolicy(base=0.5, cap=3.0)
    rng = random.Random(7)
    expected_rng = random.Random(7)
    for attempt in range(1, 7):
        ceiling = min(3.0, 0.5 * 2 ** (attempt - 1))
        wait = backoff(attempt, policy, rng)
        assert wait == ceiling / 2 + expected_rng.uniform(0.0, ceiling / 2)
        assert ceiling / 2 <= wait <= ceiling  # never near 0: no instant re-send


def _equal_jitter(seed: int, *ceilings: float) -> list[float]:
    rng = random.Random(seed)
    return [c / 2 + rng.uniform(0, c / 2) for c in ceilings]


def test_exact_waits_for_a_5xx_sequence() -> None:
    policy = RetryPolicy(attempts=4, base=0.5, cap=10.0)
    fake, calls, events, outcome = _run(
        [
            ServerError("boom", status=500),
            NetworkError("refused", sent=False),
            ServerError("bad gw", status=502),
            None,
        ],
        policy,
        seed=3,
    )
    assert outcome == "ok"
    assert len(calls) == 4
    assert fake.sleeps == _equal_jitter(3, 0.5, 1.0, 2.0)
    assert [e.attempt for e in events] == [1, 2, 3]
    assert events[0].reason == "boom"


@pytest.mark.parametrize("seed", range(20))
def test_retry_after_zero_never_shortens_the_backoff(seed: int) -> None:
    # Imgur's Varnish 503 says "Retry-After: 0" (reference 1.2 #5): the file must not be
    # re-sent at once, again and again.
    policy = RetryPolicy(attempts=4, base=0.5, cap=10.0, max_time=30.0)
    fake, calls, _, outcome = _run(
        [ServerError("503", status=503, retry_after=0.0)] * 4, policy, seed=seed
    )
    assert isinstance(outcome, ServerError)
    assert len(calls) == 4
    assert fake.sleeps == _equal_jitter(seed, 0.5, 1.0, 2.0)
    assert all(wait > 0 for wait in fake.sleeps)
    assert fake.sleeps == sorted(fake.sleeps)  # growing
    assert fake.sleeps[0] >= 0.25


def test_a_longer_hint_lengthens_the_backoff() -> None:
    policy = RetryPolicy(attempts=3, cap=5.0, max_time=100.0)
    fake, _, _, outcome = _run(
        [
            ServerError("a", status=503, retry_after=4.0),
            ServerError("b", status=503, retry_after=60.0),
            None,
        ],
        policy,
    )
    assert outcome == "ok"
    assert fake.sleeps == [4.0, 60.0]  # honoured, beyond the backoff cap


def test_a_hint_beyond_the_time_budget_ends_the_retries() -> None:
    fake, calls, _, outcome = _run(
        [ServerError("a", status=503, retry_after=60.0), None], RetryPolicy(max_time=30.0)
    )
    assert isinstance(outcome, ServerError)
    assert len(calls) == 1
    assert fake.sleeps == []


def test_gives_up_after_attempts_and_reraises_last_error() -> None:
    last = ServerError("third", status=500)
    fake, calls, _, outcome = _run(
        [ServerError("first", status=500), ServerError("second", status=500), last],
        RetryPolicy(attempts=3),
    )
    assert outcome is last
    assert len(calls) == 3
    assert len(fake.sleeps) == 2


def test_total_time_cap_stops_before_a_wait_that_would_overrun() -> None:
    fake, calls, _, outcome = _run(
        [
            ServerError("a", status=503, retry_after=8.0),
            ServerError("b", status=503, retry_after=8.0),
            None,
        ],
        RetryPolicy(attempts=5, max_time=10.0, cap=10.0),
    )
    assert isinstance(outcome, ServerError)
    assert outcome.message == "b"
    assert fake.sleeps == [8.0]
    assert len(calls) == 2


@pytest.mark.parametrize(
    "fault",
    [
        ProviderError("400 bad", status=400),
        AuthError("401"),
        InputFileError("empty"),
        NetworkError("reset after send", sent=True),
        AmbiguousUploadError("lost answer"),
        RateLimitError("limiter says no", from_server=False),
        TlsError("TLS handshake with 127.0.0.1:443 failed: wrong version number"),
    ],
)
def test_non_retryable_are_tried_exactly_once(fault: UploaderError) -> None:
    fake, calls, _, outcome = _run([fault, None], RetryPolicy(attempts=5))
    assert outcome is fault
    assert calls == [1]
    assert fake.sleeps == []


def test_server_429_is_retried_without_extra_wait() -> None:
    fake, calls, _, outcome = _run(
        [RateLimitError("429", from_server=True, retry_after=30.0), None], RetryPolicy()
    )
    assert outcome == "ok"
    assert len(calls) == 2
    assert fake.sleeps == [0.0]  # the limiter's reservation does the waiting


def test_ambiguous_retried_only_when_allowed() -> None:
    fault = AmbiguousUploadError("lost")
    _, calls, _, outcome = _run([fault, None], RetryPolicy(retry_ambiguous=True))
    assert outcome == "ok"
    assert len(calls) == 2
