"""Rate-limit headers of any host (issue 17 item 4): every style a custom host may send.

Styles: the IETF structured fields (draft 08+ ``RateLimit``/``RateLimit-Policy`` with named
policies, draft 07's ``RateLimit: limit=, remaining=, reset=``), the older draft's
``RateLimit-Limit/Remaining/Reset`` and ``X-RateLimit-*`` with a detected reset. Each row
is one instance; the refusals and the limiter fed by these are in test_generic_limiter.py.
"""

from __future__ import annotations

import logging
import random
from email.utils import formatdate

import pytest

from uploader.models import BucketUpdate
from uploader.ratelimit.generic import generic_refusal, generic_updates

NOW = 1_785_000_000.0  # 2026-07-25T17:20:00Z, whole seconds so Date headers are exact
H = dict[str, str]


def _date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


def _one(headers: H) -> tuple[int | None, int | None, float | None]:
    (update,) = generic_updates(headers, NOW)
    assert update.bucket == "requests"  # the default name
    return update.limit, update.remaining, update.reset_at


POLICY = '"burst";q=100;w=60, "daily";q=1000;w=86400'

STRUCTURED: list[tuple[str, H, tuple[int | None, int | None, float | None]]] = [
    (
        "one policy",
        {"RateLimit-Policy": '"p";q=100;w=60', "RateLimit": '"p";r=50;t=30'},
        (100, 50, NOW + 30),
    ),
    (
        "the one with fewest left wins",
        {"RateLimit-Policy": POLICY, "RateLimit": '"burst";r=50;t=30, "daily";r=20;t=3600'},
        (1000, 20, NOW + 3600),
    ),
    (
        "fewest left wins, listed first",
        {"RateLimit-Policy": POLICY, "RateLimit": '"burst";r=2;t=30, "daily";r=20;t=3600'},
        (100, 2, NOW + 30),
    ),
    (
        "a tie: the later reset",
        {"RateLimit-Policy": POLICY, "RateLimit": '"burst";r=0;t=30, "daily";r=0;t=7200'},
        (1000, 0, NOW + 7200),
    ),
    (
        "no policy of that name: no limit, still left and reset",
        {"RateLimit-Policy": '"other";q=5', "RateLimit": '"p";r=7;t=12'},
        (None, 7, NOW + 12),
    ),
    ("no RateLimit-Policy at all", {"RateLimit": '"p";r=3;t=4'}, (None, 3, NOW + 4)),
    (
        "no t: the policy's window bounds the reset",
        {"RateLimit-Policy": '"p";q=10;w=90', "RateLimit": '"p";r=4'},
        (10, 4, NOW + 90),
    ),
    (
        "tokens as names",
        {"RateLimit-Policy": "day;q=500;w=86400", "RateLimit": "day;r=499;t=60"},
        (500, 499, NOW + 60),
    ),
    (
        "spaces around ; and =",
        {"RateLimit-Policy": ' "p" ; q = 40 ; w = 60 ', "RateLimit": '"p" ;r= 39; t =59'},
        (40, 39, NOW + 59),
    ),
    (
        "names of any case",
        {"RATELIMIT-POLICY": '"p";q=8;w=60', "ratelimit": '"p";r=6;t=5'},
        (8, 6, NOW + 5),
    ),
    (
        "upper-case parameter keys",
        {"RateLimit-Policy": '"p";Q=8', "RateLimit": '"p";R=1;T=2'},
        (8, 1, NOW + 2),
    ),
    (
        "repeated by a proxy, comma-joined: the fewest left",
        {"RateLimit-Policy": '"p";q=10, "p";q=10', "RateLimit": '"p";r=5;t=10, "p";r=4;t=9'},
        (10, 4, NOW + 9),
    ),
    (
        "below zero left is none left",
        {"RateLimit-Policy": '"p";q=10', "RateLimit": '"p";r=-3;t=9'},
        (10, 0, NOW + 9),
    ),
    (
        "a quota of 0 is no limit",
        {"RateLimit-Policy": '"p";q=0', "RateLimit": '"p";r=5;t=9'},
        (None, 5, NOW + 9),
    ),
    ("a decimal reset", {"RateLimit": '"p";r=5;t=2.5'}, (None, 5, NOW + 2.5)),
    (
        "a comma inside a quoted name",
        {"RateLimit-Policy": '"a,b";q=20', "RateLimit": '"a,b";r=19;t=1'},
        (20, 19, NOW + 1),
    ),
    ("the policy alone: the smallest quota", {"RateLimit-Policy": POLICY}, (100, None, None)),
    (
        "an unreadable item skipped, the next read",
        {"RateLimit-Policy": '"p";q=10', "RateLimit": '"p";r=@@, "p";r=6;t=3'},
        (10, 6, NOW + 3),
    ),
    (
        "partition keys and quota units",
        {
            "RateLimit-Policy": '"p";q=10;w=60;qu="requests";pk=:cHsdsRa894==:',
            "RateLimit": '"p";r=2;t=5;pk=:cHsdsRa894==:',
        },
        (10, 2, NOW + 5),
    ),
    # draft 07: one dictionary, the policy a bare quota with its window
    (
        "draft 07",
        {"RateLimit": "limit=100, remaining=50, reset=30", "RateLimit-Policy": "100;w=60"},
        (100, 50, NOW + 30),
    ),
    (
        "draft 07 without a policy",
        {"RateLimit": "limit=10, remaining=0, reset=5"},
        (10, 0, NOW + 5),
    ),
    (
        "draft 07: the limit from the policy",
        {"RateLimit": "remaining=9, reset=20", "RateLimit-Policy": "12;w=60"},
        (12, 9, NOW + 20),
    ),
    (
        "draft 07: no reset, the policy's window",
        {"RateLimit": "limit=12, remaining=9", "RateLimit-Policy": "50;w=10, 12;w=60"},
        (12, 9, NOW + 60),
    ),
    (
        "draft 07: keys of any case, spaces",
        {"ratelimit": "Limit = 30 , REMAINING=29,reset=3"},
        (30, 29, NOW + 3),
    ),
    (
        "draft 07 repeated by a proxy: the first",
        {"RateLimit": "limit=10, remaining=3, reset=5, limit=10, remaining=2, reset=4"},
        (10, 3, NOW + 5),
    ),
    (
        "draft 07: an epoch reset, corrected for the Date skew",
        {"RateLimit": f"limit=10, remaining=1, reset={int(NOW) + 100}", "Date": _date(NOW + 40)},
        (10, 1, NOW + 60),
    ),
]


@pytest.mark.parametrize(
    ("headers", "expected"), [row[1:] for row in STRUCTURED], ids=[row[0] for row in STRUCTURED]
)
def test_ietf_structured_fields(
    headers: H, expected: tuple[int | None, int | None, float | None]
) -> None:
    assert _one(headers) == expected


OLDER: list[tuple[str, H, tuple[int | None, int | None, float | None]]] = [
    (
        "seconds to reset",
        {"RateLimit-Limit": "100", "RateLimit-Remaining": "7", "RateLimit-Reset": "12"},
        (100, 7, NOW + 12),
    ),
    (
        "a limit with its policies: the first number",
        {"RateLimit-Limit": "100, 100;w=60", "RateLimit-Remaining": "99", "RateLimit-Reset": "60"},
        (100, 99, NOW + 60),
    ),
    (
        "a limit with parameters",
        {"RateLimit-Limit": "50;w=60", "RateLimit-Remaining": "1"},
        (50, 1, None),
    ),
    (
        "lower case, repeated by a proxy",
        {"ratelimit-limit": "20, 20", "ratelimit-remaining": "4, 4", "ratelimit-reset": "9, 9"},
        (20, 4, NOW + 9),
    ),
    ("below zero left", {"RateLimit-Limit": "20", "RateLimit-Remaining": "-1"}, (20, 0, None)),
    ("a limit of 0 is none", {"RateLimit-Limit": "0", "RateLimit-Remaining": "3"}, (None, 3, None)),
    (
        "the policy lends its quota",
        {"RateLimit-Policy": "60;w=60", "RateLimit-Remaining": "5", "RateLimit-Reset": "7"},
        (60, 5, NOW + 7),
    ),
]


@pytest.mark.parametrize(
    ("headers", "expected"), [row[1:] for row in OLDER], ids=[row[0] for row in OLDER]
)
def test_older_draft_fields(
    headers: H, expected: tuple[int | None, int | None, float | None]
) -> None:
    assert _one(headers) == expected


def _x(reset: str, **more: str) -> H:
    return {
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "10",
        "X-RateLimit-Reset": reset,
        **more,
    }


X_STYLE: list[tuple[str, H, tuple[int | None, int | None, float | None]]] = [
    ("epoch seconds", _x(str(int(NOW) + 90)), (60, 10, NOW + 90)),
    (
        "epoch seconds, server clock 30 s ahead",
        _x(str(int(NOW) + 90), Date=_date(NOW + 30)),
        (60, 10, NOW + 60),
    ),
    ("epoch milliseconds", _x(str(int(NOW) * 1000 + 45_500)), (60, 10, NOW + 45.5)),
    ("seconds from now", _x("45"), (60, 10, NOW + 45)),
    ("seconds from now, not skewed", _x("45", Date=_date(NOW + 30)), (60, 10, NOW + 45)),
    ("ISO 8601, Z", _x("2026-07-25T17:21:00Z"), (60, 10, NOW + 60)),
    ("ISO 8601, an offset", _x("2026-07-25T19:22:00+02:00"), (60, 10, NOW + 120)),
    ("ISO 8601, a fraction", _x("2026-07-25T17:20:30.500000Z"), (60, 10, NOW + 30.5)),
    (
        "Reset-After before Reset (Discord)",
        _x(str(int(NOW) + 90), **{"X-RateLimit-Reset-After": "1.25"}),
        (60, 10, NOW + 1.25),
    ),
    (
        "an unreadable Reset-After: the Reset",
        _x("45", **{"X-RateLimit-Reset-After": "soon"}),
        (60, 10, NOW + 45),
    ),
    (
        "a limit like 100, 100;w=60",
        {"X-RateLimit-Limit": "100, 100;w=60", "X-RateLimit-Remaining": "3"},
        (100, 3, None),
    ),
    (
        "lower-case names",
        {"x-ratelimit-limit": "5", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "8"},
        (5, 0, NOW + 8),
    ),
    (
        "X-Rate-Limit spelling",
        {"X-Rate-Limit-Limit": "5", "X-Rate-Limit-Remaining": "2", "X-Rate-Limit-Reset": "8"},
        (5, 2, NOW + 8),
    ),
    ("below zero left", {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "-2"}, (5, 0, None)),
    (
        "a limit float() takes but no header means (6_0): none",
        {"X-RateLimit-Limit": "6_0", "X-RateLimit-Remaining": "3"},
        (None, 3, None),
    ),
    (
        "Arabic-Indic digits left: none",
        {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "\u0661\u0662"},
        (60, None, None),
    ),
    (
        "full-width digits in Reset-After: the Reset",
        _x("45", **{"X-RateLimit-Reset-After": "\uff11\uff12"}),
        (60, 10, NOW + 45),
    ),
    (
        "a limit of -1 is none",
        {"X-RateLimit-Limit": "-1", "X-RateLimit-Remaining": "2"},
        (None, 2, None),
    ),
    ("an unreadable reset keeps the counts", _x("whenever"), (60, 10, None)),
]


@pytest.mark.parametrize(
    ("headers", "expected"), [row[1:] for row in X_STYLE], ids=[row[0] for row in X_STYLE]
)
def test_x_ratelimit_fields(
    headers: H, expected: tuple[int | None, int | None, float | None]
) -> None:
    assert _one(headers) == expected


ALL = {
    "RateLimit-Policy": '"p";q=30;w=60',
    "RateLimit": '"p";r=29;t=50',
    "RateLimit-Limit": "20",
    "RateLimit-Remaining": "19",
    "RateLimit-Reset": "40",
    "X-RateLimit-Limit": "10",
    "X-RateLimit-Remaining": "9",
    "X-RateLimit-Reset": "30",
}
PRIORITY: list[tuple[str, H, tuple[int | None, int | None, float | None]]] = [
    ("structured first", ALL, (30, 29, NOW + 50)),
    (
        "then the older draft",
        {k: v for k, v in ALL.items() if k not in ("RateLimit", "RateLimit-Policy")},
        (20, 19, NOW + 40),
    ),
    ("then X-RateLimit", {k: v for k, v in ALL.items() if k.startswith("X-")}, (10, 9, NOW + 30)),
    (
        "an unreadable RateLimit: the older draft",
        {**ALL, "RateLimit": "@@@", "RateLimit-Policy": "@@@"},
        (20, 19, NOW + 40),
    ),
    (
        "a policy alone does not hide X-RateLimit counts",
        {"RateLimit-Policy": '"p";q=30', "X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "9"},
        (10, 9, None),
    ),
]


@pytest.mark.parametrize(
    ("headers", "expected"), [row[1:] for row in PRIORITY], ids=[row[0] for row in PRIORITY]
)
def test_priority_when_several_styles_are_sent(
    headers: H, expected: tuple[int | None, int | None, float | None]
) -> None:
    assert _one(headers) == expected


def test_the_bucket_is_named_by_the_caller() -> None:
    headers = {"RateLimit": '"p";r=3;t=4'}
    assert generic_updates(headers, NOW, "uploads") == [BucketUpdate("uploads", None, 3, NOW + 4)]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Retry-After": "30"},
        {"X-RateLimit-Reset": "30"},  # a reset alone says nothing to act on
        {"RateLimit-Reset": "30"},
        {"RateLimit": '"p";t=30'},  # neither left nor a limit
        {"RateLimit": "", "RateLimit-Policy": ""},
        {"X-RateLimit-Limit": "lots", "X-RateLimit-Remaining": "some"},
    ],
)
def test_headers_that_say_nothing_give_no_update(headers: H) -> None:
    assert generic_updates(headers, NOW) == []


def test_a_malformed_field_is_skipped_with_a_debug_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="uploader.ratelimit.limiter")
    headers = {"RateLimit": '"p";r=(1', "X-RateLimit-Remaining": "4", "X-RateLimit-Reset": "x"}
    assert generic_updates(headers, NOW) == [BucketUpdate("requests", None, 4, None)]
    assert "RateLimit value '\"p\";r=(1'" in caplog.text
    assert "reset value 'x'" in caplog.text
    assert "X-RateLimit-Remaining': '4'" not in caplog.text  # never the whole header map


def test_hostile_values_never_raise() -> None:
    rng = random.Random(17)
    alphabet = '"\\;=,:?*-.0123456789 rtqwlimtRLx\t()[]{}é\x00'
    names = [
        "RateLimit",
        "RateLimit-Policy",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        "X-RateLimit-Reset-After",
        "Date",
    ]
    for _ in range(3000):
        headers = {
            name: "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
            for name in rng.sample(names, rng.randrange(1, len(names)))
        }
        for update in generic_updates(headers, NOW):
            assert update.limit is None or update.limit > 0
            assert update.remaining is None or update.remaining >= 0
        status = rng.choice((200, 403, 429, 503))
        refusal = generic_refusal(status, headers, headers.get("RateLimit", ""), NOW)
        assert refusal is None or refusal.retry_after is None or refusal.retry_after >= 0
    long = {"RateLimit": '"p";r=1' + ";k=1" * 100_000, "RateLimit-Policy": '"' * 100_000}
    assert generic_updates(long, NOW) in ([], [BucketUpdate("requests", None, 1, None)])
