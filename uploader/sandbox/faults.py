"""Seeded fault injection: the same seed gives the same faults in the same order.

One ``random.Random(seed)`` behind a lock draws exactly one number per eligible request,
in arrival order, so a run with the same seed and the same request sequence meets the
same faults. The number picks the kind (the rates are stacked intervals in :data:`KINDS`
order; past their sum: no fault) and, for injected 5xx, whether ``Retry-After: 1`` comes
along (where the number falls inside the kind's interval), so no second draw can shift
the sequence.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from uploader.sandbox.knobs import SandboxConfig

KINDS = ("500", "502", "503", "429", "drop_before", "drop_after", "slow", "bad_json", "html")
SERVER_ERRORS = ("500", "502", "503")
# Answered by the emulator's fault_response() instead of handling the request.
REPLACING = (*SERVER_ERRORS, "429", "html")


@dataclass(frozen=True)
class Fault:
    """One injected fault: ``kind`` from :data:`KINDS`; ``retry_after`` is True when an
    injected 5xx must carry ``Retry-After: 1``."""

    kind: str
    retry_after: bool = False


class FaultPlan:
    """Which requests fail, and how (thread-safe)."""

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
        """Whether ``fault_routes`` covers a route of this kind ("upload", "get", "other")."""
        routes = self.config.fault_routes
        return "all" in routes or route_kind in routes

    def draw(self, route_kind: str) -> Fault | None:
        """The fault for this request, or None; draws only for eligible requests (and only
        when some rate is above 0)."""
        if not self.active or not self.eligible(route_kind):
            return None
        with self.lock:
            roll = self.rng.random()
        edge = 0.0
        for kind, rate in self.rates:
            if rate > 0 and roll < edge + rate:
                within = (roll - edge) / rate  # uniform in [0, 1) again
                retry = kind in SERVER_ERRORS and within < self.config.fault_retry_after
                return Fault(kind, retry)
            edge += rate
        return None
