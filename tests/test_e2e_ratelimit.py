"""End to end: rate limits shared across real processes against the sandbox."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.support.canned import Canned, canned_server
from tests.support.e2e import (
    CLI,
    get_json,
    posts,
    requests_log,
    run_cli,
    sandbox_process,
    write_config,
)
from tests.support.images import write_png
from tests.support.imgur import gateway_429, imgur_exception, legacy_error


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
        # The sandbox answers any POST beyond 12 in its window with a 429: none came, so
        # no window was overspent, and every upload went through exactly once.
        assert stats["responses_429"] == 0
        assert stats["uploads_stored"] == 20
        assert len(posts(base, "/3/image")) == 20


def test_spent_bucket_seen_by_one_process_stops_the_next_without_sending(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process("imgur_post_limit=2", "imgur_post_window=600") as base:
        config = write_config(tmp_path / "c.toml", base)
        files = [str(write_png(tmp_path / f"{i}.png", seed=i)) for i in range(2)]
        first = run_cli(["--config", str(config), "upload", *files], hermetic_env)
        assert first.returncode == 0, first.stderr
        assert len(posts(base, "/3/image")) == 2
        late = write_png(tmp_path / "late.png", seed=9)
        done = run_cli(
            ["--config", str(config), "upload", "--on-limit", "fail", str(late)], hermetic_env
        )
        assert done.returncode == 4
        err = done.stderr.decode()
        assert err.startswith(f"error: {late}: Imgur POST bucket (per IP) is spent (0 of 2 left)")
        assert re.search(r"; it resets (tomorrow )?at \d\d:\d\d:\d\d ", err)
        assert "Traceback" not in err
        assert len(posts(base, "/3/image")) == 2
        # `uploader limits` shows where the figure came from.
        shown = run_cli(["--config", str(config), "limits", "--json"], hermetic_env)
        assert shown.returncode == 0, shown.stderr
        rows = {r["bucket"]: r for r in map(json.loads, shown.stdout.decode().splitlines())}
        assert rows["post"]["remaining"] == 0
        assert rows["post"]["limit"] == 2
        assert rows["post"]["source"] == "headers"
        # The reset is 600 s after the sandbox's first POST; however slow this machine,
        # it is still ahead and no further than that.
        assert 0 < rows["post"]["resets_in"] <= 600
        text = run_cli(["--config", str(config), "limits"], hermetic_env).stdout.decode()
        assert "Imgur POST bucket (per IP): 0/2 left; resets " in text
        assert re.search(r"\(in (\d+ min|\d+ s)\); headers seen at ", text), text


def test_client_reserve_is_not_spent(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    # 15 uploads' worth of client credits, 10 of them kept in reserve: 5 may go.
    with sandbox_process("imgur_client_limit=150") as base:
        config = write_config(tmp_path / "c.toml", base)
        files = [str(write_png(tmp_path / f"{i}.png", seed=i)) for i in range(8)]
        done = run_cli(["--config", str(config), "upload", "-f", "json", *files], hermetic_env)
        records = [json.loads(line) for line in done.stdout.decode().splitlines()]
        # Four files go at once (-j 4), yet they reserve in input order: the first five
        # go, the sixth meets the reserve, the rest are not sent (as one at a time).
        statuses = [r["status"] for r in records]
        assert statuses == ["uploaded"] * 5 + ["failed", "skipped", "skipped"]
        assert "reserve" in records[5]["error"]
        assert [r["path"] for r in records] == files
        assert done.returncode == 4  # a spent budget, even after five went through
        assert get_json(f"{base}/_sandbox/stats")["uploads_stored"] == 5


# -- refusals in Imgur's other shapes (canned answers: the sandbox is not needed) ----------

TOO_FAST = imgur_exception(429, "You are uploading too fast. Please wait 37 more minutes.")
GATEWAY_429 = gateway_429()
FULL_CREDITS = (
    ("Content-Type", "application/vnd.imgur.v1+json"),
    ("X-RateLimit-UserLimit", "500"),
    ("X-RateLimit-UserRemaining", "500"),
    ("X-RateLimit-UserReset", "3600"),
    ("X-RateLimit-ClientLimit", "12500"),
    ("X-RateLimit-ClientRemaining", "12500"),
    ("X-Post-Rate-Limit-Limit", "1250"),
    ("X-Post-Rate-Limit-Remaining", "1180"),
    ("X-Post-Rate-Limit-Reset", "3000"),
)
IMAGE = {
    "data": {"id": "AbCdEf1", "link": "https://i.imgur.com/AbCdEf1.png", "type": "image/png"},
    "success": True,
    "status": 200,
}


def _lines(err: bytes) -> list[str]:
    text = err.decode()
    assert "Traceback" not in text
    return text.splitlines()


def test_uploading_too_fast_in_a_400_fails_at_once_with_the_reset(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with canned_server(Canned(400, json.dumps(TOO_FAST).encode())) as (url, recorder):
        config = write_config(tmp_path / "c.toml", url)
        image = write_png(tmp_path / "a.png")
        done = run_cli(["--config", str(config), "upload", str(image)], hermetic_env)
        assert done.returncode == 4
        error, hint = _lines(done.stderr)
        assert error.startswith(
            f"error: {image}: Imgur POST bucket (per IP) is paused: Imgur's upload throttle "
            'refused an upload ("You are uploading too fast. Please wait 37 more minutes."); '
            "it resets "
        )
        assert re.search(r"; it resets (tomorrow )?at \d\d:\d\d:\d\d ", error)
        assert error.endswith("(in 37 min), beyond --max-wait 300 s")
        assert hint == "hint: use --max-wait 2221 to wait for it, or see `uploader limits`"
        assert len(recorder.requests) == 1  # the throttle is not hit again


def test_daily_client_budget_exceeded_is_not_spent_again(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    body = legacy_error("Daily client requests exceeded", status=429, route=None)
    with canned_server(Canned(429, json.dumps(body).encode())) as (url, recorder):
        config = write_config(tmp_path / "c.toml", url)
        image = write_png(tmp_path / "a.png")
        done = run_cli(["--config", str(config), "upload", str(image)], hermetic_env)
        assert done.returncode == 4
        error, hint = _lines(done.stderr)
        assert error.startswith(
            f"error: {image}: Imgur client bucket (per app, daily) is spent (0 of 12500 left; "
            'Imgur said "Daily client requests exceeded"); it resets tomorrow at '
        )
        assert "(in 24.0 h), beyond --max-wait 300 s" in error
        assert hint == "hint: a daily budget the server says is exhausted: wait for its reset"
        # A later run, a lookup included, does not send either.
        again = run_cli(["--config", str(config), "info", "AbCdEf1"], hermetic_env)
        assert again.returncode == 4
        assert len(recorder.requests) == 1


def test_the_upload_throttle_leaves_lookups_alone(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    refused = Canned(429, json.dumps(GATEWAY_429).encode(), FULL_CREDITS)
    with canned_server(refused, Canned(200, json.dumps(IMAGE).encode())) as (url, recorder):
        config = write_config(tmp_path / "c.toml", url)
        image = write_png(tmp_path / "a.png")
        done = run_cli(
            ["--config", str(config), "upload", "--on-limit", "fail", str(image)], hermetic_env
        )
        assert done.returncode == 4
        error = _lines(done.stderr)[0]
        assert error.startswith(
            f"error: {image}: Imgur POST bucket (per IP) is paused: Imgur's upload throttle "
            "refused an upload with user and client credits left; it resets "
        )
        assert re.search(r"; it resets (tomorrow )?at \d\d:\d\d:\d\d ", error)
        info = run_cli(["--config", str(config), "info", "--json", "AbCdEf1"], hermetic_env)
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["url"] == "https://i.imgur.com/AbCdEf1.png"
        assert [r[0] for r in recorder.requests] == ["POST", "GET"]


def test_limits_refresh_checks_imgur_credits_live(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process("imgur_user_limit=300", "imgur_client_limit=9000") as base:
        config = write_config(tmp_path / "c.toml", base)
        stale = run_cli(["--config", str(config), "limits", "--json"], hermetic_env)
        assert requests_log(base) == []  # without --refresh nothing is asked
        done = run_cli(["--config", str(config), "limits", "--refresh", "--json"], hermetic_env)
        asked = [(r["method"], r["path"]) for r in requests_log(base)]
    assert (stale.returncode, done.returncode) == (0, 0), done.stderr
    assert asked == [("GET", "/imgur/3/credits")]
    before = {r["bucket"]: r for r in map(json.loads, stale.stdout.decode().splitlines())}
    rows = {r["bucket"]: r for r in map(json.loads, done.stdout.decode().splitlines())}
    assert (before["user"]["limit"], before["user"]["source"]) == (500, "default")
    assert [(rows[b]["remaining"], rows[b]["limit"], rows[b]["source"]) for b in rows] == [
        (300, 300, "live"),
        (9000, 9000, "live"),
        (1250, 1250, "default"),
    ]


def test_a_rejected_client_id_costs_one_request_and_sends_no_file(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    """README: the first file's answer proves the credentials; a rejected client id stops
    the batch after one request. On a first run that request is the free credits check:
    once it says the client id is refused, no file's body is sent."""
    with sandbox_process('imgur_client_ids=["good"]') as base:
        config = write_config(tmp_path / "c.toml", base, client_id="revoked")
        files = [str(write_png(tmp_path / f"{i}.png", seed=40 + i)) for i in range(3)]
        done = run_cli(["--config", str(config), "upload", "-f", "json", *files], hermetic_env)
        assert done.returncode == 3, done.stderr
        err = done.stderr.decode().splitlines()
        refused = "Imgur rejected the credentials: Invalid client_id (HTTP 403)"
        assert err[0] == f"error: {files[0]}: {refused}"
        assert err[-1] == f"error: 2 files were not sent: {refused}"
        statuses = [json.loads(line)["status"] for line in done.stdout.decode().splitlines()]
        assert statuses == ["failed", "skipped", "skipped"]
        asked = [(r["method"], r["path"]) for r in requests_log(base)]
        assert asked == [("GET", "/imgur/3/credits")]
