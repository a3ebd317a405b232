"""One large upload: peak memory and CPU time of `uploader upload` against `curl -F`.

A PNG of --size MB (a header, then one private chunk: written in pieces, never held in
memory) goes to the lean target (benchmarks/target.py) once per run from each client, the
clients interleaved. For each child process: its peak resident set (``ru_maxrss`` from
``wait4``) and its CPU time (user + system). Medians of --runs. Targets (issue 13): peak
RSS under 40 MiB and CPU time at most 1.5x curl's.

``uploader --no-history`` is the same upload without the history's sha256 pass over the
file (``imaging/content.py``): what the sending itself costs. The last lines give the
floor of any upload that hashes the whole file: the uploader's start-up (the same upload of
a 1 MB file) plus a sha256 pass over the file in this Python, against curl's CPU.

Run: python -m benchmarks.large_upload [--size 500 --runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import compile_package, hermetic_env, median, uploader_command
from benchmarks.target import Target
from tests.support.images import write_sized_png


def _config(root: Path, base_url: str) -> Path:
    path = root / "config.toml"
    path.write_text(
        'default_provider = "lean"\n'
        '[providers.lean]\nkind = "imgur"\nclient_id = "bench"\nreserve_uploads = 0\n'
        f'base_url = "{base_url}"\nmax_image_size = {10**12}\n'
    )
    return path


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(peak RSS in MiB, CPU seconds, wall seconds) of one child process, from wait4."""
    start = time.perf_counter()
    devnull = subprocess.DEVNULL
    proc = subprocess.Popen(args, env=env, stdout=devnull, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()  # small; the child exits after writing it
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:3]}... exited {proc.returncode}: {err[-500:]!r}")
    return usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, wall


def hash_pass_cpu(path: Path) -> float:
    """CPU seconds of this process for a sha256 pass over ``path`` in 1 MiB reads (as the
    history's pass does)."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    digest = hashlib.sha256()
    with path.open("rb", buffering=0) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=500, help="file size in MB (10^6 bytes)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    curl = shutil.which("curl")
    with tempfile.TemporaryDirectory() as tmp, Target() as target:
        root = Path(tmp)
        image = write_sized_png(root / "large.png", args.size * 10**6)
        config = _config(root, target.url)
        env = hermetic_env(root / "env")
        ours = [*uploader_command(), "--config", str(config), "upload", str(image)]
        theirs = [curl or "curl", "-sS", "-o", "/dev/null", "-F", f"image=@{image};type=image/png"]
        theirs.append(f"{target.url}/3/image")
        bare = [*ours[:-1], "--no-history", str(image)]
        results: dict[str, list[tuple[float, float, float]]] = {
            "uploader": [],
            "uploader --no-history": [],
            "curl -F": [],
        }
        # Byte-compile the package as `pip install` does (this machine may set
        # PYTHONDONTWRITEBYTECODE: every run would compile from source), and warm the cache.
        compile_package(uploader_command())
        run_child(ours, env)
        for _ in range(args.runs):
            results["uploader"].append(run_child(ours, env))
            results["uploader --no-history"].append(run_child(bare, env))
            if curl:
                results["curl -F"].append(run_child(theirs, env))
        print(f"file: {image.stat().st_size / 2**20:.1f} MiB, runs={args.runs}")
        for name, rows in results.items():
            if not rows:
                print(f"{name:>21}: not installed")
                continue
            rss = median([r[0] for r in rows])
            cpu = median([r[1] for r in rows])
            wall = median([r[2] for r in rows])
            shown = ", ".join(f"{r[1]:.2f}" for r in rows)
            print(
                f"{name:>21}: peak RSS median {rss:6.1f} MiB, CPU median {cpu:6.2f} s "
                f"(runs {shown}), wall median {wall:6.2f} s"
            )
        small = write_sized_png(root / "small.png", 10**6)
        startup = median([run_child([*ours[:-1], str(small)], env)[1] for _ in range(args.runs)])
        hashing = median([hash_pass_cpu(image) for _ in range(args.runs)])
        print(f"start-up (1 MB upload): {startup:.2f} s CPU; sha256 pass: {hashing:.2f} s CPU")
        if results["curl -F"]:
            curl_cpu = median([r[1] for r in results["curl -F"]])
            for name in ("uploader", "uploader --no-history"):
                ratio = median([r[1] for r in results[name]]) / curl_cpu
                print(f"CPU {name} / curl -F = {ratio:.2f} (target <= 1.5)")
            floor = (startup + hashing) / curl_cpu
            print(f"floor (start-up + sha256 pass, nothing sent) / curl -F = {floor:.2f}")
            # The history knows a file by its sha256: this pass alone, against curl's whole run.
            print(f"sha256 pass alone / curl -F = {hashing / curl_cpu:.2f}")
        print(f"peak RSS target: < 40 MiB; target saw {target.stats()['posts']} uploads")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
