"""The limiter needs only the StateStore interface: any backend with ``update`` and
``read`` carries its state (Redis is another); the file store is one of them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from uploader.models import BucketUpdate
from uploader.ratelimit.limiter import BucketSpec, LimitPolicy, RateLimiter
from uploader.ratelimit.store import FileStateStore, StateStore, clean_state, empty_state

NOW = 1_785_000_000.0
T = TypeVar("T")
POST = BucketSpec("post", "Imgur POST bucket (per IP)", 1250, 3600.0)


class MemoryStore:
    """A second backend: a dict, saved only when a transaction ends without an error."""

    def __init__(self) -> None:
        self.saved: dict[str, dict[str, Any]] = {}
        self.transactions = 0

    def update(
        self, key: str, fn: Callable[[dict[str, Any], float], T], clock: Callable[[], float]
    ) -> T:
        self.transactions += 1
        state = copy.deepcopy(self.saved.get(key)) or empty_state()
        result = fn(state, clock())
        self.saved[key] = clean_state(state) or empty_state()
        return result

    def read(self, key: str) -> dict[str, Any]:
        return copy.deepcopy(self.saved.get(key)) or empty_state()


def _limiter(store: StateStore) -> RateLimiter:
    return RateLimiter(store, "key", (POST,), LimitPolicy(), provider_label="T", clock=lambda: NOW)


@pytest.mark.parametrize("backend", ["memory", "file"])
def test_the_limiter_keeps_its_state_in_whatever_store_it_is_given(
    backend: str, tmp_path: Path
) -> None:
    store: StateStore = MemoryStore() if backend == "memory" else FileStateStore(tmp_path)
    limiter = _limiter(store)
    held = limiter.acquire({"post": 1})
    assert [r["costs"] for r in store.read("key")["reservations"]] == [{"post": 1}]
    limiter.settle(held, [BucketUpdate("post", 1250, 1000, NOW + 60)])
    state = store.read("key")
    assert state["reservations"] == []
    assert state["buckets"]["post"]["remaining"] == 1000
    # A fresh limiter over the same store (another process) sees what the first learnt.
    (seen,) = _limiter(store).states()
    assert (seen.remaining, seen.reset_at) == (1000, NOW + 60)


def test_every_change_goes_through_a_transaction() -> None:
    store = MemoryStore()
    limiter = _limiter(store)
    limiter.release(limiter.acquire({"post": 1}))
    limiter.record([BucketUpdate("post", 1250, 10, None)], source="live")
    assert store.transactions == 3
    assert store.read("key")["buckets"]["post"]["remaining"] == 10
