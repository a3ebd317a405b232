"""Temporary files of writers killed mid-write (kill -9 between the write and the rename):
the file they were replacing is whole, and their leftovers are removed by a later write
once they are stale (older than any write takes), never a fresh one (a writer running now)
and never a file of the user's that merely looks alike. Real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support.e2e import CLI, run_cli, sandbox_process, write_config
from tests.support.images import write_png
from uploader.config.paths import STALE_TEMPORARY


def _aged(path: Path, seconds: float) -> Path:
    path.write_bytes(b"half a file")
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_a_lookup_removes_stale_cache_temporaries_only(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    etags = Path(hermetic_env["XDG_CACHE_HOME"]) / "uploader" / "etags"
    etags.mkdir(parents=True)
    stale = [_aged(etags / f".entry-{n}.tmp", STALE_TEMPORARY + 60) for n in ("ab12", "x_9")]
    fresh = _aged(etags / ".entry-new1.tmp", 5)
    other = _aged(etags / "notes.tmp", STALE_TEMPORARY + 60)  # not one of ours
    with sandbox_process() as base:
        env = {**hermetic_env, "UPLOADER_CONFIG": str(write_config(tmp_path / "c.toml", base))}
        image = str(write_png(tmp_path / "a.png"))
        done = run_cli(["upload", image], env)
        assert done.returncode == 0, done.stderr
        media = done.stdout.decode().strip().rsplit("/", 1)[-1].split(".")[0]
        done = run_cli(["info", media], env)
        assert done.returncode == 0, done.stderr
    assert [p.exists() for p in stale] == [False, False]
    assert fresh.exists()
    assert other.exists()
    assert len(list(etags.glob("*.json"))) == 1  # the entry itself was written


def test_a_config_write_removes_stale_temporaries_of_killed_writers(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    config = tmp_path / "conf" / "c.toml"
    config.parent.mkdir()
    stale = _aged(config.parent / ".c.toml.4242.tmp", STALE_TEMPORARY + 60)
    fresh = _aged(config.parent / ".c.toml.4243.tmp", 5)
    mine = _aged(config.parent / ".c.toml.backup.tmp", STALE_TEMPORARY + 60)
    other = _aged(config.parent / ".d.toml.4242.tmp", STALE_TEMPORARY + 60)
    env = {**hermetic_env, "UPLOADER_CONFIG": str(config)}
    done = run_cli(["config", "init"], env)
    assert done.returncode == 0, done.stderr
    assert not stale.exists()
    assert [fresh.exists(), mine.exists(), other.exists()] == [True, True, True]
    assert "[providers." in config.read_text()


def test_kill_9_mid_credential_writes_never_leaves_a_torn_store(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    """Writers of the credential store killed at random points: the store is always either
    the old one or a new one, whole (it parses and holds a token), 0600 in a 0700 dir."""
    import tomllib

    env = {k: v for k, v in os.environ.items() if not k.startswith("UPLOADER_")}
    env.update(hermetic_env)
    env["UPLOADER_CONFIG"] = str(tmp_path / "c.toml")
    (tmp_path / "c.toml").write_text('[providers.gz]\nkind = "gyazo"\n')
    store = Path(hermetic_env["XDG_CONFIG_HOME"]) / "uploader" / "credentials.toml"
    done = run_cli(["auth", "set-token", "gz"], env, stdin=b"first-token\n")
    assert done.returncode == 0, done.stderr
    for n in range(6):  # bounded: six writers, each killed after a different delay
        proc = subprocess.Popen(
            [*CLI, "auth", "set-token", "gz"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert proc.stdin is not None
        proc.stdin.write(f"token-{n}\n".encode())
        proc.stdin.close()
        time.sleep(0.05 * n)  # not asserted: only spreads the kills over the write
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        data = tomllib.loads(store.read_text())
        assert data["profiles"]["gz"]["access_token"] in {
            "first-token",
            *(f"token-{m}" for m in range(n + 1)),
        }
        assert store.stat().st_mode & 0o777 == 0o600
        assert store.parent.stat().st_mode & 0o777 == 0o700
    if (store.parent / "credentials.toml.lock").exists():
        assert (store.parent / "credentials.toml.lock").stat().st_mode & 0o777 == 0o600
