"""Reliability run (issue 4): 300 uploads through the real CLI into a faulty sandbox.

Faults (fixed seed): 10% 5xx (500/502/503, half with Retry-After), 5% dropped connections
(half after the upload was stored, half before), 5% 429 in Imgur's hidden-throttle shape,
2% answers slower than the client's 1 s read timeout. One `uploader upload -f json` batch.

Checks: every file has exactly one result line, with status uploaded, failed (with a
reason) or ambiguous; no uploaded file is missing from the sandbox or stored twice; the
sandbox's stored uploads minus the reported uploads equal the ambiguous files that the
sandbox did store (nothing duplicated or lost silently).

Signed in (issue 11): ``--signed-in`` uploads with a user token, so a lost answer is looked
for in the account's listing (and, when it cannot tell, once more at the end of the batch),
which lags ``--listing-lag`` seconds behind the uploads (the sandbox's ``listing_lag``);
drops are twice as frequent (5% after storing, 5% before) and the files come in pairs
with the same name and size (``dNN/shotK.png``) but other pixels.
It also counts uploads "reported as another file's upload" (the stored bytes of the
reported id are not the file's): must be 0.

Kill runs (issue 11): ``--kill-runs N`` instead starts N batches that are each killed with
``kill -9`` at a random moment (seeded) while requests are in flight, then uploads the files
the killed batch did not report with ``--on-limit fail`` into a POST bucket just big enough:
a credit still held by the dead process would stop it early. See :func:`kill_runs`.

Run: python -m benchmarks.reliability [--files 300 --seed 1]
     python -m benchmarks.reliability --signed-in --files 100 --listing-lag 2 --seed 1
     python -m benchmarks.reliability --kill-runs 5 --files 20 --seed 1
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import hermetic_env, uploader_command
from tests.support.e2e import write_config
from tests.support.images import write_png
from uploader.sandbox import Sandbox, SandboxConfig


def _png(path: Path, i: int) -> Path:
    """File ``i``: its own pixels (write_png's seed repeats every 256), the same size as
    file ``i ^ 1`` (the width changes only every 256 files)."""
    return write_png(path, width=8 + i // 256, seed=i % 256)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-runs", type=int, default=0, help="kill -9 runs instead")
    parser.add_argument("--signed-in", action="store_true")
    parser.add_argument("--listing-lag", type=float, default=2.0)
    args = parser.parse_args()
    if args.kill_runs:
        return kill_runs(args.kill_runs, min(args.files, 30), args.seed)
    drops = 0.05 if args.signed_in else 0.025
    config = SandboxConfig(
        seed=args.seed,
        fault_500=0.04,
        fault_502=0.03,
        fault_503=0.03,
        fault_retry_after=0.5,
        fault_drop_after=drops,
        fault_drop_before=drops,
        fault_429=0.05,
        fault_slow=0.02,
        slow_seconds=2.0,
        imgur_user_limit=10**6,
        imgur_client_limit=10**7,
        listing_lag=args.listing_lag if args.signed_in else 0.0,
    )
    with tempfile.TemporaryDirectory() as tmp, Sandbox(config) as sandbox:
        root = Path(tmp)
        env = hermetic_env(root)
        if args.signed_in:
            env["UPLOADER_SB_ACCESS_TOKEN"] = "reliability-user"
            files = []
            for i in range(args.files):
                folder = root / f"d{i % 2:02}"
                folder.mkdir(exist_ok=True)
                files.append(str(_png(folder / f"shot{i // 2:03}.png", i)))
        else:
            files = [str(_png(root / f"r{i:04}.png", i)) for i in range(args.files)]
        digests = {f: hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files}
        profile = root / "config.toml"
        profile.write_text(
            'default_provider = "sb"\n[defaults]\nread_timeout = 1\nmax_wait = 120\n'
            'retries = 4\nretry_max_time = 60\n[providers.sb]\nkind = "imgur"\n'
            f'client_id = "reliability"\nbase_url = "{sandbox.base_url}/imgur"\n'
        )
        started = time.perf_counter()
        done = subprocess.run(
            [*uploader_command(), "-q", "--config", str(profile), "upload", "-f", "json", *files],
            env=env,
            capture_output=True,
            timeout=3600,
            check=False,
        )
        wall = time.perf_counter() - started
        records = [json.loads(line) for line in done.stdout.decode().splitlines()]
        stats = sandbox.stats()
        kept = sandbox.uploads()
    # Counted by content: files in a pair share a name, never their bytes.
    stored = collections.Counter(u["sha256"] for u in kept)
    stored_by_id = {u["id"]: u["sha256"] for u in kept}
    misreported = [
        r["path"]
        for r in records
        if r["status"] == "uploaded" and stored_by_id.get(r["id"]) != digests.get(r["path"])
    ]
    by_status = collections.Counter(
        r["status"] + (" (ambiguous)" if r["ambiguous"] else "") for r in records
    )
    paths_out = [r["path"] for r in records]
    # "ambiguous": the answer of one attempt was lost, so the file may exist once or twice
    # (re-sent and "uploaded") or once or not at all ("failed").
    uploaded = [
        digests[r["path"]] for r in records if r["status"] == "uploaded" and not r["ambiguous"]
    ]
    ambiguous = [digests[r["path"]] for r in records if r["ambiguous"]]
    failed = [r for r in records if r["status"] == "failed"]
    lost = [
        r["path"] for r in records if r["status"] == "uploaded" and stored[digests[r["path"]]] == 0
    ]
    doubled = [n for n in uploaded if stored[n] > 1]
    ambiguous_stored = sum(stored[n] for n in ambiguous)
    total_stored = sum(stored.values())
    print(f"files: {args.files}  seed: {args.seed}  wall: {wall:.1f} s  exit: {done.returncode}")
    print(f"results: {dict(by_status)}  (lines: {len(records)})")
    print(f"faults injected: {stats['faults']}  429s served: {stats['responses_429']}")
    print(
        f"sandbox stored: {total_stored}  reported uploaded: {len(uploaded)}  "
        f"ambiguous: {len(ambiguous)} (of which stored: {ambiguous_stored})"
    )
    twice = sum(1 for count in stored.values() if count > 1)
    recovered = sum(1 for r in records if r.get("recovered"))
    print(f"uploaded but not stored: {len(lost)}  uploaded and stored twice: {len(doubled)}")
    print(
        f"recovered from the listing: {recovered}  files stored twice (any status): {twice}  "
        f"reported as another file's upload: {len(misreported)}"
    )
    for record in failed[:5]:
        print(f"  failed: {record['path']}: {record['error']}")
    ok = (
        paths_out == files
        and all(r["status"] in ("uploaded", "failed") for r in records)
        and all(r["error"] for r in failed)
        and not lost
        and not doubled
        and not misreported
        and total_stored - len(uploaded) == ambiguous_stored
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def kill_runs(runs: int, files: int, seed: int) -> int:
    """``runs`` batches of ``files`` uploads, each killed with SIGKILL mid-request.

    Each run has its own sandbox (answers 0.3 s late, so a request is in flight most of the
    time; POST bucket of ``files + 1``: every file once, plus the one upload a kill may leave
    stored but unreported, sent again) and its own state. The killed batch reports some;
    a second batch (``--on-limit fail``) sends the rest. Counted per run: files stored,
    reported, ambiguous, stored twice (a killed upload that the server stored, sent again:
    nobody could know), and refusals caused by credits a dead process held (must be 0).
    """
    import random
    import signal

    rng = random.Random(seed)
    totals: collections.Counter[str] = collections.Counter()
    ok = True
    for run in range(runs):
        config = SandboxConfig(
            seed=seed + run, latency=0.3, imgur_post_limit=files + 1, imgur_post_window=3600.0
        )
        with tempfile.TemporaryDirectory() as tmp, Sandbox(config) as sandbox:
            root = Path(tmp)
            env = hermetic_env(root)
            paths = [str(write_png(root / f"k{run}-{i:03}.png", seed=i)) for i in range(files)]
            profile = write_config(
                root / "config.toml",
                sandbox.base_url,
                client_id="kill",
                extra="reserve_uploads = 0\n",
            )
            base = [*uploader_command(), "-q", "--config", str(profile), "upload", "-f", "json"]
            victim = subprocess.Popen(
                [*base, *paths], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
            time.sleep(rng.uniform(1.0, 0.3 * files))
            victim.send_signal(signal.SIGKILL)
            out, _ = victim.communicate(timeout=60)
            first = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
            done = {r["path"] for r in first}
            rest = [p for p in paths if p not in done]
            # The killed batch may have finished first (-j sends several at once): then
            # there is nothing left to send, and `true` stands in for the second batch.
            second = subprocess.run(
                [*base, "--on-limit", "fail", *rest] if rest else ["true"],
                env=env,
                capture_output=True,
                timeout=600,
                check=False,
            )
            later = [json.loads(line) for line in second.stdout.decode().splitlines()]
            uploads = sandbox.uploads()
        stored = collections.Counter(u["name"] for u in uploads)
        ids = {u["id"]: u["name"] for u in uploads}
        records = first + later
        reported = {Path(r["path"]).name for r in records if r["status"] == "uploaded"}
        counts = {
            "files": files,
            "stored": len(stored),
            "reported": len(reported),
            "ambiguous": sum(1 for r in records if r["ambiguous"]),
            "stored twice": sum(1 for n in stored.values() if n > 1),
            "another file's upload": sum(
                1
                for r in records
                if r["status"] == "uploaded" and ids.get(r["id"]) != Path(r["path"]).name
            ),
            "held by the dead": second.stderr.decode().count("held by requests in flight"),
            "second exit": second.returncode,
        }
        totals.update({k: v for k, v in counts.items() if k != "second exit"})
        print(f"run {run}: killed after {len(first)} results; {counts}")
        ok = ok and counts["held by the dead"] == counts["another file's upload"] == 0
        ok = ok and second.returncode == 0
        ok = ok and reported == {Path(p).name for p in paths}  # every link known in the end
    print(f"total: {dict(totals)}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
