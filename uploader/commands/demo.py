"""``uploader demo``: one real upload through the whole pipeline, offline.

It starts the built-in sandbox on 127.0.0.1 in a background thread, writes a throwaway
config pointing at it, uploads the bundled image with the same code ``uploader upload``
uses, and checks the bytes the sandbox stored against the file's own digest.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import urllib.request
from dataclasses import dataclass, replace
from importlib.resources import as_file, files
from pathlib import Path

from uploader.commands.limits import bucket_line
from uploader.commands.runtime import Runtime, wire
from uploader.commands.upload import UploadRequest, upload
from uploader.config.settings import Config, parse_config
from uploader.errors import ProviderError
from uploader.models import UploadOptions, UploadResult


@dataclass(frozen=True)
class DemoReport:
    result: UploadResult
    local_sha256: str
    stored_sha256: str
    buckets: tuple[str, ...]


def run_demo(runtime: Runtime) -> DemoReport:
    """Upload the bundled image to a private sandbox and report what happened."""
    # start-up: `uploader --help` loads this module; only the demo itself runs the emulator
    from uploader.sandbox import Sandbox, SandboxConfig

    with (
        tempfile.TemporaryDirectory(prefix="uploader-demo-") as tmp,
        as_file(files("uploader").joinpath("data/demo.png")) as image,
        Sandbox(SandboxConfig(), host="127.0.0.1", port=0) as sandbox,
    ):
        config_file = Path(tmp) / "config.toml"
        config = parse_config(
            f'default_provider = "demo"\n\n[providers.demo]\nkind = "imgur"\n'
            f'client_id = "demo-client-id"\nbase_url = "{sandbox.base_url}/imgur"\n',
            config_file,
        )
        # Keep the demo's rate-limit state and its upload history (a link to a sandbox
        # that is gone once the demo ends) away from the user's real ones.
        env = {
            **runtime.env,
            "XDG_STATE_HOME": str(Path(tmp) / "state"),
            "XDG_DATA_HOME": str(Path(tmp) / "data"),
        }
        env.pop("UPLOADER_DEMO_ACCESS_TOKEN", None)
        results: list[UploadResult] = []
        outcome = upload(
            config,
            UploadRequest(
                paths=(str(image),),
                provider="demo",
                options=UploadOptions(title="uploader demo", description="sent by uploader demo"),
                on_limit="fail",
                max_wait=0.0,
            ),
            replace(runtime, env=env),
            lambda result, _error: results.append(result),
        )
        result = outcome.results[0]
        if result.status != "uploaded":
            raise ProviderError(f"the demo upload failed: {result.error}")
        local = hashlib.sha256(Path(image).read_bytes()).hexdigest()
        with urllib.request.urlopen(f"{sandbox.base_url}/_sandbox/uploads", timeout=10) as resp:  # noqa: S310 - loopback sandbox URL
            stored_list = json.load(resp)
        stored = next((u["sha256"] for u in stored_list if u.get("id") == result.id), "")
        buckets = tuple(_bucket_lines(config, replace(runtime, env=env)))
    return DemoReport(result, local, stored, buckets)


def _bucket_lines(config: Config, runtime: Runtime) -> list[str]:
    """The demo profile's buckets, worded as ``uploader limits`` words them."""
    now = runtime.clock()
    return [bucket_line(state, now) for state in wire(config, "demo", runtime).limiter.states()]
