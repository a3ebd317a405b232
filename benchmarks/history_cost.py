"""What the history costs (issue 12, "Performance"), whole processes against the sandbox.

1. The journal: a batch of ``--files`` (200) uploads with the history and with
   ``--no-history``, alternating, ``--repeat`` times each, each run with a fresh history;
   the medians, their ratio and the cost per file (target: at most 1 ms per file).
2. ``--skip-existing`` over ``--existing`` (1,000) files already uploaded: the whole process,
   median of ``--repeat`` runs (target: under 1.5 s in total, and no request sent).

Run: python -m benchmarks.history_cost --files 200 --existing 1000 --repeat 5
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import hermetic_env, median, time_process, uploader_command
from tests.support.e2e import write_config
from tests.support.images import write_png
from uploader.sandbox import Sandbox, SandboxConfig


def _files(folder: Path, count: int, offset: int = 0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        str(
            write_png(
                folder / f"{i:04}.png", width=8 + (i + offset) // 256, seed=(i + offset) % 256
            )
        )
        for i in range(count)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--existing", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    limits = SandboxConfig(imgur_post_limit=10**7, imgur_user_limit=10**7, imgur_client_limit=10**8)
    ok = True
    with tempfile.TemporaryDirectory() as tmp, Sandbox(limits) as sandbox:
        root = Path(tmp)
        env = hermetic_env(root)
        config = write_config(root / "config.toml", sandbox.base_url, client_id="bench")
        base = [*uploader_command(), "-q", "--config", str(config), "upload"]
        batch = _files(root / "batch", args.files)
        data = Path(env["XDG_DATA_HOME"])
        with_history: list[float] = []
        without: list[float] = []
        for _ in range(args.repeat):
            shutil.rmtree(data, ignore_errors=True)
            with_history.append(time_process([*base, *batch], env))
            without.append(time_process([*base, "--no-history", *batch], env))
        on, off = median(with_history), median(without)
        per_file_ms = (on - off) / args.files * 1000
        print(f"{args.files}-file batch, history on:  median {on * 1000:.0f} ms")
        print(f"{args.files}-file batch, history off: median {off * 1000:.0f} ms")
        print(
            f"on / off = {on / off:.3f}; journal cost {per_file_ms:.2f} ms per file (target <= 1)"
        )
        ok = ok and per_file_ms <= 1.0

        shutil.rmtree(data, ignore_errors=True)
        existing = _files(root / "existing", args.existing, offset=args.files)
        time_process([*base, *existing], env)
        before = len(sandbox.requests())
        skips = [
            time_process([*base, "--skip-existing", *existing], env) for _ in range(args.repeat)
        ]
        sent = len(sandbox.requests()) - before
        total = median(skips)
        print(
            f"--skip-existing over {args.existing} uploaded files: median {total * 1000:.0f} ms"
            f" (target < 1500), requests sent: {sent}"
        )
        ok = ok and total < 1.5 and sent == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - start:.0f} s)")
    sys.exit(code)
