"""generic_refusal: which answers of a custom host are rate-limit refusals, and what each
tells the limiter (the waits the limiter then takes: test_generic_limiter.py)."""

from __future__ import annotations

import pytest

from uploader.ratelimit.bucket import Refusal
from uploader.ratelimit.generic import generic_refusal

NOW = 1_785_000_000.0  # 2026-07-25T17:20:00Z
H = dict[str, str]

R: list[tuple[str, int, H, str, Refusal | None]] = [
    (
        "429, Retry-After",
        429,
        {"Retry-After": "7"},
        "",
        Refusal(7.0, pause=("requests",), note="the server refused (HTTP 429)"),
    ),
    (
        "429, Retry-After a proxy repeated",
        429,
        {"retry-after": "30, 30"},
        "",
        Refusal(30.0, pause=("requests",), note="the server refused (HTTP 429)"),
    ),
    (
        "429, a spent budget: spent until its reset",
        429,
        {"RateLimit-Remaining": "0", "RateLimit-Reset": "12"},
        "Slow down!",
        Refusal(12.0, spent=("requests",), note='the server said "Slow down!" (HTTP 429)'),
    ),
    (
        "429, spent with Retry-After: its wait, still spent",
        429,
        {"Retry-After": "3", "RateLimit": "limit=5, remaining=0, reset=40"},
        "",
        Refusal(3.0, spent=("requests",), note="the server refused (HTTP 429)"),
    ),
    (
        "429, 0 left but no reset: paused, not spent for a window",
        429,
        {"X-RateLimit-Remaining": "0"},
        "<html><body>429</body></html>",
        Refusal(None, pause=("requests",), note="the server refused (HTTP 429)"),
    ),
    (
        "429, a wait in JSON text",
        429,
        {},
        '{"message": "Rate limit hit,\\u001b[31m wait 30 seconds"}',
        Refusal(
            30.0,
            pause=("requests",),
            note='the server said "Rate limit hit,[31m wait 30 seconds" (HTTP 429)',
        ),
    ),
    (
        "503, Retry-After",
        503,
        {"Retry-After": "20"},
        "",
        Refusal(20.0, pause=("requests",), note="the server asked to come back later (HTTP 503)"),
    ),
    ("503 alone", 503, {}, "", None),
    ("503, an unreadable Retry-After", 503, {"Retry-After": "later"}, "", None),
    ("200, 0 left", 200, {"RateLimit": '"p";r=0;t=9'}, "", None),
    ("400", 400, {"Retry-After": "5"}, "wait 5 minutes", None),
    ("403 alone", 403, {}, "forbidden", None),
    (
        "403, Retry-After",
        403,
        {"Retry-After": "60"},
        "",
        Refusal(60.0, pause=("requests",), note="the server refused (HTTP 403)"),
    ),
]


@pytest.mark.parametrize(
    ("status", "headers", "text", "expected"), [r[1:] for r in R], ids=[r[0] for r in R]
)
def test_refusals(status: int, headers: H, text: str, expected: Refusal | None) -> None:
    assert generic_refusal(status, headers, text, NOW) == expected


def test_a_refusal_names_the_callers_bucket() -> None:
    refusal = generic_refusal(429, {"Retry-After": "1"}, "", NOW, bucket="uploads")
    assert refusal is not None
    assert refusal.pause == ("uploads",)


@pytest.mark.parametrize(
    "text", ["x" * 100_000, "[" * 100_000, '{"error": ' * 5000, "\x00\xff" * 1000, ""]
)
def test_any_body_gives_a_refusal_of_a_429(text: str) -> None:
    refusal = generic_refusal(429, {"Retry-After": "garbage"}, text, NOW)
    assert refusal is not None
    assert refusal.retry_after is None
    assert refusal.note is not None
    assert len(refusal.note) < 200
