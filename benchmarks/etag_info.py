"""ETag revalidation (issue 5): `uploader info` for 50 ids, twice.

Uploads --count images to the sandbox's Imgur once, then runs `uploader info ID --json` for
every id in two passes (whole processes, one per lookup). The sandbox counts the response
body bytes it sent; the second pass is answered with 304s from the cached ETags.
Target: second pass <= 10% of the first pass's body bytes.

Run: python -m benchmarks.etag_info [--count 50]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import hermetic_env, uploader_command
from tests.support.e2e import write_config
from tests.support.images import write_png
from uploader.sandbox import Sandbox, SandboxConfig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    config_knobs = SandboxConfig(imgur_user_limit=10**6, imgur_client_limit=10**7)
    with tempfile.TemporaryDirectory() as tmp, Sandbox(config_knobs) as sandbox:
        root = Path(tmp)
        env = hermetic_env(root)
        config = write_config(root / "config.toml", sandbox.base_url, client_id="etag")
        cli = [*uploader_command(), "--config", str(config)]
        files = [str(write_png(root / f"e{i:03}.png", seed=i)) for i in range(args.count)]
        done = subprocess.run(
            [*cli, "upload", "-f", "json", *files],
            env=env,
            capture_output=True,
            check=True,
            timeout=600,
        )
        ids = [json.loads(line)["id"] for line in done.stdout.decode().splitlines()]
        passes: list[tuple[int, int]] = []
        for _ in range(2):
            before = sandbox.stats()
            for image_id in ids:
                subprocess.run(
                    [*cli, "info", image_id, "--json"],
                    env=env,
                    capture_output=True,
                    check=True,
                    timeout=60,
                )
            after = sandbox.stats()
            passes.append(
                (
                    after["bytes_sent"] - before["bytes_sent"],
                    after["not_modified"] - before["not_modified"],
                )
            )
    (first, first_304), (second, second_304) = passes
    ratio = second / first if first else 1.0
    print(f"ids: {len(ids)}")
    print(f"first pass:  {first} body bytes, {first_304} answered 304")
    print(f"second pass: {second} body bytes, {second_304} answered 304")
    print(f"second / first = {ratio:.3f} (target <= 0.10)")
    return 0 if ratio <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
