"""The budget of each self-hosted host under ``/custom``, and how each one tells it.

One fixed window per host (``custom_limit`` requests per ``custom_window`` seconds,
opened by the first request, as @fastify/rate-limit does), shared by every caller as an
IP budget is. The hosts' API routes (uploads and deletes) spend one unit each, refused
ones included (the budget is checked before anything else, as a front proxy does);
stored files and pages are served outside it.

How the budget shows, by ``custom_headers`` (``native``: each host's own, :data:`NATIVE`):

* ``x-epoch`` ``X-RateLimit-Limit/Remaining/Reset``, the reset in epoch seconds
  (Chevereto-style; names in lower case for Zipline, as fastify sends them);
* ``x-seconds`` the same with the reset in seconds from now (@fastify/rate-limit);
* ``x-iso`` the reset as an ISO 8601 UTC time; ``x-ms`` the reset in epoch milliseconds;
* ``draft`` the older IETF draft's ``RateLimit-Limit/Remaining/Reset`` (seconds);
* ``ietf`` the structured fields of draft-ietf-httpapi-ratelimit-headers 08+:
  ``RateLimit-Policy: "default";q=LIMIT;w=WINDOW`` and
  ``RateLimit: "default";r=REMAINING;t=SECONDS``;
* ``none`` nothing at all (XBackBone).

``Retry-After`` on a 429 (``custom_retry_after``): ``seconds``, ``date`` (an HTTP date) or
``none``. Every reset is rounded UP to a whole second (or millisecond): a client that
waits until it never comes back too early.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import formatdate

from uploader.sandbox.buckets import FixedWindow
from uploader.sandbox.knobs import SandboxConfig

Headers = list[tuple[str, str]]

# host -> (header style, Retry-After form) when the knobs say "native".
NATIVE = {
    "chevereto": ("x-epoch", "seconds"),
    "zipline": ("x-seconds", "seconds"),
    "xbackbone": ("none", "none"),
    "text": ("ietf", "date"),
}


class HostBudget:
    """One host's window and the headers that describe it (the caller holds a lock)."""

    def __init__(self, host: str, config: SandboxConfig) -> None:
        self.host = host
        self.config = config
        self.window = FixedWindow(config.custom_limit, config.custom_window)
        native_style, native_retry = NATIVE[host]
        self.style = native_style if config.custom_headers == "native" else config.custom_headers
        retry = config.custom_retry_after
        self.retry = native_retry if retry == "native" else retry

    def spend(self, now: float) -> tuple[bool, Headers]:
        """Count one request: (allowed, the headers its answer carries). A refused one
        spends nothing; its headers add ``Retry-After`` as the knobs say."""
        allowed = self.window.can_take(1, now)
        if allowed:
            self.window.take(1, now)
        headers = self.headers(now)
        if not allowed:
            headers += self.retry_after(now)
        return allowed, headers

    def headers(self, now: float) -> Headers:
        window = self.window
        limit, left = str(window.limit), str(window.remaining(now))
        reset_at = window.reset_at(now)
        seconds = str(window.reset_in_ceil(now))
        style = self.style
        if style == "none":
            return []
        if style == "ietf":
            policy = f'"default";q={window.limit};w={math.ceil(window.window)}'
            return [("RateLimit-Policy", policy), ("RateLimit", f'"default";r={left};t={seconds}')]
        if style == "draft":
            return [
                ("RateLimit-Limit", limit),
                ("RateLimit-Remaining", left),
                ("RateLimit-Reset", seconds),
            ]
        if style == "x-seconds":
            reset = seconds
        elif style == "x-iso":
            reset = datetime.fromtimestamp(math.ceil(reset_at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif style == "x-ms":
            reset = str(math.ceil(reset_at * 1000))
        else:  # x-epoch
            reset = str(math.ceil(reset_at))
        names = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
        if self.host == "zipline":  # fastify writes them in lower case
            names = tuple(name.lower() for name in names)  # type: ignore[assignment]
        return list(zip(names, (limit, left, reset), strict=True))

    def retry_after(self, now: float) -> Headers:
        name = "retry-after" if self.host == "zipline" else "Retry-After"
        if self.retry == "seconds":
            return [(name, str(max(1, self.window.reset_in_ceil(now))))]
        if self.retry == "date":
            return [(name, formatdate(math.ceil(self.window.reset_at(now)), usegmt=True))]
        return []

    def wait_words(self, now: float) -> str:
        """The wait as @fastify/rate-limit's message words it ("1 minute", "30 seconds")."""
        seconds = max(1, self.window.reset_in_ceil(now))
        for unit, size in (("hour", 3600), ("minute", 60)):
            if seconds >= size:
                count = round(seconds / size)
                return f"{count} {unit}" + ("s" if count != 1 else "")
        return f"{seconds} second" + ("s" if seconds != 1 else "")
