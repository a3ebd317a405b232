"""Cold start for hotkeys: whole-process medians against a bare httpx one-liner.

Measures (each the median of --runs whole-process runs, interleaved so machine noise hits
both sides alike):
  * `uploader --version`
  * `uploader upload` of one 300 KB PNG to a running sandbox
  * baseline: `python -c "import httpx; httpx.post(...)"` doing the same multipart upload
Target (issues 2 and 10): upload / baseline <= 0.85, and `--version` no slower than before.

Run: python -m benchmarks.startup [--runs 15] [--python VENV/bin/python] [--instructions]

``--instructions`` counts the instructions of each process under valgrind's callgrind
(``--runs`` of them, default 3 with this flag) instead of timing it: a repeatable figure on a
machine whose timings are noisy, for comparing two versions of the code.

``--python`` measures another environment's ``uploader`` and httpx, e.g. a venv made with a
plain ``pip install .`` (what a user has: no dev tools, so httpx's optional CLI imports
less there than in the dev venv). The sandbox always runs in this process.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks.common import (
    compile_package,
    count_instructions,
    hermetic_env,
    median,
    time_process,
    uploader_command,
)
from tests.support.e2e import write_config
from tests.support.images import write_sized_png
from uploader.sandbox import Sandbox, SandboxConfig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=None, help="15 (timed) or 3 (--instructions)")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions under valgrind's callgrind instead of timing",
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter of the venv to time")
    parser.add_argument(
        "--no-gc-policy",
        action="store_true",
        help="run uploader.cli:main directly, without the console's collector policy "
        "(uploader/gcpolicy.py), to see what that policy is worth",
    )
    args = parser.parse_args()
    runs = args.runs or (3 if args.instructions else 15)
    python = Path(args.python)
    # Buckets far larger than the runs spend: this measures start-up, not waiting.
    knobs = SandboxConfig(
        imgur_user_limit=1_000_000, imgur_client_limit=10_000_000, imgur_post_limit=1_000_000
    )
    with tempfile.TemporaryDirectory() as tmp, Sandbox(knobs) as sandbox:
        root = Path(tmp)
        env = hermetic_env(root)
        image = write_sized_png(root / "shot.png", 300 * 1024)
        config = write_config(root / "config.toml", sandbox.base_url, client_id="bench")
        cli = uploader_command(python)
        if args.no_gc_policy:
            cli = [str(python), "-c", "import sys; from uploader.cli import main; main()"]
        upload = [*cli, "--config", str(config), "upload", str(image)]
        version = [*cli, "--version"]
        baseline = [
            str(python),
            "-c",
            "import httpx, sys; "
            f"r = httpx.post({sandbox.base_url + '/imgur/3/image'!r}, "
            "headers={'Authorization': 'Client-ID bench'}, "
            f"files={{'image': ('shot.png', open({str(image)!r}, 'rb'), 'image/png')}}); "
            "r.raise_for_status(); print(r.json()['data']['link'])",
        ]
        compile_package([str(python), "-m", "uploader"])
        for warm in (upload, baseline, version):  # fill the page cache
            time_process(warm, env)
        measure = count_instructions if args.instructions else time_process
        times: dict[str, list[float]] = {"version": [], "upload": [], "baseline": []}
        for _ in range(runs):
            times["baseline"].append(measure(baseline, env))
            times["upload"].append(measure(upload, env))
            times["version"].append(measure(version, env))
    medians = {name: median(values) for name, values in times.items()}
    print(f"interpreter: {python}")
    print(f"runs per command: {runs}")
    for name in ("version", "upload", "baseline"):
        if args.instructions:
            print(f"{name:>9}: median {medians[name] / 1e6:7.1f} M instructions")
        else:
            print(f"{name:>9}: median {medians[name] * 1000:7.1f} ms")
    ratio = medians["upload"] / medians["baseline"]
    print(f"upload / baseline = {ratio:.2f} (target <= 0.85)")
    print(f"version / baseline = {medians['version'] / medians['baseline']:.2f}")
    return 0 if ratio <= 0.85 else 1


if __name__ == "__main__":
    sys.exit(main())
