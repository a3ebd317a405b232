"""A fleet of hosts sharing one budget through Redis (issue 14), against the sandbox.

``--hosts`` processes (8), each with its own XDG_STATE_HOME, history and cache (separate
machines as far as the tool can tell), upload ``--files`` files each (30) at once, to one
sandbox whose POST bucket allows ``--limit`` per ``--window`` s (20 per 10 s; the user and
client buckets made large so only the POST bucket binds). With ``--backend redis`` they
share one redis-server started here (no persistence); with ``--backend file`` each keeps its
own state (the issue's "57 429s"). Reported: the 429s the sandbox served, the files
uploaded, and the wall against the window minimum: the last window opens
``(ceil(total / limit) - 1) * window`` s after the first POST, and its ``limit`` files then
go as fast as one unthrottled process sends that many (measured here); the "fleet
minimum" takes instead the time ``--hosts`` processes started at once take to send those
files unthrottled (their start-up on this machine included, as in the paced run).

``--race``: ``--hosts`` (4) hosts racing for the last client credits above the reserve: the
client bucket has 130 credits and each profile keeps 10 uploads (100 credits) in reserve, so
3 uploads may go; each host tries 2 with ``--on-limit fail``. Reported: uploads stored and
the client credits left (never below the reserve with Redis).

    python -m benchmarks.fleet [--backend redis|file] [--hosts 8 --files 30]
    python -m benchmarks.fleet --race [--backend redis|file] [--hosts 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import hermetic_env, median, time_process, uploader_command
from tests.support.images import write_png
from uploader.sandbox import Sandbox, SandboxConfig


@contextmanager
def redis_server() -> Iterator[str]:
    """A redis-server on a free port of 127.0.0.1, no persistence; its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    work = tempfile.mkdtemp(prefix="fleet-redis-")
    proc = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--daemonize", "no", "--dir", work),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def _config(root: Path, base_url: str, backend: str, reserve: int) -> Path:
    path = root / "config.toml"
    state = f'[state]\nbackend = "{backend}"\n' if backend != "file" else ""
    path.write_text(
        f'default_provider = "sb"\n[defaults]\nmax_wait = 120\n{state}'
        f'[providers.sb]\nkind = "imgur"\nclient_id = "bench"\nreserve_uploads = {reserve}\n'
        f'base_url = "{base_url}/imgur"\n'
    )
    return path


def _stats(base_url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{base_url}/_sandbox/stats", timeout=10) as resp:  # noqa: S310
        data: dict[str, object] = json.load(resp)
        return data


def _run_hosts(
    cli: list[str], config: Path, root: Path, batches: list[list[str]], *extra: str
) -> tuple[float, list[int], list[str]]:
    """Start one process per batch at once; wall until the last ends, exit codes, stderr."""
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [*cli, "-q", "--config", str(config), "upload", *extra, *files],
            env=hermetic_env(root / f"host{i}"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i, files in enumerate(batches)
    ]
    errors = [p.communicate(timeout=900)[1].decode(errors="replace") for p in procs]
    return time.perf_counter() - start, [p.returncode for p in procs], errors


def fleet(args: argparse.Namespace, cli: list[str], root: Path, backend: str) -> int:
    big = {"imgur_user_limit": 10**7, "imgur_client_limit": 10**8}
    limited = dataclasses.replace(
        SandboxConfig(), imgur_post_limit=args.limit, imgur_post_window=args.window, **big
    )
    unlimited = dataclasses.replace(SandboxConfig(), imgur_post_limit=10**7, **big)
    total = args.hosts * args.files
    files = [str(write_png(root / f"f{i:04}.png", seed=i)) for i in range(total)]
    with Sandbox(unlimited) as sandbox:
        config = _config(root, sandbox.base_url, "file", 0)
        burst = median(
            [
                time_process(
                    [*cli, "--config", str(config), "upload", *files[: args.limit]],
                    hermetic_env(root / f"free{run}"),
                )
                for run in range(3)
            ]
        )
        # The last window's files as the fleet sends them unthrottled: every host at once,
        # each its share (its start-up included, as in the paced run).
        share = [files[h : args.limit : args.hosts] for h in range(args.hosts)]
        fleet_burst = median(
            [_run_hosts(cli, config, root / f"fleetfree{run}", share)[0] for run in range(3)]
        )
    windows = (math.ceil(total / args.limit) - 1) * args.window
    minimum, fleet_minimum = windows + burst, windows + fleet_burst
    with Sandbox(limited) as sandbox:
        config = _config(root, sandbox.base_url, backend, 0)
        batches = [files[h * args.files : (h + 1) * args.files] for h in range(args.hosts)]
        wall, codes, _ = _run_hosts(cli, config, root / "paced", batches)
        stats = _stats(sandbox.base_url)
    print(
        f"backend={args.backend} hosts={args.hosts} files each={args.files} "
        f"POST bucket={args.limit}/{args.window:g}s load={os.getloadavg()[0]:.2f}"
    )
    print(f"unthrottled batch of {args.limit}: median {burst:.2f} s; minimum {minimum:.2f} s")
    print(
        f"unthrottled, {args.limit} files over {args.hosts} hosts at once: median "
        f"{fleet_burst:.2f} s; fleet minimum {fleet_minimum:.2f} s"
    )
    print(
        f"wall {wall:.2f} s; wall / minimum = {wall / minimum:.3f}; "
        f"wall / fleet minimum = {wall / fleet_minimum:.3f}"
    )
    print(
        f"uploaded {stats['uploads_stored']} of {total}; 429s served: "
        f"{stats['responses_429']}; exit codes {sorted(set(codes))}"
    )
    return 0 if stats["responses_429"] == 0 and stats["uploads_stored"] == total else 1


def race(args: argparse.Namespace, cli: list[str], root: Path, backend: str) -> int:
    # Answers take 0.5 s, as over a slow link: the hosts' cold starts overlap.
    limited = dataclasses.replace(SandboxConfig(), imgur_client_limit=130, latency=0.5)
    with Sandbox(limited) as sandbox:
        config = _config(root, sandbox.base_url, backend, 10)
        batches = [
            [str(write_png(root / f"h{h}f{i}.png", seed=100 * h + i)) for i in range(2)]
            for h in range(args.hosts)
        ]
        _, codes, _ = _run_hosts(cli, config, root / "race", batches, "--on-limit", "fail")
        stats = _stats(sandbox.base_url)
        ask = urllib.request.Request(  # noqa: S310 - the sandbox's http URL
            f"{sandbox.base_url}/imgur/3/credits", headers={"Authorization": "Client-ID bench"}
        )
        with urllib.request.urlopen(ask, timeout=10) as resp:  # noqa: S310
            left = json.load(resp)["data"]["ClientRemaining"]
    print(
        f"backend={args.backend} hosts={args.hosts}, 2 uploads each, client bucket 130, "
        f"reserve 100 (10 uploads), latency 0.5 s, load={os.getloadavg()[0]:.2f}"
    )
    print(
        f"uploads stored: {stats['uploads_stored']} (3 fit above the reserve); "
        f"client credits left: {left}; 429s: {stats['responses_429']}; "
        f"exit codes {sorted(codes)}"
    )
    return 0 if left >= 100 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("redis", "file"), default="redis")
    parser.add_argument("--race", action="store_true")
    parser.add_argument("--hosts", type=int, default=None)
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--window", type=float, default=10.0)
    args = parser.parse_args()
    args.hosts = args.hosts or (4 if args.race else 8)
    cli = uploader_command()
    with tempfile.TemporaryDirectory() as tmp:
        run = race if args.race else fleet
        if args.backend == "file":
            return run(args, cli, Path(tmp), "file")
        with redis_server() as url:
            return run(args, cli, Path(tmp), url)


if __name__ == "__main__":
    sys.exit(main())
