"""Seeded fault injection: the same seed gives the same faults in the same order.

One ``random.Random(seed)`` behind a lock draws exactly one number per eligible request,
in arrival order, so a run with the same seed and the same request sequence meets the
same faults. The number picks the kind (the rates are stacked intervals in :data:`KINDS`
order; past their sum: no fault) and, for injected 5xx, whether ``Retry-After: 1`` comes
along (where the number falls inside the kind's interval), so no second draw can shift
the sequence. Kinds in :data:`ONLY` exist for one provider; drawn for another one's
request they mean no fault (the draw is spent all the same, so the sequence holds).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from uploader.sandbox.knobs import SandboxConfig

# New kinds go at the end: the intervals before them, and so old seeded runs, stay put.
KINDS = (
    "500",
    "502",
    "503",
    "429",
    "drop_before",
    "drop_after",
    "slow",
    "bad_json",
    "html",
    "cdn_400",
    "forbidden_400",
    "over_capacity",
    "html_405",
)
SERVER_ERRORS = ("500", "502", "503")
# Imgur's own shapes (reference 1.2): kind -> the emulator prefix they belong to.
ONLY = dict.fromkeys(("cdn_400", "forbidden_400", "over_capacity", "html_405"), "/imgur")
# Answered by the emulator's fault_response() instead of handling the request.
REPLACING = (*SERVER_ERRORS, "429", "html", *ONLY)


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
        self.rates: list[tuple[str, float]] = [
            (kind, float(getattr(config, f"fault_{kind}"))) for kind in KINDS
        ]
        self.active = any(rate > 0 for _, rate in self.rates)

    def eligible(self, route_kind: str) -> bool:
        """Whether ``fault_routes`` covers a route of this kind ("upload", "get", "other")."""
        routes = self.config.fault_routes
        return "all" in routes or route_kind in routes

    def draw(self, route_kind: str, prefix: str = "") -> Fault | None:
        """The fault for this request to the emulator at ``prefix``, or None; draws only
        for eligible requests (and only when some rate is above 0)."""
        if not self.active or not self.eligible(route_kind):
            return None
        with self.lock:
            roll = self.rng.random()
        edge = 0.0
        for kind, rate in self.rates:
            if rate > 0 and roll < edge + rate:
                if ONLY.get(kind, prefix) != prefix:
                    return None
                within = (roll - edge) / rate  # uniform in [0, 1) again
                retry = kind in SERVER_ERRORS and within < self.config.fault_retry_after
                return Fault(kind, retry)
            edge += rate
        return None
