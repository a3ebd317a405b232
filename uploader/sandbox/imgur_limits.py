"""Imgur's credit buckets and their headers (reference 1.10).

Three fixed-window tables: client credits per app (every Bearer token counts against one
fixed app key), user credits per (app, remote IP) and POST credits per remote IP. An
upload costs 10 user + 10 client credits and 1 POST credit; any other call 1 user + 1
client credit, plus 1 POST credit if it is a POST. A request the buckets cannot pay for
is refused whole (nothing is spent) and answered 429 in the configured shape, still with
the full headers. OAuth costs nothing; ``/3/credits`` costs ``imgur_credits_cost`` (0 by
default) and carries no headers. With ``imgur_upload_throttle`` set, a fourth table (per
IP) is the hidden upload throttle: uploads past it are refused although credits remain.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from uploader.sandbox.buckets import BucketTable
from uploader.sandbox.imgur_shapes import (
    COMMON,
    GATEWAY,
    JSON,
    concatenated_429,
    gateway_429,
    legacy,
    structured,
)
from uploader.sandbox.knobs import SandboxConfig
from uploader.sandbox.server import SandboxResponse

UPLOAD_COST = 10  # reference 1.10: "10 per upload"
BEARER_APP = "oauth-app"  # the one app every Bearer token belongs to in the sandbox

Headers = list[tuple[str, str]]


class ImgurLimits:
    """The buckets and what they say; thread-safe."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.client = BucketTable(config.imgur_client_limit, config.imgur_client_window)
        self.user = BucketTable(config.imgur_user_limit, config.imgur_user_window)
        self.post = BucketTable(config.imgur_post_limit, config.imgur_post_window)
        self.throttle = BucketTable(
            config.imgur_upload_throttle, config.imgur_upload_throttle_window
        )

    def charge(
        self, app: str, ip: str, *, upload: bool, post: bool, now: float, cost: int | None = None
    ) -> tuple[str | None, Headers]:
        """Spend the request's credits (``cost`` user and client credits; by default 10
        for an upload, else 1): (None, headers after spending), or (what refused it:
        "client", "user", "post" or "throttle"; headers as they stand) with nothing spent."""
        if cost is None:
            cost = UPLOAD_COST if upload else 1
        with self.lock:
            client = self.client.get(app)
            user = self.user.get(f"{app}|{ip}")
            posts = self.post.get(ip)
            throttle = self.throttle.get(ip) if upload and self.throttle.limit else None
            lacking: str | None = None
            if not client.can_take(cost, now):
                lacking = "client"
            elif not user.can_take(cost, now):
                lacking = "user"
            elif post and not posts.can_take(1, now):
                lacking = "post"
            elif throttle is not None and not throttle.can_take(1, now):
                lacking = "throttle"  # reference 1.10: credits left, refused all the same
            else:
                client.take(cost, now)
                user.take(cost, now)
                if post:
                    posts.take(1, now)
                if throttle is not None:
                    throttle.take(1, now)
            return lacking, self._headers(app, ip, now, post)

    def refund(self, app: str, ip: str, cost: int, now: float) -> Headers:
        """Give back ``cost`` user and client credits (not the POST credit) after an
        answer Imgur does not charge for; the headers after that."""
        with self.lock:
            for bucket in (self.client.get(app), self.user.get(f"{app}|{ip}")):
                bucket.used = max(0, bucket.used - cost)
            return self._headers(app, ip, now, True)

    def headers(self, app: str, ip: str, *, post: bool, now: float) -> Headers:
        """The rate-limit headers as they stand, without spending."""
        with self.lock:
            return self._headers(app, ip, now, post)

    def _headers(self, app: str, ip: str, now: float, post: bool) -> Headers:
        client = self.client.get(app)
        user = self.user.get(f"{app}|{ip}")
        if self.config.imgur_user_reset_format == "epoch":  # what the docs promise
            user_reset = str(int(user.reset_at(now)))
        else:  # what live servers send: the window length, 3600 (reference 1.10)
            user_reset = str(int(self.config.imgur_user_window))
        headers = [
            ("X-RateLimit-UserLimit", str(user.limit)),
            ("X-RateLimit-UserRemaining", str(user.remaining(now))),
            ("X-RateLimit-UserReset", user_reset),
            ("X-RateLimit-ClientLimit", str(client.limit)),
            ("X-RateLimit-ClientRemaining", str(client.remaining(now))),
            # Undocumented, always the window length (86400) in captures (reference 1.10).
            ("X-RateLimit-ClientReset", str(int(self.config.imgur_client_window))),
        ]
        if post:  # the Post headers come on POST responses only (reference 1.10)
            bucket = self.post.get(ip)
            # Whole seconds until the POST window ends, rounded UP ("seconds left; counts
            # down" in captures): now + value is never before the true reset, and a client
            # can narrow the true reset from successive observations of the countdown.
            headers += [
                ("X-Post-Rate-Limit-Limit", str(bucket.limit)),
                ("X-Post-Rate-Limit-Remaining", str(bucket.remaining(now))),
                ("X-Post-Rate-Limit-Reset", str(bucket.reset_in_ceil(now))),
            ]
        return headers

    def wait_for(self, which: str, ip: str, now: float) -> int:
        """Whole seconds until the POST window (or, for "throttle", the throttle's) ends."""
        with self.lock:
            table = self.throttle if which == "throttle" else self.post
            return table.get(ip).reset_in_ceil(now)

    def credits(self, app: str, ip: str, now: float) -> dict[str, Any]:
        """The ``GET /3/credits`` data (reference 1.8): PascalCase, UserReset an epoch."""
        with self.lock:
            client = self.client.get(app)
            user = self.user.get(f"{app}|{ip}")
            return {
                "UserLimit": user.limit,
                "UserRemaining": user.remaining(now),
                "UserReset": int(user.reset_at(now)),
                "ClientLimit": client.limit,
                "ClientRemaining": client.remaining(now),
            }

    def too_many(
        self,
        which: str,
        route: str,
        method: str,
        headers: Headers,
        *,
        wait: int = 0,
        throttle_shape: str | None = None,
    ) -> SandboxResponse:
        """The refusal for ``which`` ("client", "user", "post", "throttle") in the
        configured shape (reference 1.2 #3 gateway, #6 concatenated, #1 legacy), with the
        rate-limit headers and, faithfully, no Retry-After (reference 1.10). In the legacy
        era "post" and "throttle" are "uploading too fast" in ``imgur_throttle_shape``
        (or ``throttle_shape``): structured with HTTP 400 (1.2 #2), or a legacy 429."""
        shape = self.config.imgur_429_shape
        if shape == "gateway":
            return SandboxResponse(429, gateway_429(), [*COMMON, *GATEWAY, *headers])
        if shape == "concatenated":
            body = concatenated_429(route, method)
            return SandboxResponse(429, body, [*COMMON, *GATEWAY, *headers])
        if which in ("post", "throttle"):  # [OBS S20]
            minutes = max(1, math.ceil(wait / 60))
            message = f"You are uploading too fast. Please wait {minutes} more minutes."
            if (throttle_shape or self.config.imgur_throttle_shape) == "structured400":
                body = structured(429, message, route, method)  # [OBS S20, 3P S16]
                return SandboxResponse(400, body, [*COMMON, *JSON, *headers])
        elif which == "client":
            message = "Daily client requests exceeded"  # [OBS S13]
        else:
            message = "User request limit exceeded"  # GAP: no capture of this wording
        body = legacy(message, 429, route, method)
        return SandboxResponse(429, body, [*COMMON, *JSON, *headers])
