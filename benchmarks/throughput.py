"""Batch throughput against the lean target (benchmarks/target.py), in files per second.

--files PNGs of --size bytes each go to the target, with --latency seconds added to every
answer (default: 0.05 and 0, one table each), by:

- ``uploader upload`` of them all in one process (sequential: ``-j 1``; with ``-j 8`` too
  when the installed CLI has ``--jobs``: found in ``uploader upload --help``);
- 8 ``uploader upload`` processes at once, each a slice of the files, sharing the limiter
  state as they do for a user;
- ``curl -Z --parallel-max 8`` (one curl, every file a transfer);
- ``xargs -P8 curl`` (one curl per file, 8 at a time);
- bare httpx: one Python process, one ``httpx.Client``, 8 threads each posting a file's
  bytes (no limiter, history or checks): the ceiling of any client that sends from Python
  threads through httpx, as ``uploader upload -j 8`` does;
- bare pycurl (only when pycurl is installed in this Python): the same over libcurl;
- the ceiling: files / (this Python's start-up with httpx imported + ceil(files / 8) x
  latency), the most any client over httpx could do with every other cost zero.

Each figure is files / wall seconds, median of --runs; every uploader run gets a fresh
state, history and cache (a hermetic XDG tree). Then the paced case: --paced-files files
into a POST bucket of --bucket per --window s that the target enforces (429 beyond it,
truthful headers), ``uploader upload`` (with ``-j 8`` when it exists): wall against the
window minimum ((ceil(files/bucket) - 1) windows plus an unthrottled batch of the last
window's files, measured), and the 429s the target served.

Run: python -m benchmarks.throughput [--runs 3] [--latency 0.05 --latency 0] [--skip-paced]
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.common import compile_package, hermetic_env, median, uploader_command
from benchmarks.target import Target
from tests.support.images import write_sized_png

PARALLEL = 8
# The floor of a Python client: httpx alone, N threads over one client, nothing else.
_BARE_HTTPX = """
import sys
from concurrent.futures import ThreadPoolExecutor
import httpx
url, jobs, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
client = httpx.Client(limits=httpx.Limits(max_connections=jobs))
def one(path):
    with open(path, "rb") as stream:
        data = stream.read()
    files = {"image": ("a.png", data, "image/png")}
    client.post(url, files=files, headers={"Authorization": "Client-ID bench"}).raise_for_status()
with ThreadPoolExecutor(jobs) as pool:
    list(pool.map(one, paths))
"""

# The same from libcurl's side (pycurl, when installed: not a dependency of the product):
# what a Python client whose transport is native code could reach.
_BARE_PYCURL = """
import sys, threading
from concurrent.futures import ThreadPoolExecutor
import pycurl
url, jobs, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
local = threading.local()
def one(path):
    if not hasattr(local, "curl"):
        local.curl = pycurl.Curl()
    curl = local.curl
    with open(path, "rb") as stream:
        data = stream.read()
    part = ("image", (pycurl.FORM_BUFFER, "a.png", pycurl.FORM_BUFFERPTR, data,
                      pycurl.FORM_CONTENTTYPE, "image/png"))
    curl.setopt(pycurl.URL, url)
    curl.setopt(pycurl.HTTPHEADER, ["Authorization: Client-ID bench"])
    curl.setopt(pycurl.HTTPPOST, [part])
    curl.setopt(pycurl.WRITEFUNCTION, len)
    curl.perform()
    assert curl.getinfo(pycurl.RESPONSE_CODE) == 200
with ThreadPoolExecutor(jobs) as pool:
    list(pool.map(one, paths))
"""


def has_pycurl() -> bool:
    found = subprocess.run(
        [sys.executable, "-c", "import pycurl"], capture_output=True, check=False
    )
    return found.returncode == 0


def _config(root: Path, base_url: str) -> Path:
    path = root / f"config-{abs(hash(base_url))}.toml"
    path.write_text(
        'default_provider = "lean"\n[defaults]\nmax_wait = 120\n'
        '[providers.lean]\nkind = "imgur"\nclient_id = "bench"\nreserve_uploads = 0\n'
        f'base_url = "{base_url}"\n'
    )
    return path


def _run(args: Sequence[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(list(args), capture_output=True, env=env, check=False, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{list(args)[:4]}... exited {done.returncode}: {done.stderr[-400:]!r}")


def has_jobs() -> bool:
    shown = subprocess.run(
        [*uploader_command(), "upload", "--help"], capture_output=True, text=True, check=False
    ).stdout
    return "--jobs" in shown


class Bench:
    def __init__(self, root: Path, files: list[str]) -> None:
        self.root, self.files = root, files
        self.cli = uploader_command()
        self.curl = shutil.which("curl")
        self.count = 0

    def env(self) -> dict[str, str]:
        self.count += 1
        return hermetic_env(self.root / f"env{self.count}")

    def uploader(self, url: str, files: Sequence[str], jobs: int | None = None) -> None:
        extra = ["-j", str(jobs)] if jobs else []
        config = _config(self.root, url)
        _run([*self.cli, "--config", str(config), "upload", *extra, *files], self.env())

    def processes(self, url: str, files: Sequence[str]) -> None:
        config, env = _config(self.root, url), self.env()  # one state: shared, as for a user
        slices = [files[i::PARALLEL] for i in range(PARALLEL)]
        procs = [
            subprocess.Popen(
                [*self.cli, "--config", str(config), "upload", *part],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for part in slices
            if part
        ]
        failed = [p for p in procs if p.wait(timeout=900) != 0]
        for proc in procs:
            assert proc.stderr is not None
            proc.stderr.close()
        if failed:
            raise RuntimeError(f"{len(failed)} uploader processes failed")

    def curl_parallel(self, url: str, files: Sequence[str]) -> None:
        args = [self.curl or "curl", "-Z", "--parallel-max", str(PARALLEL)]
        for index, name in enumerate(files):
            if index:
                args.append("--next")
            args += ["-sS", "-o", "/dev/null", "-F", f"image=@{name};type=image/png"]
            args.append(f"{url}/3/image")
        _run(args)

    def bare_httpx(self, url: str, files: Sequence[str]) -> None:
        _run([sys.executable, "-c", _BARE_HTTPX, f"{url}/3/image", str(PARALLEL), *files])

    def bare_pycurl(self, url: str, files: Sequence[str]) -> None:
        _run(
            [
                sys.executable,
                "-W",
                "ignore",
                "-c",
                _BARE_PYCURL,
                f"{url}/3/image",
                str(PARALLEL),
                *files,
            ]
        )

    def xargs_curl(self, url: str, files: Sequence[str]) -> None:
        command = [
            "xargs",
            f"-P{PARALLEL}",
            "-I{}",
            self.curl or "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-F",
            "image=@{};type=image/png",
            f"{url}/3/image",
        ]
        done = subprocess.run(
            command, input="\n".join(files).encode(), capture_output=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"xargs curl exited {done.returncode}: {done.stderr[-400:]!r}")


def _timed(action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def start_up(runs: int) -> float:
    """Median wall seconds of this Python starting and importing httpx, nothing sent: what
    any client over httpx pays once per process before its first file."""
    command = [sys.executable, "-c", "import httpx"]
    return median([_timed(lambda: _run(command)) for _ in range(runs)])


def ceiling(files: int, latency: float, started: float) -> float:
    """The most files/s a process that needs ``started`` seconds to start, with PARALLEL
    files in flight and each answer ``latency`` late, can reach (every other cost zero)."""
    return files / (started + math.ceil(files / PARALLEL) * latency)


def throughput(bench: Bench, latency: float, runs: int, jobs: bool) -> None:
    files = bench.files
    modes: dict[str, Callable[[str], None]] = {
        "uploader upload (sequential)": lambda url: bench.uploader(url, files, 1 if jobs else None),
    }
    if jobs:
        modes[f"uploader upload -j {PARALLEL}"] = lambda url: bench.uploader(url, files, PARALLEL)
    modes[f"{PARALLEL} uploader processes"] = lambda url: bench.processes(url, files)
    if bench.curl:
        modes[f"curl -Z --parallel-max {PARALLEL}"] = lambda url: bench.curl_parallel(url, files)
        modes[f"xargs -P{PARALLEL} curl"] = lambda url: bench.xargs_curl(url, files)
    modes[f"bare httpx, {PARALLEL} threads"] = lambda url: bench.bare_httpx(url, files)
    if has_pycurl():
        modes[f"bare pycurl, {PARALLEL} threads"] = lambda url: bench.bare_pycurl(url, files)
    rates: dict[str, list[float]] = {name: [] for name in modes}
    with Target(latency=latency) as target:
        for _ in range(runs):  # interleaved, so that machine noise hits every mode alike
            for name, action in modes.items():
                rates[name].append(len(files) / _timed(lambda a=action: a(target.url)))
    print(f"\n{len(files)} files, latency {latency * 1000:.0f} ms, runs={runs} (files/s)")
    for name, values in rates.items():
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name:<32} median {median(values):7.1f}   (runs {shown})")
    if bench.curl:
        ours = median(rates["uploader upload (sequential)"])
        best = f"uploader upload -j {PARALLEL}"
        if best in rates:
            ours = median(rates[best])
        curl = median(rates[f"curl -Z --parallel-max {PARALLEL}"])
        label = best if best in rates else "uploader upload (sequential)"
        print(f"  {label} / curl -Z = {ours / curl:.2f}")
        bare = median(rates[f"bare httpx, {PARALLEL} threads"])
        print(f"  {label} / bare httpx = {ours / bare:.2f}", end="; ")
        print(f"bare httpx / curl -Z = {bare / curl:.2f}")
        started = start_up(runs)
        best_case = ceiling(len(files), latency, started)
        print(
            f"  ceiling of a Python client over httpx (start-up {started * 1000:.0f} ms, then "
            f"{PARALLEL} in flight, nothing else): {best_case:.1f} files/s = "
            f"{best_case / curl:.2f} of curl -Z"
        )


def paced(bench: Bench, args: argparse.Namespace, jobs: bool) -> None:
    files = bench.files[: args.paced_files]
    windows = math.ceil(len(files) / args.bucket)
    last = files[(windows - 1) * args.bucket :]
    extra = PARALLEL if jobs else None
    with Target() as free:
        burst = [_timed(lambda: bench.uploader(free.url, last, extra)) for _ in range(args.runs)]
    minimum = (windows - 1) * args.window + median(burst)
    walls, served = [], []
    for _ in range(args.runs):
        with Target(post_limit=args.bucket, post_window=args.window) as target:
            walls.append(_timed(lambda t=target: bench.uploader(t.url, files, extra)))
            served.append(target.stats()["rejected"])
    how = f"-j {PARALLEL}" if jobs else "sequential"
    print(f"\n{len(files)} files into {args.bucket} POSTs per {args.window:g} s ({how}):")
    print(f"  unthrottled batch of {len(last)}: median {median(burst):.2f} s")
    print(f"  window minimum: {minimum:.2f} s")
    print(f"  wall: median {median(walls):.2f} s (runs {', '.join(f'{w:.2f}' for w in walls)})")
    print(f"  wall / minimum = {median(walls) / minimum:.3f} (target <= 1.05); 429s: {served}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--size", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, action="append", default=None)
    parser.add_argument("--paced-files", type=int, default=120)
    parser.add_argument("--bucket", type=int, default=40)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--skip-paced", action="store_true")
    args = parser.parse_args()
    jobs = has_jobs()
    compile_package(uploader_command())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with ThreadPoolExecutor(4) as pool:
            paths = list(
                pool.map(
                    lambda i: str(write_sized_png(root / f"f{i:03}.png", args.size, seed=i)),
                    range(max(args.files, args.paced_files)),
                )
            )
        bench = Bench(root, paths[: args.files])
        print(f"uploader has --jobs: {jobs}; curl: {bench.curl or 'not installed'}")
        for latency in args.latency or [0.05, 0.0]:
            throughput(bench, latency, args.runs, jobs)
        if not args.skip_paced:
            bench.files = paths
            paced(bench, args, jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
