"""The rate limiter's own cost per uploaded file, measured in-process.

One file costs the limiter one ``acquire`` (reserve Imgur's three buckets) and one
``settle`` (reconcile with the headers an Imgur answer carries): this times N such cycles
against a real :class:`~uploader.ratelimit.store.FileStateStore` on disk, with the real
clock and no sleeping (the buckets are far from spent), and reports the median per cycle
over several rounds. A whole process is too noisy for a figure this small.

``--others K`` adds K reservations held by a live process of this host (this script's
parent), as when K other ``uploader`` processes share the state: every transaction then
checks that their owner still runs.

``--backend redis://HOST:PORT/DB`` measures the Redis state store instead (issue 14): each
acquire and settle is then a load and a commit round trip (loopback here), the Lua scripts
run with EVALSHA. The key is deleted after the run.

    python -m benchmarks.limiter_cost [--cycles 2000] [--rounds 7] [--others 0] [--dir D]
                                      [--backend file|redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from uploader.ratelimit import owner as owners
from uploader.ratelimit.headers import imgur_updates
from uploader.ratelimit.limiter import BucketSpec, LimitPolicy, RateLimiter
from uploader.ratelimit.store import FileStateStore, StateStore

SPECS = (
    BucketSpec("user", "Imgur user bucket (per IP)", 500, 3600.0),
    BucketSpec("client", "Imgur client bucket (per app, daily)", 12500, 86400.0, reserve=100),
    BucketSpec("post", "Imgur POST bucket (per IP)", 1250, 3600.0),
)
UPLOAD = {"user": 10, "client": 10, "post": 1}
# Generous figures, as benchmarks/target.py sends them: nothing ever waits.
HEADERS = {
    "X-RateLimit-UserLimit": "1000000",
    "X-RateLimit-UserRemaining": "999000",
    "X-RateLimit-UserReset": "3600",
    "X-RateLimit-ClientLimit": "10000000",
    "X-RateLimit-ClientRemaining": "9990000",
    "X-Post-Rate-Limit-Limit": "1000000",
    "X-Post-Rate-Limit-Remaining": "999000",
    "X-Post-Rate-Limit-Reset": "3600",
}


OPTIONS = {"backend": "file"}  # --backend


def store_for(directory: Path) -> StateStore:
    if OPTIONS["backend"] == "file":
        return FileStateStore(directory)
    from uploader.ratelimit.redis_store import RedisStateStore

    return RedisStateStore(OPTIONS["backend"])


def limiter(directory: Path) -> RateLimiter:
    return RateLimiter(
        store_for(directory),
        "b" * 32,
        SPECS,
        LimitPolicy("wait", 300.0),
        provider_label="Imgur (benchmark)",
    )


def add_others(directory: Path, count: int) -> None:
    """``count`` long-lived reservations owned by the parent process (alive, not us)."""
    if not count:
        return
    here = owners.me()
    parent = os.getppid()
    stat = owners._stat(parent)
    holder = {**here, "pid": parent, "start": stat[1] if stat else None}

    def add(state: dict[str, Any], now: float) -> None:
        for i in range(count):
            state["reservations"].append(
                {"id": f"other{i}", "costs": {"post": 1}, "expires": now + 800, "owner": holder}
            )

    store_for(directory).update("b" * 32, add, time.time)


def one_round(directory: Path, cycles: int) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds per acquire + settle cycle over ``cycles``
    cycles. CPU time is the steadier figure on a shared machine."""
    lim = limiter(directory)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(cycles):
        reservation = lim.acquire(UPLOAD, pending=1)
        lim.settle(reservation, imgur_updates(HEADERS, time.time()))
    return (time.perf_counter() - start) / cycles, (time.process_time() - cpu) / cycles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--others", type=int, default=0)
    parser.add_argument(
        "--dir", type=Path, default=None, help="state directory (default: a temp dir)"
    )
    parser.add_argument("--backend", default="file", help="file, or a redis:// URL")
    args = parser.parse_args()
    OPTIONS["backend"] = args.backend
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp) / "ratelimit"
        one_round(directory, 20)  # warm up: the file exists, the modules are loaded
        add_others(directory, args.others)
        try:
            rounds = [one_round(directory, args.cycles) for _ in range(args.rounds)]
        finally:
            if OPTIONS["backend"] != "file":
                import redis

                from uploader.ratelimit.redis_store import PREFIX

                redis.Redis.from_url(OPTIONS["backend"]).delete(PREFIX + "b" * 32)
    walls, cpus = [w for w, _ in rounds], [c for _, c in rounds]
    print(f"backend={args.backend} cycles={args.cycles} rounds={args.rounds} others={args.others}")
    print(f"per file (acquire + settle): wall median {statistics.median(walls) * 1e3:.3f} ms")
    print(f"per file (acquire + settle): CPU median {statistics.median(cpus) * 1e3:.3f} ms")
    print("rounds wall (ms): " + ", ".join(f"{v * 1e3:.3f}" for v in walls))
    print("rounds CPU (ms): " + ", ".join(f"{v * 1e3:.3f}" for v in cpus))


if __name__ == "__main__":
    main()
