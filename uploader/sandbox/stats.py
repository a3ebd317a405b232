"""The sandbox's counters (``GET /_sandbox/stats``) and its request log."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    """Counters for /_sandbox/stats and the request log, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self.requests = 0
        self.responses_429 = 0
        self.not_modified = 0
        self.bytes_sent = 0
        self.by_status: Counter[str] = Counter()
        self.by_route: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.log: list[dict[str, Any]] = []

    def begin(self, entry: dict[str, Any]) -> None:
        """Log a request as it arrives (so a slow answer is already visible)."""
        with self.lock:
            self.requests += 1
            self.by_route[f"{entry['method']} {entry['path']}"] += 1
            self.log.append(entry)

    def record(self, entry: dict[str, Any], status: int | None, sent: int) -> None:
        """Complete a logged request with its answer (None: dropped without one)."""
        with self.lock:
            self.bytes_sent += sent
            if status is not None:
                self.by_status[str(status)] += 1
                self.responses_429 += status == 429
                self.not_modified += status == 304
            entry["status"] = status
