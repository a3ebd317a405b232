"""End to end (real processes): lost-answer recovery, signed in, never reports one file's
upload as another's (issue 11, section 1)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tests.support.e2e import get_json, posts, run_cli, sandbox_process, write_config
from tests.support.images import write_png

FAST = "[defaults]\nretries = 3\nretry_max_time = 20\n"
# With seed 10 and half the uploads dropped before storing, a's upload goes through and
# b's first attempt is dropped (nothing stored): the case of issue 11.
FAULTS = ("seed=10", "fault_drop_before=0.5")


def _twins(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_png(tmp_path / "a" / "shot.png", seed=1)
    b = write_png(tmp_path / "b" / "shot.png", seed=2)
    assert a.stat().st_size == b.stat().st_size
    return a, b


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _records(stdout: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.decode().splitlines()]


def test_a_file_whose_answer_was_lost_is_never_reported_with_another_files_upload(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    a, b = _twins(tmp_path)
    with sandbox_process(*FAULTS) as base:
        config = write_config(tmp_path / "c.toml", base, defaults=FAST)
        env = {**hermetic_env, "UPLOADER_SB_ACCESS_TOKEN": "user-token"}
        done = run_cli(["--config", str(config), "upload", "-f", "json", str(a), str(b)], env)
        stored = get_json(f"{base}/_sandbox/uploads")
        sent = posts(base)
    first, second = _records(done.stdout)
    (only,) = stored  # b was never stored
    assert only["sha256"] == _digest(a)
    assert (first["status"], first["id"]) == ("uploaded", only["id"])
    assert (second["status"], second["id"], second["url"], second["ambiguous"]) == (
        "failed",
        None,
        None,
        True,
    )
    assert "listing does not show it yet" in second["error"]
    assert len(sent) == 2  # b not re-sent: it may exist
    assert done.returncode == 6
    assert "error: " + str(b) in done.stderr.decode()


def test_with_retry_ambiguous_the_re_sent_file_has_its_own_upload_and_says_so(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    a, b = _twins(tmp_path)
    with sandbox_process(*FAULTS) as base:
        config = write_config(tmp_path / "c.toml", base, defaults=FAST)
        env = {**hermetic_env, "UPLOADER_SB_ACCESS_TOKEN": "user-token"}
        args = ["--config", str(config), "upload", "-f", "json", "--retry-ambiguous"]
        done = run_cli([*args, str(a), str(b)], env)
        stored = {item["sha256"]: item["id"] for item in get_json(f"{base}/_sandbox/uploads")}
    first, second = _records(done.stdout)
    assert first["id"] != second["id"]
    assert second["status"] == "uploaded"
    assert second["id"] == stored[_digest(b)]  # b's own bytes, not a's
    assert first["id"] == stored[_digest(a)]
    assert second["ambiguous"] is True
    assert second["error"] == (
        "uploaded, but an earlier attempt's answer was lost: it may exist twice"
    )
    assert done.returncode == 0


def test_a_lookup_that_fails_leaves_the_file_ambiguous(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # Every answer is lost, the listing's too: the image exists, the lookup cannot say.
    image = write_png(tmp_path / "a.png")
    with sandbox_process("fault_drop_after=1.0", "fault_routes=all") as base:
        config = write_config(tmp_path / "c.toml", base, defaults=FAST)
        env = {**hermetic_env, "UPLOADER_SB_ACCESS_TOKEN": "user-token"}
        done = run_cli(["--config", str(config), "upload", "-f", "json", str(image)], env)
        stored = get_json(f"{base}/_sandbox/uploads")
        sent = posts(base)
    (record,) = _records(done.stdout)
    assert (record["status"], record["ambiguous"]) == ("failed", True)
    assert "the lookup among recent uploads failed (" in record["error"]
    assert len(stored) == 1
    assert len(sent) == 1  # not re-sent
    assert done.returncode == 5


# -- the end-of-batch look ---------------------------------------------------------------
# Seed 92 draws 0.42 for the first upload, then 0.56, 0.56, 0.59, 0.8, 0.97, 0.67, 0.81:
# with a fault rate of 0.5, only the first file's upload meets the fault.


def _batch_of(tmp_path: Path, count: int) -> list[Path]:
    return [write_png(tmp_path / f"f{n}.png", seed=n) for n in range(count)]


def test_a_file_the_lagging_listing_hid_is_found_at_the_end_of_the_batch(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # Every answer 1 s late; a's stored at +1, its answer lost; the lookups (answered
    # at about +2, +4, +7, +12) do not see it: listed only 14 s after it was made. Six
    # more files take until about +18; the end look (about +19) finds it.
    files = _batch_of(tmp_path, 7)
    knobs = ("seed=92", "fault_drop_after=0.5", "listing_lag=14", "latency=1")
    with sandbox_process(*knobs) as base:
        config = write_config(tmp_path / "c.toml", base, defaults=FAST)
        env = {**hermetic_env, "UPLOADER_SB_ACCESS_TOKEN": "user-token"}
        args = ["--config", str(config), "upload", "-f", "json", *map(str, files)]
        done = run_cli(args, env, timeout=120)
        stored = {u["sha256"]: u["id"] for u in get_json(f"{base}/_sandbox/uploads")}
        sent = posts(base)
    records = _records(done.stdout)
    assert [r["path"] for r in records] == [str(f) for f in files]  # input order
    assert len(sent) == len(stored) == 7  # each file sent and stored once
    for path, record in zip(files, records, strict=True):
        assert (record["status"], record["id"]) == ("uploaded", stored[_digest(path)])
        assert record["ambiguous"] is False
    assert records[0]["recovered"] == "found among recent uploads after a lost answer"
    said = done.stderr.decode()
    assert "looked at again at the end of the batch" in said, said
    assert done.returncode == 0, said


def test_a_file_proven_absent_at_the_end_of_the_batch_is_sent_again_once(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # a's upload is dropped before it is stored. Its lookups cannot prove that (nothing
    # was made after it yet); at the end, the listing shows b's and c's uploads, made
    # after a's attempt, and nothing that could be a: a is sent again, stored once.
    files = _batch_of(tmp_path, 3)
    with sandbox_process("seed=92", "fault_drop_before=0.5") as base:
        config = write_config(tmp_path / "c.toml", base, defaults=FAST)
        env = {**hermetic_env, "UPLOADER_SB_ACCESS_TOKEN": "user-token"}
        args = ["--config", str(config), "upload", "-f", "json", *map(str, files)]
        done = run_cli(args, env, timeout=120)
        stored = get_json(f"{base}/_sandbox/uploads")
        sent = posts(base)
    records = _records(done.stdout)
    by_bytes = {u["sha256"]: u["id"] for u in stored}
    assert len(stored) == len(by_bytes) == 3  # each file stored once
    assert len(sent) == 4  # a twice: dropped, then sent again once proven absent
    for path, record in zip(files, records, strict=True):
        assert (record["status"], record["id"], record["ambiguous"]) == (
            "uploaded",
            by_bytes[_digest(path)],
            False,
        )
    assert done.returncode == 0, done.stderr


def test_kill_9_during_recovery_sends_nothing_more_and_leaves_nothing_in_the_way(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # a's answer is lost after it was stored; the listing lags a minute: the process is
    # looking for it when it is killed. Nothing is re-sent on the way down, no line claims
    # an upload, and the next run (b) is not hindered by anything the dead one left.
    import os
    import signal
    import subprocess
    import time

    from tests.support.e2e import CLI, requests_log

    a, b = write_png(tmp_path / "a.png", seed=1), write_png(tmp_path / "b.png", seed=2)
    with sandbox_process("seed=92", "fault_drop_after=0.5", "listing_lag=60") as base:
        config = str(write_config(tmp_path / "c.toml", base, defaults=FAST))
        env = {**hermetic_env, "UPLOADER_SB_ACCESS_TOKEN": "user-token"}
        victim = subprocess.Popen(
            [*CLI, "--config", config, "upload", "-f", "json", str(a), str(b)],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(200):  # bounded: 20 s
                if any(
                    r["method"] == "GET" and "/account/" in r["path"] for r in requests_log(base)
                ):
                    break
                time.sleep(0.1)
        finally:
            victim.send_signal(signal.SIGKILL)
            out, _ = victim.communicate(timeout=10)
        sent_by_victim = len(posts(base))
        later = run_cli(["--config", config, "upload", "-f", "json", str(b)], env)
        stored = {u["sha256"] for u in get_json(f"{base}/_sandbox/uploads")}
    assert victim.returncode == -signal.SIGKILL
    assert out == b""  # nothing reported for a (or b, never sent)
    assert sent_by_victim == 1
    assert later.returncode == 0, later.stderr
    assert _records(later.stdout)[0]["status"] == "uploaded"
    assert stored == {_digest(a), _digest(b)}
