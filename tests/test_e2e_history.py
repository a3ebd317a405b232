"""End to end (real processes): the history under kill -9, concurrency and corruption
(issue 12, "Proof"). The large kill -9 proof (100 files, 20 runs) is the reliability
benchmark's `--resume` mode (BENCHMARKS.md); this is its small, always-run version."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.support.e2e import CLI, get_json, posts, run_cli, sandbox_process, write_config
from tests.support.images import write_png


def _records(stdout: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


def _history(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"]) / "uploader" / "history.sqlite3"


def _env(hermetic_env: dict[str, str]) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")}
    return {**full, **hermetic_env}


def test_upload_then_skip_existing_sends_nothing_and_prints_the_same_lines(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    images = [str(write_png(tmp_path / f"{n}.png", seed=n)) for n in range(3)]
    with sandbox_process() as base:
        config = write_config(tmp_path / "c.toml", base)
        first = run_cli(
            ["--config", str(config), "upload", "-f", "markdown", *images], hermetic_env
        )
        again = run_cli(
            ["--config", str(config), "upload", "-f", "markdown", "--skip-existing", *images],
            hermetic_env,
        )
        sent = posts(base)
    assert first.returncode == again.returncode == 0
    assert again.stdout == first.stdout
    assert len(sent) == 3
    assert again.stderr == b""


def test_kill_9_then_rerun_with_skip_existing_stores_each_file_once_or_says_so(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    rng = random.Random(12)
    files = 12
    for run in range(3):
        root = tmp_path / f"run{run}"
        root.mkdir()
        env = {
            **hermetic_env,
            "XDG_DATA_HOME": str(root / "data"),
            "XDG_STATE_HOME": str(root / "state"),
        }
        paths = [str(write_png(root / f"k{i:02}.png", seed=100 * run + i)) for i in range(files)]
        with sandbox_process("latency=0.2", f"seed={run}") as base:
            config = write_config(root / "c.toml", base)
            args = ["--config", str(config), "upload", "-f", "json", "--skip-existing"]
            victim = subprocess.Popen(
                [*CLI, *args, *paths],
                env=_env(env),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.6, 0.2 * files))
            victim.send_signal(signal.SIGKILL)
            victim.communicate(timeout=60)
            second = run_cli([*args, *paths], env, timeout=120)
            stored = get_json(f"{base}/_sandbox/uploads")
        records = _records(second.stdout)
        assert [r["path"] for r in records] == paths
        count = collections.Counter(u["sha256"] for u in stored)
        for path, record in zip(paths, records, strict=True):
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            if record["ambiguous"]:
                # The file whose body was on the wire when the process died: said so.
                assert record["status"] in ("failed", "uploaded"), record
                assert count[digest] <= 2
            else:
                assert record["status"] in ("uploaded", "existing"), record
                assert count[digest] == 1, (path, record)  # never twice unreported
        assert sum(1 for r in records if r["ambiguous"]) <= 4  # at most the files in flight (-j 4)


def test_four_processes_write_one_history_without_losing_a_row(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    roomy = ("imgur_user_limit=1000000", "imgur_client_limit=10000000", "imgur_post_limit=10000")
    with sandbox_process(*roomy) as base:
        config = write_config(tmp_path / "c.toml", base)
        procs = []
        for worker in range(4):
            folder = tmp_path / f"w{worker}"
            folder.mkdir()
            paths = [
                # Seeds below 256: write_png's pixels repeat every 256 seeds, and two
                # processes sending one content at once is another test's subject.
                str(write_png(folder / f"{i:02}.png", seed=50 * worker + i))
                for i in range(50)
            ]
            procs.append(
                subprocess.Popen(
                    [*CLI, "--config", str(config), "upload", *paths],
                    env=_env(hermetic_env),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
        errors = [proc.communicate(timeout=300)[1] for proc in procs]
        codes = [proc.returncode for proc in procs]
    assert codes == [0, 0, 0, 0], errors
    assert errors == [b""] * 4
    with sqlite3.connect(_history(hermetic_env)) as db:
        rows = db.execute("SELECT status, COUNT(*) FROM uploads GROUP BY status").fetchall()
    assert rows == [("uploaded", 200)]


def test_a_corrupt_history_never_blocks_an_upload(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    history = _history(hermetic_env)
    history.parent.mkdir(parents=True, mode=0o700)
    history.write_bytes(b"this is not a database at all" * 100)
    image = str(write_png(tmp_path / "a.png"))
    with sandbox_process() as base:
        config = write_config(tmp_path / "c.toml", base)
        done = run_cli(["--config", str(config), "upload", "--skip-existing", image], hermetic_env)
        again = run_cli(["--config", str(config), "upload", "--skip-existing", image], hermetic_env)
        sent = posts(base)
    assert done.returncode == 0, done.stderr
    warnings = done.stderr.decode().splitlines()
    assert len(warnings) == 1
    assert warnings[0].startswith("warning: the upload history ")
    assert "--skip-existing" in warnings[0]
    aside = [p for p in history.parent.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1
    assert aside[0].read_bytes().startswith(b"this is not a database")
    # The new history works: the second run finds the upload.
    assert again.returncode == 0
    assert again.stderr == b""
    assert again.stdout == done.stdout
    assert len(sent) == 1


def test_delete_of_a_path_deletes_the_anonymous_upload_with_the_stored_deletehash(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    image = write_png(tmp_path / "a.png", seed=77)
    with sandbox_process() as base:
        config = write_config(tmp_path / "c.toml", base)
        done = run_cli(["--config", str(config), "upload", "-f", "json", str(image)], hermetic_env)
        (record,) = _records(done.stdout)
        assert record["delete_id"]
        gone = run_cli(["--config", str(config), "delete", str(image)], hermetic_env)
        stored = get_json(f"{base}/_sandbox/uploads")
        deletes = [
            r["path"] for r in get_json(f"{base}/_sandbox/requests") if r["method"] == "DELETE"
        ]
    assert gone.returncode == 0, gone.stderr
    assert deletes == [f"/imgur/3/image/{record['delete_id']}"]  # the stored deletehash
    assert stored == []  # gone from the server
    assert str(image) in gone.stderr.decode()
    with sqlite3.connect(_history(hermetic_env)) as db:
        assert db.execute("SELECT status FROM uploads").fetchall() == [("deleted",)]
