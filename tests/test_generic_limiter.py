"""A custom host's one budget: refusals read from its answers (generic_refusal), and the
limiter fed by generic_updates through the session, as the custom provider wires it.

The host is scripted per request with the fake clock's time, so its Date and reset headers
are what a real host would send at that moment; every wait is the FakeTime's record.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.limiter import make_limiter
from uploader.commands.limits import ProfileLimits, bucket_line, to_json
from uploader.errors import RateLimitError
from uploader.http.client import LowSpeed
from uploader.http.session import ApiSession
from uploader.ratelimit.generic import counted_with_reset, generic_refusal, generic_updates
from uploader.ratelimit.limiter import RESET_MARGIN, BucketSpec, RateLimiter
from uploader.timewords import clock, describe

NOW = 1_785_000_000.0  # 2026-07-25T17:20:00Z
# What the custom provider declares: no documented size, a day as the furthest reset.
REQUESTS = BucketSpec("requests", "Example host requests", None, 86400.0)
SKEW = 100  # the host's clock runs this far ahead
H = dict[str, str]
Answer = Callable[[float], httpx.Response]


pytestmark = pytest.mark.usefixtures("utc")  # local times read in UTC (conftest.py)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime(NOW, digits=6)


def _date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


class Host:
    """Answers in order (the last repeats), each built at the fake time it is asked."""

    def __init__(self, fake: FakeTime, answers: list[Answer]) -> None:
        self.fake = fake
        self.answers = answers
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.times.append(self.fake.now)
        answer = self.answers[min(len(self.times), len(self.answers)) - 1]
        return answer(self.fake.now)


def _session(host: Host, limiter: RateLimiter, fake: FakeTime) -> ApiSession:
    return ApiSession(
        httpx.Client(transport=httpx.MockTransport(host)),
        limiter,
        lambda r: counted_with_reset(generic_updates(r.headers, fake.now)),
        refusal=lambda r: generic_refusal(r.status_code, r.headers, r.text, fake.now),
        low_speed=LowSpeed(0, 0),
        clock=fake.clock,
    )


def _limiter(tmp_path: Path, fake: FakeTime, on_limit: str = "wait") -> RateLimiter:
    return make_limiter(tmp_path / "state", fake, REQUESTS, on_limit=on_limit)


def _ok(headers: Callable[[float], H]) -> Answer:
    return lambda now: httpx.Response(200, headers=headers(now), json={"url": "u"})


def _line(limiter: RateLimiter) -> str:
    (state,) = limiter.states()
    return bucket_line(state, limiter.clock())


# Each style announces limit 3, `left` left, and a reset at NOW + 30 (given as the style
# gives it: seconds from now, an epoch on the host's skewed clock, an ISO time).
STYLES: dict[str, Callable[[int, float], H]] = {
    "draft 08": lambda left, now: {
        "RateLimit-Policy": '"default";q=3;w=60',
        "RateLimit": f'"default";r={left};t={NOW + 30 - now:g}',
    },
    "draft 07": lambda left, now: {
        "RateLimit": f"limit=3, remaining={left}, reset={NOW + 30 - now:g}"
    },
    "older draft": lambda left, now: {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": str(left),
        "RateLimit-Reset": f"{NOW + 30 - now:g}",
    },
    "X-RateLimit epoch, skewed": lambda left, now: {
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": str(left),
        "X-RateLimit-Reset": str(int(NOW + 30 + SKEW)),
        "Date": _date(now + SKEW),
    },
    "X-RateLimit ISO": lambda left, now: {
        "x-ratelimit-limit": "3",
        "x-ratelimit-remaining": str(left),
        "x-ratelimit-reset": datetime.fromtimestamp(NOW + 30, UTC).isoformat(),
    },
}


@pytest.mark.parametrize("style", list(STYLES))
def test_a_learned_budget_waits_exactly_until_its_reset(
    style: str, tmp_path: Path, fake: FakeTime
) -> None:
    said = STYLES[style]
    host = Host(fake, [_ok(lambda now, n=n: said(n, now)) for n in (2, 1, 0, 2)])
    limiter = _limiter(tmp_path, fake)
    session = _session(host, limiter, fake)
    for _ in range(3):
        session.request("POST", "https://host.example/upload", costs={"requests": 1})
        fake.now += 1  # the user takes a second between files
    assert _line(limiter).startswith("Example host requests: 0/3 left; resets at 17:20:30 UTC")
    session.request("POST", "https://host.example/upload", costs={"requests": 1})
    assert fake.sleeps == [27 + RESET_MARGIN]  # from NOW + 3 to the reset at NOW + 30
    assert host.times == [NOW, NOW + 1, NOW + 2, NOW + 30 + RESET_MARGIN]


def test_an_unknown_budget_never_holds_a_send_back(tmp_path: Path, fake: FakeTime) -> None:
    host = Host(fake, [_ok(lambda _now: {})])
    limiter = _limiter(tmp_path, fake)
    session = _session(host, limiter, fake)
    for _ in range(50):
        session.request("POST", "https://host.example/upload", costs={"requests": 1}, pending=50)
    assert fake.sleeps == []
    assert host.times == [NOW] * 50
    (state,) = limiter.states()
    assert (state.limit, state.remaining, state.reset_at, state.source) == (
        None,
        None,
        None,
        "default",
    )
    assert (
        _line(limiter) == "Example host requests: no limit known yet (no answer has reported one)"
    )
    item = ProfileLimits("zip", "custom", "https://host.example", (state,))
    (row,) = to_json([item], now=NOW)
    assert (row["limit"], row["remaining"], row["source"]) == (None, None, "default")


def test_limits_shows_what_was_learned_and_forgets_only_what_was_guessed(
    tmp_path: Path, fake: FakeTime
) -> None:
    full = _limiter(tmp_path / "a", fake)
    count_only = _limiter(tmp_path / "b", fake)
    for limiter, headers in (
        (full, STYLES["draft 08"](2, NOW)),
        (count_only, {"RateLimit": '"default";r=2;t=30'}),
    ):
        _session(Host(fake, [_ok(lambda _now, h=headers: h)]), limiter, fake).request(
            "POST", "https://host.example/upload", costs={"requests": 1}
        )
    resets = describe(NOW + 30, NOW)
    seen = clock(NOW, NOW)
    assert _line(full) == f"Example host requests: 2/3 left; resets {resets}; headers seen {seen}"
    assert _line(count_only) == (
        f"Example host requests: 2/? left; resets {resets}; headers seen {seen}"
    )
    fake.now = NOW + 31  # past the reset: the learned limit comes back, a count does not
    assert _line(full) == f"Example host requests: 3/3 left; headers seen {clock(NOW, NOW + 31)}"
    assert _line(count_only) == (
        "Example host requests: no limit known yet (no answer has reported one)"
    )


def test_a_spent_count_without_a_limit_fails_saying_when(tmp_path: Path, fake: FakeTime) -> None:
    limiter = _limiter(tmp_path, fake, on_limit="fail")
    host = Host(fake, [_ok(lambda now: {"RateLimit": f'"x";r=0;t={NOW + 40 - now:g}'})])
    session = _session(host, limiter, fake)
    session.request("POST", "https://host.example/upload", costs={"requests": 1})
    with pytest.raises(RateLimitError) as caught:
        session.request("POST", "https://host.example/upload", costs={"requests": 1})
    assert caught.value.message == (
        f"Example host requests is spent (0 left); it resets {describe(NOW + 40, NOW)}"
    )
    assert len(host.times) == 1  # nothing sent against a spent budget


REFUSED: list[tuple[str, Answer, float]] = [
    ("Retry-After: 7", lambda _n: httpx.Response(429, headers={"Retry-After": "7"}), 7),
    (
        "Retry-After as an HTTP date",
        lambda now: httpx.Response(429, headers={"Retry-After": _date(now + 7)}),
        7,
    ),
    (
        "Retry-After before the budget's reset",
        lambda _n: httpx.Response(
            429,
            headers={
                "Retry-After": "7",
                "RateLimit": '"p";r=5;t=60',
                "RateLimit-Policy": '"p";q=9',
            },
        ),
        7,
    ),
    (
        "the spent policy's reset",
        lambda _n: httpx.Response(429, headers={"RateLimit": '"p";r=0;t=12'}),
        12,
    ),
    (
        "X-RateLimit-Reset of a spent budget",
        lambda now: httpx.Response(
            429,
            headers={
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(now + SKEW + 15)),
                "Date": _date(now + SKEW),
            },
        ),
        15,
    ),
    (
        "a wait in the text",
        lambda _n: httpx.Response(
            429, json={"error": {"message": "Flood. Try again in 2 minutes"}}
        ),
        120,
    ),
    ("nothing said: 10 s", lambda _n: httpx.Response(429, text="Too Many Requests"), 10),
    ("a 503 with Retry-After", lambda _n: httpx.Response(503, headers={"Retry-After": "20"}), 20),
    (
        "a 403 saying the budget is spent",
        lambda _n: httpx.Response(
            403, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "9"}
        ),
        9,
    ),
]


@pytest.mark.parametrize(("answer", "wait"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
@pytest.mark.parametrize("known", [True, False], ids=["budget known", "budget unknown"])
def test_after_a_refusal_the_next_send_waits_what_the_host_asked(
    answer: Answer, wait: float, known: bool, tmp_path: Path, fake: FakeTime
) -> None:
    first = _ok(lambda now: STYLES["draft 08"](2, now) if known else {})
    host = Host(fake, [first, answer, _ok(lambda _now: {})])
    limiter = _limiter(tmp_path, fake)
    session = _session(host, limiter, fake)
    for _ in range(3):
        session.request("POST", "https://host.example/upload", costs={"requests": 1})
    assert fake.sleeps == [wait + RESET_MARGIN]
    assert host.times == [NOW, NOW, NOW + wait + RESET_MARGIN]


@pytest.mark.parametrize(
    "answer",
    [
        lambda _n: httpx.Response(503),
        lambda _n: httpx.Response(503, headers={"Retry-After": "0"}),
        lambda _n: httpx.Response(500, headers={"Retry-After": "30"}),
        lambda _n: httpx.Response(403, text="bad key"),
        lambda now: httpx.Response(200, headers=STYLES["draft 08"](1, now)),
    ],
    ids=["503 alone", "503 Retry-After 0", "500", "403 of a credential", "200 with 1 left"],
)
def test_answers_that_are_no_refusal_hold_nothing_back(
    answer: Answer, tmp_path: Path, fake: FakeTime
) -> None:
    host = Host(fake, [answer, _ok(lambda _now: {})])
    session = _session(host, _limiter(tmp_path, fake), fake)
    for _ in range(2):
        session.request("POST", "https://host.example/upload", costs={"requests": 1})
    assert fake.sleeps == []


@pytest.mark.parametrize(
    "headers",
    [
        {"X-RateLimit-Remaining": "0"},
        {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0"},
        {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "-5", "X-RateLimit-Reset": "soon"},
        {"RateLimit-Limit": "60", "RateLimit-Remaining": "0"},
        {"RateLimit": "limit=60, remaining=0"},
        {"RateLimit-Policy": '"p";q=60', "RateLimit": '"p";r=0'},
    ],
)
def test_a_count_without_a_reset_holds_nothing_back(
    tmp_path: Path, fake: FakeTime, headers: H
) -> None:
    """The custom bucket's window is only a bound of a day: "0 left" with no reset must
    not shut the host for a day (it did), nor spread a batch over it. A host that is
    really spent answers 429: that answer holds the next send back."""
    limiter = _limiter(tmp_path, fake)
    refused = lambda _now: httpx.Response(429, headers={"Retry-After": "7"}, text="Slow")  # noqa: E731
    host = Host(
        fake, [_ok(lambda _now: headers), _ok(lambda _now: headers), refused, _ok(lambda _now: {})]
    )
    session = _session(host, limiter, fake)
    for _ in range(2):
        session.request("POST", "https://host.example/upload", costs={"requests": 1})
    assert fake.sleeps == []
    assert _line(limiter).endswith("no limit known yet (no answer has reported one)")
    session.request("POST", "https://host.example/upload", costs={"requests": 1})
    session.request("POST", "https://host.example/upload", costs={"requests": 1})
    assert fake.sleeps[0] == pytest.approx(7 + RESET_MARGIN)  # the 429's wait, no more
    assert len(host.times) == 4


def test_limits_shows_a_refusal_of_a_budget_never_told(tmp_path: Path, fake: FakeTime) -> None:
    limiter = _limiter(tmp_path, fake)
    host = Host(fake, [lambda _n: httpx.Response(429, headers={"Retry-After": "40"}, text="Slow")])
    _session(host, limiter, fake).request("POST", "https://h.example/u", costs={"requests": 1})
    assert _line(limiter) == (
        f"Example host requests: 0/? left; resets {describe(NOW + 40, NOW)}; "
        f"paused after the server refused a request {clock(NOW, NOW)}"
    )
    with pytest.raises(RateLimitError) as caught:
        _limiter(tmp_path, fake, on_limit="fail").acquire({"requests": 1})
    assert caught.value.message == (
        'Example host requests is paused: the server said "Slow" (HTTP 429); '
        f"it resets {describe(NOW + 40, NOW)}"
    )


def test_a_spent_host_beyond_max_wait_is_not_called_a_daily_budget(
    tmp_path: Path, fake: FakeTime
) -> None:
    """The custom bucket's day is a bound, not a daily budget: the hint is --max-wait
    (it said "a daily budget the server says is exhausted" once a refusal left a note)."""
    limiter = _limiter(tmp_path, fake)
    spent = {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "600"}
    refused = lambda _n: httpx.Response(429, headers={"Retry-After": "1"}, text="Slow down")  # noqa: E731
    host = Host(fake, [refused, _ok(lambda _now: spent)])
    session = _session(host, limiter, fake)
    for status in (429, 200):
        answer = session.request("POST", "https://h.example/u", costs={"requests": 1})
        assert answer.status_code == status
    with pytest.raises(RateLimitError) as caught:
        session.request("POST", "https://h.example/u", costs={"requests": 1})
    assert "Slow down" in caught.value.message
    assert caught.value.hint == "use --max-wait 601 to wait for it, or see `uploader limits`"
    assert len(host.times) == 2
