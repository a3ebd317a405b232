"""Resume after kill -9 (issue 12): a batch killed at a random moment, rerun with
``--skip-existing``, stores each file exactly once, or reports it ambiguous.

Each run has its own sandbox (answers ``--latency`` s late, so a body or an answer is on
the wire most of the time) and its own history and state. A batch of ``--files`` uploads
(anonymous: the listing cannot settle anything, the hardest case) is killed with SIGKILL
at a random moment (seeded), then the same command runs again over the same files.

Counted per run: files, stored (distinct contents on the server), reported (uploaded or
existing in the second run), ambiguous (said so in the second run), stored twice, stored
twice unreported (a file stored twice whose record does not say it may be: must be 0),
reported as another file's upload (must be 0), and the second run's exit code.

Run: python -m benchmarks.resume --runs 20 --files 100 --seed 1
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import hermetic_env, uploader_command
from tests.support.e2e import write_config
from tests.support.images import write_png
from uploader.sandbox import Sandbox, SandboxConfig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    totals: collections.Counter[str] = collections.Counter()
    ok = True
    for run in range(args.runs):
        counts, stderr = one_run(run, args.files, args.seed, args.latency, rng)
        print(f"run {run}: {counts}")
        if counts["second exit"] not in (0, 5, 6):
            print(f"  second run's stderr: {stderr[-1500:]!r}")
            ok = False
        totals.update({k: v for k, v in counts.items() if k not in ("second exit", "killed at")})
        ok = ok and counts["stored twice unreported"] == counts["another file's upload"] == 0
        ok = ok and counts["reported"] + counts["ambiguous"] == args.files
    print(f"total: {dict(totals)}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def one_run(
    run: int, files: int, seed: int, latency: float, rng: random.Random
) -> tuple[dict[str, float | int], str]:
    config = SandboxConfig(
        seed=seed + run,
        latency=latency,
        imgur_user_limit=10**6,
        imgur_client_limit=10**7,
        imgur_post_limit=10**4,
    )
    with tempfile.TemporaryDirectory() as tmp, Sandbox(config) as sandbox:
        root = Path(tmp)
        env = hermetic_env(root)
        paths = [
            str(write_png(root / f"r{run}-{i:03}.png", width=8 + i // 256, seed=i % 256))
            for i in range(files)
        ]
        profile = write_config(root / "config.toml", sandbox.base_url, client_id="resume")
        command = [
            *uploader_command(),
            "-q",
            "--config",
            str(profile),
            "upload",
            "-f",
            "json",
            "--skip-existing",
            *paths,
        ]
        victim = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        killed_at = rng.uniform(0.3, latency * files * 1.2 + 0.5)
        time.sleep(killed_at)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=60)
        second = subprocess.run(command, env=env, capture_output=True, timeout=900, check=False)
        records = [json.loads(line) for line in second.stdout.decode().splitlines()]
        uploads = sandbox.uploads()
        digests = {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}
    stored = collections.Counter(u["sha256"] for u in uploads)
    owner = {u["id"]: u["sha256"] for u in uploads}
    ambiguous = {r["path"] for r in records if r["ambiguous"]}
    reported = [r for r in records if r["status"] in ("uploaded", "existing")]
    counts: dict[str, float | int] = {
        "killed at": round(killed_at, 2),
        "files": files,
        "stored": len(stored),
        "reported": sum(1 for r in reported if not r["ambiguous"]),
        "ambiguous": len(ambiguous),
        "stored twice": sum(1 for n in stored.values() if n > 1),
        "stored twice unreported": sum(
            1 for p in paths if stored[digests[p]] > 1 and p not in ambiguous
        ),
        "another file's upload": sum(
            1 for r in reported if owner.get(r["id"]) != digests.get(r["path"])
        ),
        "second exit": second.returncode,
    }
    return counts, second.stderr.decode(errors="replace")


if __name__ == "__main__":
    sys.exit(main())
