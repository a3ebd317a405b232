"""Pacing a batch into a small POST bucket: wall time against the theoretical minimum.

A sandbox allows --limit POSTs per --window seconds (user and client buckets made large so
only the POST bucket binds). One `uploader upload` process sends --files files. The fastest
any client can finish without a 429 is to send a full bucket in each window: the last
window opens (ceil(files/limit) - 1) * window seconds after the first POST, and then the
remaining files go as fast as an unthrottled batch of that size (measured here, median of
--runs whole-process runs). Target (issue 3): wall / minimum <= 1.05 with zero 429s.

Run: python -m benchmarks.paced_batch [--files 120 --limit 40 --window 10 --runs 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.common import hermetic_env, median, time_process, uploader_command
from tests.support.images import write_png
from uploader.sandbox import Sandbox, SandboxConfig


def _config(root: Path, base_url: str) -> Path:
    path = root / "config.toml"
    path.write_text(
        'default_provider = "sb"\n[defaults]\nmax_wait = 60\n'
        '[providers.sb]\nkind = "imgur"\nclient_id = "bench"\nreserve_uploads = 0\n'
        f'base_url = "{base_url}/imgur"\n'
    )
    return path


def _stats(base_url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{base_url}/_sandbox/stats", timeout=10) as resp:  # noqa: S310
        data: dict[str, object] = json.load(resp)
        return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    big = {"imgur_user_limit": 10**7, "imgur_client_limit": 10**8}
    limited = dataclasses.replace(
        SandboxConfig(), imgur_post_limit=args.limit, imgur_post_window=args.window, **big
    )
    unlimited = dataclasses.replace(SandboxConfig(), imgur_post_limit=10**7, **big)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = [str(write_png(root / f"f{i:03}.png", seed=i)) for i in range(args.files)]
        windows = math.ceil(args.files / args.limit)
        last_batch = args.files - (windows - 1) * args.limit
        cli = uploader_command()
        # The unthrottled cost of the last window's batch, whole process.
        burst: list[float] = []
        with Sandbox(unlimited) as sandbox:
            config = _config(root, sandbox.base_url)
            for run in range(args.runs):
                env = hermetic_env(root / f"free{run}")
                burst.append(
                    time_process(
                        [*cli, "--config", str(config), "upload", *files[:last_batch]], env
                    )
                )
        minimum = (windows - 1) * args.window + median(burst)
        walls: list[float] = []
        rejected: list[object] = []
        for run in range(args.runs):
            with Sandbox(limited) as sandbox:
                config = _config(root, sandbox.base_url)
                env = hermetic_env(root / f"paced{run}")
                start = time.perf_counter()
                time_process([*cli, "-q", "--config", str(config), "upload", *files], env)
                walls.append(time.perf_counter() - start)
                stats = _stats(sandbox.base_url)
                rejected.append(stats["responses_429"])
    wall = median(walls)
    print(f"files={args.files} bucket={args.limit}/{args.window:g}s runs={args.runs}")
    print(f"unthrottled batch of {last_batch}: median {median(burst):.2f} s")
    print(f"theoretical minimum: {minimum:.2f} s")
    print(f"paced wall: median {wall:.2f} s (runs: {', '.join(f'{w:.2f}' for w in walls)})")
    print(f"wall / minimum = {wall / minimum:.3f} (target <= 1.05)")
    print(f"429s served: {rejected}")
    ok = wall / minimum <= 1.05 and all(r == 0 for r in rejected)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
