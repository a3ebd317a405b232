"""A rate limiter on a private state directory, with the clock and sleep of a FakeTime."""

from __future__ import annotations

from pathlib import Path

from tests.support.clock import FakeTime
from uploader.ratelimit.limiter import BucketSpec, LimitPolicy, RateLimiter
from uploader.ratelimit.store import FileStateStore

KEY = "k" * 32
# Imgur's buckets as the provider declares them (reserve: 10 uploads of 10 credits).
POST = BucketSpec("post", "Imgur POST bucket (per IP)", 1250, 3600.0)
USER = BucketSpec("user", "Imgur user bucket (per IP)", 500, 3600.0)
CLIENT = BucketSpec("client", "Imgur client bucket (per app, daily)", 12500, 86400.0, reserve=100)
UPLOAD = {"user": 10, "client": 10, "post": 1}  # what an Imgur upload costs


def make_limiter(
    directory: Path,
    fake: FakeTime,
    *specs: BucketSpec,
    on_limit: str = "wait",
    max_wait: float = 300.0,
    notes: list[str] | None = None,
) -> RateLimiter:
    """A limiter over ``specs`` (default: the POST bucket) labelled "Imgur (test)"."""
    note = notes.append if notes is not None else lambda _m: None
    return RateLimiter(
        FileStateStore(directory, notify=note),
        KEY,
        specs or (POST,),
        LimitPolicy("fail" if on_limit == "fail" else "wait", max_wait),
        provider_label="Imgur (test)",
        clock=fake.clock,
        sleep=fake.sleep,
        notify=note,
    )
