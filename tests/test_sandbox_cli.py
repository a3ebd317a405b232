"""``uploader sandbox``'s input checks: knobs, --set values, host, port, IPv6 loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.e2e import run_cli, sandbox_process
from tests.support.images import png_bytes
from uploader.commands.sandbox import parse_knobs, serve
from uploader.errors import ExitCode, UsageError
from uploader.sandbox import Sandbox, SandboxConfig


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def _refused(*settings: str, knobs_file: str | None = None) -> UsageError:
    with pytest.raises(UsageError) as caught:
        parse_knobs(knobs_file, settings)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "\n" not in caught.value.message
    return caught.value


def test_set_values_are_toml_values_or_bare_words() -> None:
    config = parse_knobs(
        None,
        [
            'imgur_client_ids=["good", "also"]',
            "imgur_tokens=tok-1, tok-2",
            "gyazo_tokens=one",
            "mastodon_tokens=[]",
            "imgur_post_limit=1_250",
            "latency=2",
            "fault_500=0.25",
            "oauth_auto_approve=false",
            "imgur_429_shape=legacy",
            'imgur_throttle_shape="legacy429"',
            "oauth_client_secret=123",
            "storage_dir=/tmp/sandbox store",
        ],
    )
    assert config == SandboxConfig(
        imgur_client_ids=("good", "also"),
        imgur_tokens=("tok-1", "tok-2"),
        gyazo_tokens=("one",),
        mastodon_tokens=(),
        imgur_post_limit=1250,
        latency=2.0,
        fault_500=0.25,
        oauth_auto_approve=False,
        imgur_429_shape="legacy",
        imgur_throttle_shape="legacy429",
        oauth_client_secret="123",
        storage_dir="/tmp/sandbox store",
    )
    assert isinstance(config.latency, float)
    assert parse_knobs(None, ["oauth_auto_approve=0", "storage_dir=none"]) == SandboxConfig(
        oauth_auto_approve=False, storage_dir=None
    )


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("imgur_post_limit=x", "knob imgur_post_limit must be an integer, got 'x'"),
        ("imgur_post_limit=1.5", "knob imgur_post_limit must be an integer, got '1.5'"),
        ("latency=slow", "knob latency must be a number, got 'slow'"),
        ("latency=inf", "knob latency must be a finite number, got 'inf'"),
        ("fault_500=2", "knob fault_500 must be between 0 and 1, got '2'"),
        ("imgur_post_window=0", "knob imgur_post_window must be more than 0, got '0'"),
        ("oauth_auto_approve=yes", "knob oauth_auto_approve must be true or false, got 'yes'"),
        ("imgur_tokens=[1, 2]", "knob imgur_tokens must be a list of strings, got '[1, 2]'"),
        (
            "imgur_429_shape=modern",
            "knob imgur_429_shape must be one of gateway, legacy, concatenated, got 'modern'",
        ),
        (
            "fault_routes=upload,post",
            "knob fault_routes must be a list of upload, get, all, got 'upload,post'",
        ),
    ],
)
def test_bad_set_values_name_the_knob_and_the_text(setting: str, message: str) -> None:
    error = _refused(setting)
    assert error.message == message
    assert error.hint is not None
    assert "TOML" in error.hint


def test_unknown_knobs_and_bad_files() -> None:
    unknown = _refused("imgur_post_limt=4")
    assert unknown.message == "--set 'imgur_post_limt=4': unknown sandbox knob 'imgur_post_limt'"
    assert unknown.hint is not None
    assert "imgur_post_limit" in unknown.hint
    assert _refused("latency").message == "--set 'latency': expected KNOB=VALUE"
    missing = _refused(knobs_file="/nonexistent/knobs.toml")
    assert missing.message == "sandbox knobs /nonexistent/knobs.toml: No such file or directory"


def test_a_knobs_file_then_set_overrides(tmp_path: Path) -> None:
    path = tmp_path / "knobs.toml"
    path.write_text("imgur_post_limit = 40\nlatency = 'slow'\n")
    assert _refused(knobs_file=str(path)).message == (
        f"sandbox knobs {path}: knob latency must be a number, got 'slow'"
    )
    path.write_text("imgur_post_limit = 40\nfault_500 = 0.5\n")
    config = parse_knobs(str(path), ["fault_500=0"])
    assert (config.imgur_post_limit, config.fault_500) == (40, 0.0)


def _never(url: str) -> None:
    raise AssertionError(f"the sandbox should not have started ({url})")


@pytest.mark.parametrize("host", ["10.0.0.1", "0.0.0.0", "::", "example.com"])  # noqa: S104
def test_non_loopback_hosts_are_refused(host: str) -> None:
    with pytest.raises(UsageError, match="is not a loopback address") as caught:
        serve(host, 0, None, [], ready=_never)
    assert caught.value.hint == "the sandbox serves only 127.0.0.1 or ::1"
    with pytest.raises(ValueError, match="not a loopback address"):
        Sandbox(host=host).start()


@pytest.mark.parametrize("port", [-1, 65536, 99999])
def test_ports_out_of_range_are_usage_errors(port: int) -> None:
    with pytest.raises(UsageError) as caught:
        serve("127.0.0.1", port, None, [], ready=_never)
    assert caught.value.message == f"--port {port} is not a port number (0-65535)"
    assert caught.value.hint == "use --port 0 to pick a free port"


def test_a_port_in_use_is_a_usage_error(busy_port: int) -> None:
    with pytest.raises(UsageError) as caught:
        serve("127.0.0.1", busy_port, None, [], ready=_never)
    assert caught.value.message == f"cannot listen on 127.0.0.1:{busy_port}: address already in use"
    assert caught.value.hint == "use --port 0 to pick a free port"


def test_the_command_exits_2_with_one_error_and_a_hint(
    busy_port: int, tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("latency = \n")
    for args, error in (
        (["--port", str(busy_port)], f"127.0.0.1:{busy_port}: address already in use"),
        (["--port", "99999"], "--port 99999 is not a port number (0-65535)"),
        (["--host", "192.168.1.1"], "--host '192.168.1.1' is not a loopback address"),
        (["--set", "imgur_post_limit=x"], "knob imgur_post_limit must be an integer, got 'x'"),
        (["--knobs", str(bad_toml)], f"sandbox knobs {bad_toml}: invalid TOML"),
        (
            ["--set", f"storage_dir={bad_toml}"],
            f"knob storage_dir '{bad_toml}': cannot store uploads there (File exists)",
        ),
    ):
        done = run_cli(["sandbox", *args], hermetic_env, timeout=30)
        err = done.stderr.decode()
        lines = err.splitlines()
        assert done.returncode == ExitCode.USAGE, err
        assert len(lines) == 2, err
        assert lines[0].startswith("error: "), err
        assert error in lines[0], err
        assert lines[1].startswith("hint: "), err
        assert "Traceback" not in err
        assert done.stdout == b""


@needs_ipv6
def test_ipv6_loopback_serves_with_a_bracketed_url() -> None:
    for host in ("::1", "[::1]"):
        with Sandbox(host=host) as sb:
            assert sb.base_url.startswith("http://[::1]:")
            with httpx.Client(base_url=sb.base_url + "/imgur", trust_env=False) as client:
                response = client.post(
                    "/3/image",
                    headers={"Authorization": "Client-ID abc"},
                    files={"image": ("a.png", png_bytes(), "image/png")},
                )
            assert response.status_code == 200
            assert sb.requests()[0]["status"] == 200


@needs_ipv6
def test_the_command_serves_ipv6_loopback() -> None:
    with sandbox_process(host="::1") as base:
        assert base.startswith("http://[::1]:")
        stats = httpx.get(f"{base}/_sandbox/stats", trust_env=False)
        assert (stats.status_code, stats.json()["requests"]) == (200, 0)


def test_every_knob_the_readme_names_is_a_knob() -> None:
    """The README's knob table names real knobs (`--set NAME=...` takes each one)."""
    import dataclasses
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("| knobs | what |", 1)[1].split("\n\n", 1)[0]
    named = {
        name
        for row in table.splitlines()[2:]
        for name in re.findall(r"`([^`]+)`", row.split(" | ")[0])
    }
    known = {f.name for f in dataclasses.fields(SandboxConfig)}
    assert len(named) > 30
    assert named - known == set()
