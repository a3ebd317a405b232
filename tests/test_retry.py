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
from uploader.http.retry import (
    RetryEvent,
    RetryPolicy,
    backoff,
    call_with_retries,
    gives_up,
    wait_before_retry,
)


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


# -- the three rules, one by one -------------------------------------------------------------


def test_gives_up_when_the_attempts_are_used_up() -> None:
    policy = RetryPolicy(attempts=3, max_time=100.0)
    assert not gives_up(1, 0.0, 1.0, policy)
    assert not gives_up(2, 0.0, 1.0, policy)
    assert gives_up(3, 0.0, 1.0, policy)


def test_the_time_budget_counts_the_upcoming_wait_and_allows_ending_exactly_on_it() -> None:
    policy = RetryPolicy(attempts=10, max_time=10.0)
    assert not gives_up(1, 4.0, 6.0, policy)  # ends exactly at the budget: allowed
    assert gives_up(1, 4.0, 6.5, policy)  # the wait itself would overrun
    assert gives_up(1, 10.5, 0.0, policy)  # already over, even without a wait


def test_a_retry_whose_wait_ends_exactly_at_the_budget_is_made() -> None:
    fake, calls, _, outcome = _run(
        [ServerError("a", status=503, retry_after=10.0), None],
        RetryPolicy(attempts=3, max_time=10.0, cap=1.0),
    )
    assert outcome == "ok"
    assert len(calls) == 2
    assert fake.sleeps == [10.0]


def test_wait_rule_zero_after_a_rate_limit_refusal_even_with_a_hint() -> None:
    refusal = RateLimitError("429", from_server=True, retry_after=30.0)
    assert wait_before_retry(refusal, 3, RetryPolicy(), random.Random(1)) == 0.0


def test_wait_rule_a_hint_lengthens_but_never_shortens_the_backoff() -> None:
    policy = RetryPolicy(base=2.0, cap=10.0)
    computed = backoff(2, policy, random.Random(5))  # between 2 and 4
    short = ServerError("503", status=503, retry_after=1.0)
    assert wait_before_retry(short, 2, policy, random.Random(5)) == computed
    long = ServerError("503", status=503, retry_after=7)  # an int hint counts too
    assert wait_before_retry(long, 2, policy, random.Random(5)) == 7.0
    plain = NetworkError("refused", sent=False)  # no hint at all
    assert wait_before_retry(plain, 2, policy, random.Random(5)) == computed


def test_each_retry_is_announced_before_its_wait() -> None:
    steps: list[str] = []
    faults = iter([ServerError("first", status=500), ServerError("second", status=502), None])

    def operation() -> str:
        steps.append("attempt")
        fault = next(faults)
        if fault is not None:
            raise fault
        return "ok"

    assert (
        call_with_retries(
            operation,
            RetryPolicy(attempts=3, base=0.5),
            sleep=lambda seconds: steps.append(f"sleep {seconds:.3f}"),
            clock=lambda: 0.0,
            rng=random.Random(2),
            on_retry=lambda event: steps.append(f"retry {event.attempt} {event.wait:.3f}"),
        )
        == "ok"
    )
    first, second = _equal_jitter(2, 0.5, 1.0)
    assert steps == [
        "attempt",
        f"retry 1 {first:.3f}",
        f"sleep {first:.3f}",
        "attempt",
        f"retry 2 {second:.3f}",
        f"sleep {second:.3f}",
        "attempt",
    ]


def test_a_single_attempt_policy_never_waits() -> None:
    fault = ServerError("boom", status=500)
    fake, calls, events, outcome = _run([fault, None], RetryPolicy(attempts=1))
    assert outcome is fault
    assert calls == [1]
    assert fake.sleeps == []
    assert events == []
