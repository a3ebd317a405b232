"""Parsing every rate-limit header format the providers (and their forks) send.

Values are the ones in reference/provider-api-facts.md 1.10 (Imgur), 2.5 (Gyazo: none) and
3.7 (Mastodon). Nothing here may raise on garbage: a header we cannot read is skipped.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import formatdate

import pytest

from uploader.models import BucketUpdate
from uploader.ratelimit.headers import (
    header,
    header_int,
    http_date,
    imgur_updates,
    mastodon_updates,
    parse_reset,
    retry_after_seconds,
    server_skew,
    wait_hint_seconds,
)

NOW = 1_785_000_000.0  # 2026-07-25T17:20:00Z, whole seconds so Date headers are exact


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _date(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


# -- Imgur ------------------------------------------------------------------------------------


def test_imgur_live_headers_in_lowercase_as_http2_logs_print_them() -> None:
    # A plain dict is case-sensitive: the parser must match names itself.
    headers = {
        "x-ratelimit-userlimit": "500",
        "x-ratelimit-userremaining": "480",
        "x-ratelimit-userreset": "3600",
        "x-ratelimit-clientlimit": "12500",
        "x-ratelimit-clientremaining": "12300",
        "x-ratelimit-clientreset": "86400",
        "x-post-rate-limit-limit": "1250",
        "x-post-rate-limit-remaining": "1247",
        "x-post-rate-limit-reset": "3569",
    }
    assert imgur_updates(headers, NOW) == [
        # 3600 and 86400 are window lengths: "at most this far from now".
        BucketUpdate("user", 500, 480, NOW + 3600),
        BucketUpdate("client", 12500, 12300, NOW + 86400),
        # The POST reset is seconds remaining.
        BucketUpdate("post", 1250, 1247, NOW + 3569),
    ]


def test_imgur_dotnet_spelling_and_doc_spelling_read_alike() -> None:
    sharex = {"X-Ratelimit-Userlimit": "2000", "X-Ratelimit-Userremaining": "1990"}
    doc = {"X-RateLimit-UserLimit": "2000", "X-RateLimit-UserRemaining": "1990"}
    assert imgur_updates(sharex, NOW) == imgur_updates(doc, NOW)
    assert imgur_updates(doc, NOW) == [BucketUpdate("user", 2000, 1990, None)]


def test_imgur_documented_epoch_user_reset() -> None:
    # The docs (and a 2015 library test) say UserReset is a unix epoch.
    headers = {
        "X-RateLimit-UserLimit": "500",
        "X-RateLimit-UserRemaining": "0",
        "X-RateLimit-UserReset": "1441401387",
    }
    assert imgur_updates(headers, NOW) == [BucketUpdate("user", 500, 0, 1441401387.0)]


def test_imgur_client_bucket_only_when_its_headers_are_present() -> None:
    headers = {"X-Post-Rate-Limit-Limit": "1250", "X-Post-Rate-Limit-Remaining": "12"}
    assert [u.bucket for u in imgur_updates(headers, NOW)] == ["post"]
    assert imgur_updates({"Content-Type": "application/json"}, NOW) == []


def test_imgur_429_with_a_spent_user_bucket() -> None:
    headers = {
        "x-ratelimit-userlimit": "500",
        "x-ratelimit-userremaining": "0",
        "x-ratelimit-userreset": "3600",
        "x-ratelimit-clientlimit": "12500",
        "x-ratelimit-clientremaining": "12499",
    }
    updates = {u.bucket: u for u in imgur_updates(headers, NOW)}
    assert updates["user"] == BucketUpdate("user", 500, 0, NOW + 3600)
    assert updates["client"] == BucketUpdate("client", 12500, 12499, None)


def test_server_clock_ahead_by_120_s_corrects_an_epoch_reset() -> None:
    headers = {
        "Date": _date(NOW + 120),
        "X-RateLimit-UserLimit": "500",
        "X-RateLimit-UserRemaining": "0",
        "X-RateLimit-UserReset": str(int(NOW + 120 + 1000)),  # server time
    }
    assert server_skew(headers, NOW) == 120.0
    assert imgur_updates(headers, NOW)[0].reset_at == NOW + 1000  # our time
    # A duration is not shifted by the skew: it counts from our now.
    headers["X-RateLimit-UserReset"] = "3600"
    assert imgur_updates(headers, NOW)[0].reset_at == NOW + 3600


def test_garbage_values_are_skipped_without_raising(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="uploader.ratelimit.limiter")
    headers = {
        "Authorization": "Bearer very-secret-token",
        "Date": "yesterday",
        "X-RateLimit-UserLimit": "lots",
        "X-RateLimit-UserRemaining": "nan",
        "X-RateLimit-UserReset": "soon",
        "X-RateLimit-ClientLimit": "-5",
        "X-RateLimit-ClientRemaining": "1e400",  # inf: int() would raise OverflowError
        "X-Post-Rate-Limit-Limit": "1250",
        "X-Post-Rate-Limit-Remaining": "-3",
        "X-Post-Rate-Limit-Reset": "-10",
    }
    assert imgur_updates(headers, NOW) == [BucketUpdate("post", 1250, 0, None)]
    assert "ignoring unparseable" in caplog.text
    assert "very-secret-token" not in caplog.text  # never whole header maps


def test_a_header_repeated_by_a_proxy_counts_once() -> None:
    headers = {
        "X-Post-Rate-Limit-Limit": "1250, 1250",
        "X-Post-Rate-Limit-Remaining": "1247,1247",
        "X-Post-Rate-Limit-Reset": "3569, 3569",
    }
    assert imgur_updates(headers, NOW) == [BucketUpdate("post", 1250, 1247, NOW + 3569)]


# -- Mastodon ---------------------------------------------------------------------------------


def test_mastodon_iso_reset_with_microseconds_on_a_media_post() -> None:
    headers = {
        "X-RateLimit-Limit": "30",
        "X-RateLimit-Remaining": "29",
        "X-RateLimit-Reset": "2026-08-01T14:00:00.524560Z",
    }
    assert mastodon_updates(headers, NOW, media_request=True) == [
        BucketUpdate("media", 30, 29, _utc("2026-08-01T14:00:00.524560"))
    ]


@pytest.mark.parametrize(
    ("limit", "media_request", "bucket"),
    [
        ("30", True, "media"),
        ("300", True, "api"),  # per-token API bucket, closer to exhaustion
        ("1500", True, "api"),  # per-user API bucket
        ("30", False, "api"),  # not a media POST: never the media bucket
        ("300", False, "api"),
    ],
)
def test_mastodon_bucket_is_chosen_by_limit_and_request(
    limit: str, media_request: bool, bucket: str
) -> None:
    headers = {
        "x-ratelimit-limit": limit,
        "x-ratelimit-remaining": "7",
        "x-ratelimit-reset": "2026-08-01T13:55:00.824007Z",
    }
    (update,) = mastodon_updates(headers, NOW, media_request=media_request)
    assert update.bucket == bucket
    assert update.reset_at == _utc("2026-08-01T13:55:00.824007")


def test_mastodon_fork_with_epoch_integer_reset_and_skew() -> None:
    headers = {
        "date": _date(NOW - 30),  # server 30 s behind
        "x-ratelimit-limit": "300",
        "x-ratelimit-remaining": "12",
        "x-ratelimit-reset": str(int(NOW - 30 + 60)),
    }
    assert mastodon_updates(headers, NOW, media_request=False) == [
        BucketUpdate("api", 300, 12, NOW + 60)
    ]


def test_mastodon_iso_reset_is_corrected_for_skew() -> None:
    headers = {
        "Date": _date(NOW + 120),
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": datetime.fromtimestamp(NOW + 120 + 300, UTC).isoformat(),
    }
    (update,) = mastodon_updates(headers, NOW, media_request=False)
    assert update.reset_at == NOW + 300


def test_servers_without_headers_give_nothing() -> None:
    # localhost, GoToSocial, paths outside /api (reference 3.7)
    assert mastodon_updates({}, NOW, media_request=True) == []
    assert mastodon_updates({"X-RateLimit-Reset": "60"}, NOW, media_request=True) == []


# -- the pieces -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-08-01T13:55:00.824007Z", _utc("2026-08-01T13:55:00.824007")),
        ("2026-08-01T13:55:00Z", _utc("2026-08-01T13:55:00")),
        ("2026-08-01T13:55:00.824z", _utc("2026-08-01T13:55:00.824")),
        ("2026-08-01T13:55:00", _utc("2026-08-01T13:55:00")),  # no offset: UTC
        ("2026-08-01T15:55:00+02:00", _utc("2026-08-01T13:55:00")),
        ("2026-08-01T13:55:00.824007123Z", _utc("2026-08-01T13:55:00.824007")),
        ("1785000060", NOW + 60),  # epoch seconds
        ("1785000060.5", NOW + 60.5),
        ("1785000060000", NOW + 60),  # epoch milliseconds
        ("60", NOW + 60),  # seconds from now
        ("0.25", NOW + 0.25),
        ("0", NOW),
        (" 60 ", NOW + 60),
        ("Sat, 01 Aug 2026 13:55:00 GMT", _utc("2026-08-01T13:55:00")),  # an HTTP date
        ("Saturday, 01-Aug-26 13:55:00 GMT", _utc("2026-08-01T13:55:00")),
        ("2026-08-01 13:55:00 UTC", _utc("2026-08-01T13:55:00")),
        ("2026-08-01T13:55:00.5 utc", _utc("2026-08-01T13:55:00.5")),
    ],
)
def test_parse_reset_formats(value: str, expected: float) -> None:
    assert parse_reset(value, NOW, 0.0) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "value", ["", "soon", "-5", "nan", "inf", "-inf", "2026-13-45T99:00:00Z", "12:00"]
)
def test_parse_reset_garbage_is_none(value: str) -> None:
    assert parse_reset(value, NOW, 0.0) is None


def test_an_http_date_reset_is_corrected_for_skew() -> None:
    assert parse_reset("Sat, 01 Aug 2026 13:55:00 GMT", NOW, 120.0) == pytest.approx(
        _utc("2026-08-01T13:55:00") - 120.0
    )


def test_parse_reset_applies_skew_only_to_absolute_values() -> None:
    assert parse_reset("1785000600", NOW, 120.0) == NOW + 480
    assert parse_reset("2026-07-25T17:30:00Z", NOW, -60.0) == NOW + 660
    assert parse_reset("600", NOW, 120.0) == NOW + 600


@pytest.mark.parametrize(
    "date",
    [
        "Sat, 25 Jul 2026 17:22:00 GMT",  # IMF-fixdate
        "Saturday, 25-Jul-26 17:22:00 GMT",  # RFC 850
        "Sat Jul 25 17:22:00 2026",  # asctime
    ],
)
def test_all_three_http_date_forms(date: str) -> None:
    assert http_date(date) == NOW + 120
    assert server_skew({"DATE": date}, NOW) == 120.0


@pytest.mark.parametrize("date", ["", "yesterday", "Sat, 32 Jul 2026 17:22:00 GMT", "1785000000"])
def test_unreadable_date_means_no_skew(date: str) -> None:
    assert server_skew({"Date": date}, NOW) == 0.0


def test_header_lookup_ignores_case_both_ways() -> None:
    headers = {"X-Total-Count": "12", "x-per-page": "20"}
    assert header(headers, "x-total-count") == "12"
    assert header(headers, "X-Per-Page") == "20"
    assert header(headers, "X-Missing") is None
    assert header_int(headers, "X-PER-PAGE") == 20
    assert header_int({"X-Per-Page": "20.0"}, "x-per-page") == 20
    assert header_int({"X-Per-Page": "twenty"}, "x-per-page") is None


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        ("37", NOW, 37.0),
        (" 120 ", NOW, 120.0),
        ("1.5", NOW, 1.5),
        ("Sat, 25 Jul 2026 17:22:00 GMT", NOW, 120.0),  # HTTP date
        ("Sat, 25 Jul 2026 17:22:00 GMT", NOW + 500, 0.0),  # already past
        ("120, 120", NOW, 120.0),
    ],
)
def test_retry_after(value: str, now: float, expected: float) -> None:
    assert retry_after_seconds(value, now) == expected


@pytest.mark.parametrize("value", ["", "whenever", "-5", "inf", "nan"])
def test_retry_after_garbage_is_none(value: str) -> None:
    assert retry_after_seconds(value, NOW) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("You are uploading too fast. Please wait 37 more minutes.", 2220.0),
        ("Please wait 30 seconds before retrying", 30.0),
        ("Too many requests, try again in 2 hours", 7200.0),
        ("try again in an hour", 3600.0),
        ("Retry in 1 minute and 30 seconds.", 90.0),
        ("wait 10s", 10.0),
        ("WAIT 1.5 MINUTES", 90.0),
        ("Rate limit resets in 5 min", 300.0),
        ("retry after 1 day", 86400.0),
    ],
)
def test_wait_hints_in_message_text(text: str, seconds: float) -> None:
    assert wait_hint_seconds(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "Too Many Requests",
        '{"error":"Too many requests"}',
        "Please wait -1 more minutes",
        "The image will expire in 5 minutes",  # not a request to wait
        "wait 5 minimal units",
    ],
)
def test_texts_without_a_wait_hint(text: str) -> None:
    assert wait_hint_seconds(text) is None
