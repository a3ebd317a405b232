"""Seeded fault injection: the same seed gives the same faults in the same order."""

from __future__ import annotations

import random
import threading

from uploader.sandbox.knobs import SandboxConfig

KINDS = ("500", "502", "503", "429", "drop_before", "drop_after", "slow", "bad_json", "html")


class FaultPlan:
    """Draws exactly one number per eligible request, in arrival order."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)  # noqa: S311 - reproducibility, not secrecy
        self.lock = threading.Lock()
        self.rates = [
            ("500", config.fault_500),
            ("502", config.fault_502),
            ("503", config.fault_503),
            ("429", config.fault_429),
            ("drop_before", config.fault_drop_before),
            ("drop_after", config.fault_drop_after),
            ("slow", config.fault_slow),
            ("bad_json", config.fault_bad_json),
            ("html", config.fault_html),
        ]
        self.active = any(rate > 0 for _, rate in self.rates)

    def eligible(self, route_kind: str) -> bool:
        routes = self.config.fault_routes
        return "all" in routes or route_kind in routes

    def draw(self, route_kind: str) -> str | None:
        """The fault for this request, or None."""
        if not self.active or not self.eligible(route_kind):
            return None
        with self.lock:
            roll = self.rng.random()
        edge = 0.0
        for kind, rate in self.rates:
            edge += rate
            if roll < edge:
                return kind
        return None

    def with_retry_after(self, kind: str) -> bool:
        """Whether an injected 5xx carries Retry-After (its own seeded draw)."""
        with self.lock:
            return self.rng.random() < self.config.fault_retry_after
