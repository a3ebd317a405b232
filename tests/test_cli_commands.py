"""``uploader limits``, ``demo`` and ``sandbox`` in-process."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import clock as fake_clock
from tests.support.cli import invoke, json_lines, lines, sandbox
from tests.support.e2e import write_config
from tests.support.images import write_png
from uploader.cli import demo as demo_cli
from uploader.commands.demo import DemoReport
from uploader.commands.runtime import Runtime
from uploader.errors import ExitCode
from uploader.sandbox import Sandbox, SandboxConfig


def test_limits_lists_every_profile_even_when_one_cannot_be_asked(tmp_path: Path) -> None:
    clock = fake_clock()
    with sandbox(clock) as server:
        base = server.base_url
        config = write_config(
            tmp_path / "c.toml",
            base,
            extra=f'\n[providers.gy]\nkind = "gyazo"\nbase_url = "{base}/gyazo"\n'
            f'upload_url = "{base}/gyazo-upload"\n',
        )
        runtime = Runtime(clock=clock, sleep=clock.sleep)
        image = str(write_png(tmp_path / "a.png"))
        up = invoke(["--config", str(config), "upload", image], runtime=runtime)
        assert up.exit_code == 0, up.stderr
        clock.now += 60
        done = invoke(["--config", str(config), "limits"], runtime=runtime)
        as_json = invoke(["--config", str(config), "limits", "--json"], runtime=runtime)
        only_gy = invoke(["--config", str(config), "limits", "gy"], runtime=runtime)
        refreshed = invoke(["--config", str(config), "limits", "sb", "--refresh"], runtime=runtime)
        credits = [r for r in server.requests() if r["path"] == "/imgur/3/credits"]
    assert done.exit_code == 0, done.stderr
    out = lines(done.stdout)
    assert out[0] == f"sb (imgur, {base}/imgur)"
    post = next(line for line in out if line.startswith("  Imgur POST bucket (per IP): "))
    # Measured with the injected clock: the upload was 60 s before `now`.
    assert re.fullmatch(
        r"  Imgur POST bucket \(per IP\): 1249/1250 left; "
        r"resets (?:tomorrow )?at \d\d:\d\d:\d\d \S+ "
        r"\(in 59 min\); headers seen at \d\d:\d\d:\d\d \S+",
        post,
    ), post
    at = out.index(f"gy (gyazo, {base}/gyazo)")
    assert out[at + 1].startswith("  not available: ")
    assert "Gyazo" in out[at + 1]
    rows = json_lines(as_json.stdout)
    assert {row["profile"] for row in rows} == {"sb", "gy"}
    assert [row["bucket"] for row in rows if row["profile"] == "gy"] == [None]
    (post_row,) = [row for row in rows if row["bucket"] == "post"]
    assert post_row["remaining"] == 1249
    assert only_gy.exit_code == ExitCode.AUTH  # asked by name: its error is the answer
    assert refreshed.exit_code == 0, refreshed.stderr
    # The free cold-start check before the first upload, then the one --refresh asked for.
    assert len(credits) == 2
    assert "; live check " in refreshed.stdout


def test_limits_when_no_profile_can_be_asked_exits_with_its_error(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[providers.gy]\nkind = "gyazo"\n')
    done = invoke(["--config", str(config), "limits"])
    assert done.exit_code == ExitCode.AUTH
    assert lines(done.stdout)[0] == "gy (gyazo, https://api.gyazo.com)"
    assert lines(done.stdout)[1].startswith("  not available: ")


def test_limits_without_a_config_names_the_environment_s_provider(
    hermetic_env: dict[str, str],
) -> None:
    path = Path(hermetic_env["XDG_CONFIG_HOME"]) / "uploader" / "config.toml"
    plain = invoke(["limits"])
    assert plain.exit_code == ExitCode.USAGE
    assert lines(plain.stderr)[0] == f"error: no configuration file at {path}"
    named = invoke(["limits"], env={"UPLOADER_PROVIDER": "nope"})
    assert lines(named.stderr)[0] == (
        "error: unknown provider 'nope' (from environment variable UPLOADER_PROVIDER): "
        f"no configuration file at {path}"
    )


def test_demo_uploads_offline_and_checks_the_bytes() -> None:
    done = invoke(["demo"])
    assert done.exit_code == 0, done.stderr
    out = lines(done.stdout)
    assert re.fullmatch(r"uploaded: http://127\.0\.0\.1:\d+/imgur/i/\w{7}\.png", out[0])
    assert re.fullmatch(r"id: \w+  deletehash: \w+", out[1])
    assert re.fullmatch(r"sha256 stored by the sandbox: [0-9a-f]{64} \(matches the file\)", out[2])
    assert out[3] == "rate limits read from the response headers:"
    post = [line for line in out[4:] if line.startswith("  Imgur POST bucket (per IP): ")]
    assert len(post) == 1
    assert re.fullmatch(
        r"  Imgur POST bucket \(per IP\): 1249/1250 left; "
        r"resets (?:tomorrow )?at \S+ \S+ \(in 60 min\); "
        r"headers seen at \S+ \S+",
        post[0],
    )


def test_demo_leaves_nothing_in_the_users_history_or_state(hermetic_env: dict[str, str]) -> None:
    # Its upload lives in a sandbox that is gone once the demo ends: no row of it, no state.
    assert invoke(["demo"]).exit_code == 0
    for key in ("XDG_DATA_HOME", "XDG_STATE_HOME"):
        assert not (Path(hermetic_env[key]) / "uploader").exists(), key


def test_demo_exits_5_when_the_stored_bytes_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    real = demo_cli.run_demo

    def tampered(runtime: Runtime) -> DemoReport:
        return replace(real(runtime), stored_sha256=hashlib.sha256(b"other").hexdigest())

    monkeypatch.setattr(demo_cli, "run_demo", tampered)
    done = invoke(["demo"])
    assert done.exit_code == ExitCode.PROVIDER
    assert lines(done.stdout)[2].endswith(" (DIFFERS FROM the file)")


@pytest.mark.parametrize(
    ("args", "error", "hint"),
    [
        (
            ["--set", "nope=1"],
            "error: --set 'nope=1': unknown sandbox knob 'nope'",
            "hint: knobs: ",
        ),
        (
            ["--set", "imgur_post_limit=many"],
            "error: knob imgur_post_limit must be an integer, got 'many'",
            "hint: --set takes TOML values",
        ),
        (
            ["--host", "8.8.8.8"],
            "error: --host '8.8.8.8' is not a loopback address",
            "hint: the sandbox serves only 127.0.0.1 or ::1",
        ),
        (["--port", "70000"], "error: --port 70000 is not a port number (0-65535)", "hint: use"),
    ],
)
def test_sandbox_refuses_bad_knobs_hosts_and_ports(args: list[str], error: str, hint: str) -> None:
    done = invoke(["sandbox", *args])
    assert done.exit_code == ExitCode.USAGE
    got_error, got_hint = lines(done.stderr)
    assert got_error.startswith(error), got_error
    assert got_hint.startswith(hint), got_hint
    assert done.stdout == ""


def test_sandbox_prints_its_base_url_first(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []

    def serve(config: SandboxConfig, host: str, port: int, ready: Any) -> None:
        served.append((config.imgur_post_limit, host, port))
        ready("http://127.0.0.1:4321")

    monkeypatch.setattr(Sandbox, "serve_forever", staticmethod(serve))
    done = invoke(["sandbox", "--port", "4321", "--set", "imgur_post_limit=40"])
    assert done.exit_code == 0, done.stderr
    assert done.stdout == "http://127.0.0.1:4321\n"
    assert served == [(40, "127.0.0.1", 4321)]
