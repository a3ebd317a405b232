"""The bad-input catalogue, issue 11 section 3 (index: test_bad_input.py).

A server that trickles its answers, in real processes (issue 11, section 3): the tool
gives up within its low-speed bounds with the documented error and exit code. Bounded by
the process timeout; no timing is asserted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.canned import Canned, canned_server
from tests.support.e2e import get_json, posts, run_cli, sandbox_process, write_config
from tests.support.images import write_png, write_sized_png
from uploader.errors import ExitCode

RULE = "[defaults]\nlow_speed_limit = 1000\nlow_speed_time = 1\n"


@pytest.mark.parametrize("knobs", [(), ("trickle_headers=true",)])
def test_an_upload_to_a_trickling_server_gives_up_and_is_ambiguous(
    tmp_path: Path, hermetic_env: dict[str, str], knobs: tuple[str, ...]
) -> None:
    # 2 bytes/s: the head alone would take minutes; only the watchdog ends it in time.
    with sandbox_process("trickle_bytes_per_second=2", *knobs) as base_url:
        config = write_config(tmp_path / "c.toml", base_url, defaults=RULE)
        image = write_png(tmp_path / "a.png")
        done = run_cli(
            ["--config", str(config), "upload", "-f", "json", str(image)],
            hermetic_env,
            timeout=60,
        )
        assert len(posts(base_url, "/3/image")) == 1  # never re-sent: it may exist
    assert done.returncode == ExitCode.PROVIDER
    (record,) = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert (record["status"], record["ambiguous"]) == ("failed", True)
    err = done.stderr.decode()
    assert "was too slow: less than 1000 bytes/s for 1 s" in err.splitlines()[0]
    assert "Traceback" not in err


def test_a_lookup_on_a_trickling_server_gives_up_with_exit_5(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process("trickle_bytes_per_second=5") as base_url:
        config = write_config(tmp_path / "c.toml", base_url, defaults=RULE)
        done = run_cli(["--config", str(config), "info", "AbCdEf1"], hermetic_env, timeout=60)
    assert done.returncode == ExitCode.PROVIDER
    (error, hint) = done.stderr.decode().splitlines()[:2]
    assert error.startswith("error: AbCdEf1 (profile sb): the transfer with 127.0.0.1:")
    assert "too slow" in error
    assert hint.startswith("hint: ")
    assert "low_speed_time" in hint


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("low_speed_limit = -5", "key 'defaults.low_speed_limit' must be at least 0"),
        ('low_speed_time = "slow"', "key 'defaults.low_speed_time' must be a number"),
        ("low_speed_time = inf", "key 'defaults.low_speed_time' must be a finite number"),
        ("low_speed_limit = 1.5", "key 'defaults.low_speed_limit' must be an integer"),
        ("low_speed_time = 1e12", "key 'defaults.low_speed_time' must be at most"),
    ],
)
def test_bad_low_speed_values_are_refused_before_any_request(
    tmp_path: Path, hermetic_env: dict[str, str], line: str, says: str
) -> None:
    with sandbox_process() as base_url:
        config = write_config(tmp_path / "c.toml", base_url, defaults=f"[defaults]\n{line}\n")
        image = write_png(tmp_path / "a.png")
        done = run_cli(["--config", str(config), "upload", str(image)], hermetic_env)
        assert posts(base_url) == []
    assert done.returncode == ExitCode.USAGE
    err = done.stderr.decode()
    assert says in err.splitlines()[0]
    assert "Traceback" not in err


def test_max_wait_0_keeps_the_retry_backoff(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process("fault_503=1", "fault_retry_after=0") as base_url:
        config = write_config(tmp_path / "c.toml", base_url)
        image = write_png(tmp_path / "a.png")
        done = run_cli(
            ["--config", str(config), "-v", "upload", "--max-wait", "0", str(image)],
            hermetic_env,
        )
        assert len(posts(base_url, "/3/image")) == 4  # every attempt of [defaults] retries
    assert done.returncode == ExitCode.PROVIDER
    waits = [float(w) for w in re.findall(r"retrying in ([0-9.]+) s", done.stderr.decode())]
    assert len(waits) == 3
    assert all(wait >= 0.2 for wait in waits), waits  # never 0: a floor of 0.25 s


def test_a_server_that_reads_the_upload_too_slowly_is_given_up_on_and_nothing_was_stored(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # 12 MB: more than the socket buffers hold, so the send itself stalls; only the
    # watchdog (cutting the socket) ends it. The body never arrived whole: not ambiguous.
    with sandbox_process("slow_read_bytes_per_second=200") as base_url:
        defaults = RULE + "retries = 2\n"
        config = write_config(tmp_path / "c.toml", base_url, defaults=defaults)
        image = write_sized_png(tmp_path / "big.png", 12_000_000)
        done = run_cli(
            ["--config", str(config), "upload", "-f", "json", str(image)],
            hermetic_env,
            timeout=60,
        )
        stored = get_json(f"{base_url}/_sandbox/uploads")
    assert done.returncode == ExitCode.PROVIDER
    (record,) = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert (record["status"], record["ambiguous"]) == ("failed", False)
    assert "was too slow: less than 1000 bytes/s for 1 s" in record["error"]
    assert stored == []


# 40 MB of one JSON string: past the 32 MiB no answer of these APIs reaches. Read whole
# before, it could fill the memory (a server streaming without end: forever).
FLOOD = Canned(200, b'{"data": {"id": "' + b"a" * (40 << 20) + b'"}}')


@pytest.mark.parametrize(
    ("command", "defaults", "ambiguous"),
    [
        (["info", "abc"], "", None),
        (["info", "abc"], "low_speed_limit = 0\n", None),  # the rule off: capped all the same
        (["upload", "-f", "json"], "", True),  # sent, answer unread: maybe stored
    ],
)
def test_an_answer_too_large_for_any_api_is_cut_short(
    tmp_path: Path,
    hermetic_env: dict[str, str],
    command: list[str],
    defaults: str,
    ambiguous: bool | None,
) -> None:
    args = [*command, str(write_png(tmp_path / "a.png"))] if command[0] == "upload" else command
    with canned_server(FLOOD) as (url, recorder):
        config = write_config(
            tmp_path / "c.toml", url, defaults=f"[defaults]\nretries = 1\n{defaults}"
        )
        done = run_cli(["--config", str(config), *args], hermetic_env)
        assert len(recorder.requests) == 1
    assert done.returncode == ExitCode.PROVIDER, done.stderr
    err = done.stderr.decode()
    assert "Traceback" not in err
    assert "was over 32 MiB, which no answer of this API is" in err.splitlines()[0]
    if ambiguous is not None:
        (record,) = [json.loads(line) for line in done.stdout.decode().splitlines()]
        assert (record["status"], record["ambiguous"]) == ("failed", ambiguous)
