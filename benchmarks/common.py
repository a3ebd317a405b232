"""Shared pieces of the benchmark scripts: timing whole processes, medians, a sandbox."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def uploader_command(python: Path | None = None) -> list[str]:
    """The console script installed next to ``python`` (default: this interpreter): what a
    hotkey runs."""
    interpreter = python or Path(sys.executable)
    script = interpreter.with_name("uploader")
    if script.exists():
        return [str(script)]
    if python is None and (found := shutil.which("uploader")):
        return [found]
    return [str(interpreter), "-m", "uploader"]


def time_process(args: Sequence[str], env: Mapping[str, str] | None = None) -> float:
    """Wall time of one whole process; raises if it fails."""
    start = time.perf_counter()
    done = subprocess.run(
        list(args), capture_output=True, env=dict(env or os.environ), check=False, timeout=120
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{args[:3]}... exited {done.returncode}: {done.stderr[-500:]!r}")
    return elapsed


def count_instructions(args: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    """Instructions one whole process executes, counted by valgrind's callgrind: unlike
    wall time, the same for the same binary and inputs whatever else the machine does."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *args],
        capture_output=True,
        env=dict(env or os.environ),
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[:3]}... exited {done.returncode}: {done.stderr[-500:]!r}")
    for line in done.stderr.decode(errors="replace").splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1].strip())
    raise RuntimeError("valgrind printed no instruction count")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def hermetic_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")}
    for name, sub in (
        ("HOME", "home"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_DATA_HOME", "data"),
    ):
        path = root / sub
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    return env


def compile_package(cli: Sequence[str]) -> None:
    """Byte-compile the ``uploader`` package that ``cli`` (:func:`uploader_command`) runs,
    as ``pip install`` does (this machine may set PYTHONDONTWRITEBYTECODE: every run would
    compile it)."""
    python = Path(cli[0]).with_name("python") if len(cli) == 1 else Path(cli[0])
    package = subprocess.run(
        [str(python), "-c", "import uploader, os; print(os.path.dirname(uploader.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run([str(python), "-m", "compileall", "-q", package], check=True)
