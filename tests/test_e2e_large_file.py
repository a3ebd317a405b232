"""End to end (real processes): a large file's upload killed with SIGKILL while its body
is on the wire (issue 13, item 5). A file larger than ``HOLD_LIMIT`` is hashed first and
streamed after; the history's ``pending`` row, committed before the body goes, names its
sha256, so the rerun recognises the file as possibly sent: never re-sent silently.

The processes run with ``HOLD_LIMIT`` made small (64 KiB), so a 16 MB file takes the path
of a 500 MB one; the sandbox reads bodies at 4 MB/s, so the body is still on the wire (more
than loopback's socket buffers hold) when the process is killed.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from tests.support.e2e import CLI, get_json, posts, sandbox_process, write_config
from tests.support.images import write_sized_png

SMALL_HOLD = [
    sys.executable,
    "-c",
    "import uploader.imaging.content as content; content.HOLD_LIMIT = 65536; " + CLI[2],
]
SIZE = 16_000_000


def _env(hermetic_env: dict[str, str]) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")}
    return {**full, **hermetic_env}


def _rows(env: dict[str, str]) -> list[dict[str, Any]]:
    path = Path(env["XDG_DATA_HOME"]) / "uploader" / "history.sqlite3"
    if not path.exists():
        return []
    try:
        with closing(sqlite3.connect(path, timeout=30)) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute("SELECT * FROM uploads ORDER BY rowid")]
    except sqlite3.OperationalError:  # created, its schema not written yet
        return []


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*SMALL_HOLD, *args], capture_output=True, env=_env(env), timeout=120, check=False
    )


def test_a_large_upload_killed_mid_send_is_recognised_by_the_rerun(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    image = write_sized_png(tmp_path / "video-sized.png", SIZE, seed=9)
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    with sandbox_process("slow_read_bytes_per_second=4000000") as base:
        config = write_config(tmp_path / "c.toml", base)
        args = ["--config", str(config), "upload", "-f", "json", "--skip-existing"]
        victim = subprocess.Popen(
            [*SMALL_HOLD, *args, str(image)],
            env=_env(hermetic_env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(3000):  # the pending row is committed just before the body goes
                if victim.poll() is not None or _rows(hermetic_env):
                    break
                time.sleep(0.02)
            assert victim.poll() is None, "the upload ended before it could be killed"
            victim.send_signal(signal.SIGKILL)
        finally:
            victim.kill()
            victim.wait(timeout=30)
        [killed] = _rows(hermetic_env)
        assert (killed["status"], killed["sha256"]) == ("pending", digest)
        assert get_json(f"{base}/_sandbox/uploads") == []  # the body never ended
        sent_before = len(posts(base))

        # Anonymous uploads cannot be listed: the rerun cannot tell, so it says so and
        # sends nothing.
        again = _run([*args, str(image)], hermetic_env)
        [record] = [json.loads(line) for line in again.stdout.decode().splitlines()]
        assert again.returncode != 0
        assert (record["status"], record["ambiguous"]) == ("failed", True)
        assert "never got its answer and may exist" in record["error"]
        assert len(posts(base)) == sent_before

        # Asked to send it anyway: one copy, the file's bytes, and its line says that an
        # earlier one may exist.
        forced = _run([*args, "--retry-ambiguous", str(image)], hermetic_env)
        stored = get_json(f"{base}/_sandbox/uploads")
    [record] = [json.loads(line) for line in forced.stdout.decode().splitlines()]
    assert forced.returncode == 0, forced.stderr
    assert (record["status"], record["ambiguous"]) == ("uploaded", True)
    assert "may exist twice" in record["error"]
    assert [(u["sha256"], u["size"]) for u in stored] == [(digest, SIZE)]
    rows = _rows(hermetic_env)
    assert [(r["sha256"], r["status"]) for r in rows][-1] == (digest, "uploaded")
    assert rows[-1]["remote_id"] == record["id"]
