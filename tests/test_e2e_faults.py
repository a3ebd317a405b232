"""End to end: retries, ambiguous outcomes and timeouts against a faulty sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.e2e import get_json, posts, run_cli, sandbox_process, write_config
from tests.support.http import free_port
from tests.support.images import write_png

FAST = "[defaults]\nretries = 3\nretry_max_time = 20\n"


def _config(tmp_path: Path, base: str, defaults: str = FAST) -> Path:
    return write_config(tmp_path / "c.toml", base, defaults=defaults)


def test_5xx_is_retried_with_retry_after_and_every_attempt_is_shown(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process("fault_503=1.0", "fault_retry_after=1.0") as base:
        image = write_png(tmp_path / "a.png")
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_ID": "secret-client-id-123"}
        done = run_cli(["--config", str(_config(tmp_path, base)), "-v", "upload", str(image)], env)
        assert done.returncode == 5
        err = done.stderr.decode()
        assert f"{image}: attempt 1 failed (Imgur failed the upload: " in err
        assert "retrying in 1.0 s" in err
        assert "attempt 2 failed" in err
        assert "attempt 3" not in err  # the third failure is final
        assert err.splitlines()[-1].startswith(f"error: {image}: Imgur failed the upload:")
        assert "secret-client-id-123" not in err
        assert len(posts(base)) == 3


def test_lost_answer_is_ambiguous_and_not_resent(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process("fault_drop_after=1.0") as base:
        image = write_png(tmp_path / "a.png")
        done = run_cli(
            ["--config", str(_config(tmp_path, base)), "upload", "-f", "json", str(image)],
            hermetic_env,
        )
        assert done.returncode == 5
        (record,) = [json.loads(line) for line in done.stdout.decode().splitlines()]
        assert (record["status"], record["ambiguous"]) == ("failed", True)
        assert "answer was lost" in record["error"]
        assert len(posts(base)) == 1
        assert get_json(f"{base}/_sandbox/stats")["uploads_stored"] == 1


def test_retry_ambiguous_resends_and_says_so(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process("fault_drop_before=1.0") as base:
        image = write_png(tmp_path / "a.png")
        done = run_cli(
            [
                "--config",
                str(_config(tmp_path, base)),
                "-v",
                "upload",
                "-f",
                "json",
                "--retry-ambiguous",
                str(image),
            ],
            hermetic_env,
        )
        assert done.returncode == 5
        (record,) = [json.loads(line) for line in done.stdout.decode().splitlines()]
        assert (record["status"], record["ambiguous"]) == ("failed", True)
        err = done.stderr.decode()
        # Each re-send is announced, and the final message says the image may exist.
        assert err.count(f"{image}: attempt ") == 2
        assert f"{image}: attempt 1 failed (the upload was sent but its answer " in err
        assert "attempt 3 failed" not in err
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert errors == [
            f"error: {image}: the upload was sent but its answer was lost ({base[7:]} closed "
            "the connection without a full answer); the image may or may not exist; it was "
            "sent again after an earlier attempt's answer was lost: it may exist twice"
        ]
        assert len(posts(base)) == 3


def test_signed_in_lost_answer_is_found_among_recent_uploads(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process("fault_drop_after=1.0") as base:
        image = write_png(tmp_path / "shot.png", seed=4)
        env = {**hermetic_env, "UPLOADER_SB_ACCESS_TOKEN": "user-token"}
        done = run_cli(
            ["--config", str(_config(tmp_path, base)), "upload", "-f", "json", str(image)], env
        )
        assert done.returncode == 0, done.stderr
        (record,) = [json.loads(line) for line in done.stdout.decode().splitlines()]
        assert record["status"] == "uploaded"
        (stored,) = get_json(f"{base}/_sandbox/uploads")
        assert record["id"] == stored["id"]
        assert record["recovered"]
        assert len(posts(base)) == 1


def test_slow_answer_past_read_timeout_is_ambiguous(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process("fault_slow=1.0", "slow_seconds=3") as base:
        image = write_png(tmp_path / "a.png")
        config = _config(tmp_path, base, FAST + "read_timeout = 1\n")
        done = run_cli(["--config", str(config), "upload", str(image)], hermetic_env)
        assert done.returncode == 5
        err = done.stderr.decode()
        assert "did not answer in time (read timeout)" in err
        assert "may or may not exist" in err
        assert len(posts(base)) == 1


def test_connection_refused_is_retried_then_reported(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    port = free_port()
    config = write_config(tmp_path / "c.toml", f"http://127.0.0.1:{port}", extra="")
    config.write_text(
        config.read_text().replace("[providers", "[defaults]\nretries = 2\n\n[providers", 1)
    )
    image = write_png(tmp_path / "a.png")
    done = run_cli(["--config", str(config), "-v", "upload", str(image)], hermetic_env)
    assert done.returncode == 5
    err = done.stderr.decode()
    # retries = 2: one failed attempt retried (shown with -v), the second is final.
    assert err.count(f"{image}: attempt ") == 1
    assert f"attempt 1 failed (connection refused by 127.0.0.1:{port}); retrying in " in err
    lines = err.splitlines()
    assert lines[-2] == f"error: {image}: connection refused by 127.0.0.1:{port}"
    assert lines[-1].startswith("hint: nothing listens there")


def test_https_to_a_plain_http_server_is_a_tls_failure_and_not_retried(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process() as base:
        port = base.rsplit(":", 1)[1]
        config = _config(tmp_path, f"https://127.0.0.1:{port}")
        image = write_png(tmp_path / "a.png")
        done = run_cli(["--config", str(config), "-v", "upload", str(image)], hermetic_env)
        assert done.returncode == 5
        err = done.stderr.decode()
        assert "attempt 1 failed" not in err  # tried once: a retry cannot fix TLS
        lines = [line for line in err.splitlines() if line.startswith(("error: ", "hint: "))]
        assert lines[0].startswith(f"error: {image}: TLS handshake with 127.0.0.1:{port} failed: ")
        assert lines[1].startswith("hint: check base_url: https:// needs a server that speaks TLS")
        assert "Traceback" not in err
        assert len(posts(base)) == 0


def test_truncated_json_success_is_ambiguous(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process("fault_bad_json=1.0") as base:
        image = write_png(tmp_path / "a.png")
        done = run_cli(
            ["--config", str(_config(tmp_path, base)), "upload", str(image)], hermetic_env
        )
        assert done.returncode == 5
        assert "answer was unreadable" in done.stderr.decode()
        assert get_json(f"{base}/_sandbox/stats")["uploads_stored"] == 1
