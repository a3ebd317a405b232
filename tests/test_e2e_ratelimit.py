"""End to end: rate limits shared across real processes against the sandbox."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.e2e import CLI, get_json, run_cli, sandbox_process, write_config
from tests.images import write_png


def _posts(base: str) -> int:
    return sum(
        1
        for r in get_json(f"{base}/_sandbox/requests")
        if r["method"] == "POST" and r["path"].endswith("/3/image")
    )


def test_four_concurrent_processes_share_one_post_bucket(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # 4 processes x 5 files = 20 uploads into a POST bucket of 12 per 3 s window.
    with sandbox_process("imgur_post_limit=12", "imgur_post_window=3") as base:
        config = write_config(tmp_path / "c.toml", base, extra="reserve_uploads = 0\n")
        procs = []
        for p in range(4):
            files = [str(write_png(tmp_path / f"p{p}f{i}.png", seed=p * 10 + i)) for i in range(5)]
            procs.append(
                subprocess.Popen(
                    [
                        *CLI,
                        "--config",
                        str(config),
                        "upload",
                        "-f",
                        "json",
                        "--max-wait",
                        "30",
                        *files,
                    ],
                    env={**__import__("os").environ, **hermetic_env},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
        outputs = [proc.communicate(timeout=120) for proc in procs]
        for proc, (out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err.decode()
            records = [json.loads(line) for line in out.decode().splitlines()]
            assert [r["status"] for r in records] == ["uploaded"] * 5
        stats = get_json(f"{base}/_sandbox/stats")
        assert stats["responses_429"] == 0
        assert stats["uploads_stored"] == 20
        # No 3-second window saw more than 12 POSTs (the sandbox's windows start at the
        # first POST after the previous one ended, so check from each window start).
        times = sorted(
            r["at"] for r in get_json(f"{base}/_sandbox/requests") if r["method"] == "POST"
        )
        start = times[0]
        window: list[float] = []
        for at in times:
            if at >= start + 3:
                start = at
                window = []
            window.append(at)
            assert len(window) <= 12


def test_spent_bucket_seen_by_one_process_stops_the_next_without_sending(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process("imgur_post_limit=2", "imgur_post_window=600") as base:
        config = write_config(tmp_path / "c.toml", base)
        files = [str(write_png(tmp_path / f"{i}.png", seed=i)) for i in range(2)]
        first = run_cli(["--config", str(config), "upload", *files], hermetic_env)
        assert first.returncode == 0, first.stderr
        assert _posts(base) == 2
        late = write_png(tmp_path / "late.png", seed=9)
        done = run_cli(
            ["--config", str(config), "upload", "--on-limit", "fail", str(late)], hermetic_env
        )
        assert done.returncode == 4
        err = done.stderr.decode()
        assert err.startswith("error: Imgur POST bucket (per IP) is spent (0 of 2 left)")
        assert "resets at " in err
        assert "Traceback" not in err
        assert _posts(base) == 2
        # `uploader limits` shows where the figure came from.
        shown = run_cli(["--config", str(config), "limits", "--json"], hermetic_env)
        assert shown.returncode == 0, shown.stderr
        rows = {r["bucket"]: r for r in map(json.loads, shown.stdout.decode().splitlines())}
        assert rows["post"]["remaining"] == 0
        assert rows["post"]["limit"] == 2
        assert rows["post"]["source"] == "headers"
        assert 590 <= rows["post"]["resets_in"] <= 600
        text = run_cli(["--config", str(config), "limits"], hermetic_env).stdout.decode()
        assert "Imgur POST bucket (per IP): 0/2 left; resets " in text
        assert "(in 10 min); headers seen at " in text


def test_wait_policy_waits_for_the_reset_and_says_so(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process("imgur_post_limit=1", "imgur_post_window=3") as base:
        config = write_config(tmp_path / "c.toml", base)
        files = [str(write_png(tmp_path / f"{i}.png", seed=i)) for i in range(2)]
        started = time.monotonic()
        done = run_cli(["--config", str(config), "upload", *files], hermetic_env)
        elapsed = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        assert done.stdout.decode().count("https://i.imgur.com/") == 2
        assert "waiting" in done.stderr.decode()
        assert "Imgur POST bucket (per IP)" in done.stderr.decode()
        assert elapsed >= 1.5
        assert get_json(f"{base}/_sandbox/stats")["responses_429"] == 0


def test_client_reserve_is_not_spent(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    # 15 uploads' worth of client credits, 10 of them kept in reserve: 5 may go.
    with sandbox_process("imgur_client_limit=150") as base:
        config = write_config(tmp_path / "c.toml", base)
        files = [str(write_png(tmp_path / f"{i}.png", seed=i)) for i in range(6)]
        done = run_cli(["--config", str(config), "upload", "-f", "json", *files], hermetic_env)
        records = [json.loads(line) for line in done.stdout.decode().splitlines()]
        assert [r["status"] for r in records] == ["uploaded"] * 5 + ["failed"]
        assert "reserve" in records[5]["error"]
        assert done.returncode == 6
        assert get_json(f"{base}/_sandbox/stats")["uploads_stored"] == 5
