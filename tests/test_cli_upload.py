"""``uploader upload`` in-process against an in-process sandbox: output, exit codes, and
the shared options' precedence (flag > UPLOADER_* > config file > default)."""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import clock as fake_clock
from tests.support.cli import invoke, json_lines, lines, posts, sandbox, with_defaults
from tests.support.clock import FakeTime
from tests.support.e2e import write_config
from tests.support.images import png_bytes, write_png
from uploader.commands.runtime import Runtime
from uploader.errors import ExitCode
from uploader.sandbox import Sandbox


@pytest.fixture
def server() -> Iterator[Sandbox]:
    with sandbox() as running:
        yield running


def test_one_file_prints_its_link_and_the_sandbox_stored_the_same_bytes(
    tmp_path: Path, server: Sandbox
) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = write_png(tmp_path / "a.png", seed=1)
    done = invoke(["--config", str(config), "upload", str(image)])
    assert done.exit_code == 0, done.stderr
    (link,) = lines(done.stdout)
    assert link.startswith(f"{server.base_url}/imgur/i/")
    (stored,) = server.uploads()
    assert stored["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert done.stderr == ""


def test_standard_input_is_read_from_the_runtime(tmp_path: Path, server: Sandbox) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    data = png_bytes(seed=2)
    runtime = Runtime(stdin=io.BytesIO(data))
    done = invoke(["--config", str(config), "upload", "-f", "json", "-"], runtime=runtime)
    assert done.exit_code == 0, done.stderr
    (record,) = json_lines(done.stdout)
    assert (record["path"], record["status"]) == ("-", "uploaded")
    assert server.uploads()[0]["sha256"] == hashlib.sha256(data).hexdigest()


def test_standard_input_twice_is_a_usage_error(tmp_path: Path, server: Sandbox) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    done = invoke(["--config", str(config), "upload", "-", "-"])
    assert done.exit_code == ExitCode.USAGE
    assert lines(done.stderr)[0] == "error: '-' (standard input) can be given only once"
    assert server.requests() == []


def test_format_flag_beats_environment_beats_file_beats_default(
    tmp_path: Path, server: Sandbox
) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = str(write_png(tmp_path / "a.png", seed=3))
    default = invoke(["--config", str(config), "upload", image])
    cdn = f"{server.base_url}/imgur/i/"
    assert default.stdout.startswith(cdn)
    with_defaults(config, 'format = "bbcode"')
    from_file = invoke(["--config", str(config), "upload", image])
    assert from_file.stdout.startswith(f"[img]{cdn}")
    from_env = invoke(["--config", str(config), "upload", image], env={"UPLOADER_FORMAT": "json"})
    assert json_lines(from_env.stdout)[0]["status"] == "uploaded"
    from_flag = invoke(
        ["--config", str(config), "upload", "-f", "markdown", image],
        env={"UPLOADER_FORMAT": "json"},
    )
    assert from_flag.stdout.startswith(f"![a.png]({cdn}")
    assert from_flag.stdout.count("\n") == 1
    # A flag wins even over a variable that would be refused.
    over_bad = invoke(
        ["--config", str(config), "upload", "-f", "html", image], env={"UPLOADER_FORMAT": "png"}
    )
    assert over_bad.exit_code == 0, over_bad.stderr
    assert over_bad.stdout.startswith(f'<img src="{cdn}')


def _spent_post_bucket(tmp_path: Path, server: Sandbox, clock: FakeTime) -> tuple[Path, str]:
    """A config for ``server`` whose POST bucket (1 per 120 s) the first upload spent."""
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = str(write_png(tmp_path / "a.png", seed=4))
    first = invoke(["--config", str(config), "upload", image], runtime=Runtime(clock=clock))
    assert first.exit_code == 0, first.stderr
    return config, image


@pytest.mark.parametrize(
    ("how", "env"),
    [
        ("flag", {}),
        ("environment", {"UPLOADER_ON_LIMIT": "fail"}),
        ("file", {}),
    ],
)
def test_on_limit_fail_from_flag_environment_or_file_sends_nothing(
    tmp_path: Path, how: str, env: dict[str, str]
) -> None:
    clock = fake_clock()
    with sandbox(clock, imgur_post_limit=1, imgur_post_window=120) as server:
        config, image = _spent_post_bucket(tmp_path, server, clock)
        flag = ["--on-limit", "fail"] if how == "flag" else []
        if how == "file":
            with_defaults(config, 'on_limit = "fail"')
        done = invoke(
            ["--config", str(config), "upload", *flag, image],
            runtime=Runtime(clock=clock, sleep=clock.sleep),
            env=env,
        )
        assert len(posts(server)) == 1  # refused before sending
    assert done.exit_code == ExitCode.RATE_LIMITED
    assert "Imgur POST bucket (per IP) is spent (0 of 1 left)" in done.stderr
    assert clock.sleeps == []


def test_wait_for_the_reset_then_send(tmp_path: Path) -> None:
    clock = fake_clock()
    with sandbox(clock, imgur_post_limit=1, imgur_post_window=120) as server:
        config, image = _spent_post_bucket(tmp_path, server, clock)
        done = invoke(
            ["--config", str(config), "upload", image],
            runtime=Runtime(clock=clock, sleep=clock.sleep),
        )
        assert len(posts(server)) == 2
    assert done.exit_code == 0, done.stderr
    assert 119 <= sum(clock.sleeps) <= 122
    assert "waiting " in done.stderr


@pytest.mark.parametrize("source", ["flag", "environment", "file"])
def test_max_wait_from_flag_environment_or_file_bounds_the_wait(
    tmp_path: Path, source: str
) -> None:
    clock = fake_clock()
    with sandbox(clock, imgur_post_limit=1, imgur_post_window=120) as server:
        config, image = _spent_post_bucket(tmp_path, server, clock)
        flag = ["--max-wait", "60"] if source == "flag" else []
        env = {"UPLOADER_MAX_WAIT": "60"} if source == "environment" else {}
        if source == "file":
            with_defaults(config, "max_wait = 60")
        done = invoke(
            ["--config", str(config), "upload", *flag, image],
            runtime=Runtime(clock=clock, sleep=clock.sleep),
            env=env,
        )
        assert len(posts(server)) == 1
    assert done.exit_code == ExitCode.RATE_LIMITED
    assert clock.sleeps == []  # a wait longer than max_wait is not started


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "UPLOADER_FORMAT",
            "png",
            "error: Invalid value for '-f' / '--format' (env var: 'UPLOADER_FORMAT'): 'png' is "
            "not one of 'url', 'markdown', 'html', 'bbcode', 'json'.",
        ),
        (
            "UPLOADER_ON_LIMIT",
            "never",
            "error: Invalid value for '--on-limit' (env var: 'UPLOADER_ON_LIMIT'): 'never' is "
            "not one of 'wait', 'fail'.",
        ),
        (
            "UPLOADER_MAX_WAIT",
            "-5",
            "error: Invalid value for '--max-wait' (env var: 'UPLOADER_MAX_WAIT'): -5.0 is not "
            "in the range x>=0.",
        ),
        (
            "UPLOADER_MAX_WAIT",
            "nan",
            "error: Invalid value for '--max-wait' (env var: 'UPLOADER_MAX_WAIT'): must be a "
            "finite number, not nan",
        ),
        (
            "UPLOADER_MAX_WAIT",
            "inf",
            "error: Invalid value for '--max-wait' (env var: 'UPLOADER_MAX_WAIT'): must be a "
            "finite number, not inf",
        ),
        (
            "UPLOADER_MAX_WAIT",
            "soon",
            "error: Invalid value for '--max-wait' (env var: 'UPLOADER_MAX_WAIT'): 'soon' is "
            "not a valid float range.",
        ),
    ],
)
def test_a_bad_environment_value_is_exit_2_naming_the_variable(
    tmp_path: Path, server: Sandbox, variable: str, value: str, message: str
) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = str(write_png(tmp_path / "a.png"))
    done = invoke(["--config", str(config), "upload", image], env={variable: value})
    assert done.exit_code == ExitCode.USAGE
    assert lines(done.stderr) == [
        message,
        f"hint: fix or unset the environment variable {variable}",
    ]
    assert server.requests() == []


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_max_wait_flag_must_be_a_number_of_seconds(value: str) -> None:
    done = invoke(["upload", "--max-wait", value, "x.png"])
    assert done.exit_code == ExitCode.USAGE
    error, hint = lines(done.stderr)
    assert error.startswith("error: Invalid value for '--max-wait': ")
    assert "env var" not in error  # the value came from the flag
    assert hint == "hint: see `uploader upload --help`"


def test_provider_flag_beats_the_environment_and_errors_say_where_a_name_came_from(
    tmp_path: Path, server: Sandbox
) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = str(write_png(tmp_path / "a.png"))
    from_env = invoke(["--config", str(config), "upload", image], env={"UPLOADER_PROVIDER": "nope"})
    assert from_env.exit_code == ExitCode.USAGE
    assert lines(from_env.stderr) == [
        "error: unknown provider 'nope' (from environment variable UPLOADER_PROVIDER) "
        "(configured: sb)",
        f"hint: add a [providers.nope] table to {config}",
    ]
    from_flag = invoke(["--config", str(config), "upload", "-p", "flickr", image])
    assert lines(from_flag.stderr)[0] == "error: unknown provider 'flickr' (configured: sb)"
    flag_wins = invoke(
        ["--config", str(config), "upload", "-p", "sb", image], env={"UPLOADER_PROVIDER": "nope"}
    )
    assert flag_wins.exit_code == 0, flag_wins.stderr
    assert len(posts(server)) == 1


def test_options_reach_the_server(tmp_path: Path, server: Sandbox) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = str(write_png(tmp_path / "a.png", seed=5))
    args = ["--title", "Tüt", "--description", "a  b", "--album", "fakeAlbumHash"]
    done = invoke(["--config", str(config), "upload", *args, image])
    assert done.exit_code == 0, done.stderr
    fields = posts(server)[-1]["fields"]
    assert (fields["title"], fields["description"], fields["album"]) == (
        "Tüt",
        "a  b",
        "fakeAlbumHash",
    )


def test_a_batch_with_a_missing_file_is_exit_6(tmp_path: Path, server: Sandbox) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    good = write_png(tmp_path / "good.png", seed=7)
    done = invoke(["--config", str(config), "upload", str(good), str(tmp_path / "gone.png")])
    assert done.exit_code == ExitCode.PARTIAL
    out = done.stdout.split("\n")
    assert out[0].startswith(f"{server.base_url}/imgur/i/")
    assert out[1:] == ["", ""]
    assert f"error: {tmp_path / 'gone.png'}: no such file" in done.stderr


def test_copy_puts_the_links_on_the_clipboard_or_warns(tmp_path: Path, server: Sandbox) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    clipboard = tmp_path / "clipboard.txt"
    fake = bin_dir / "xclip"
    fake.write_text(f"#!/bin/sh\ncat > {clipboard}\n")
    fake.chmod(0o755)
    config = write_config(tmp_path / "c.toml", server.base_url)
    files = [str(write_png(tmp_path / f"{n}.png", seed=10 + n)) for n in range(2)]
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "WAYLAND_DISPLAY": ""}
    done = invoke(["--config", str(config), "upload", "--copy", *files], env=env)
    assert done.exit_code == 0, done.stderr
    assert clipboard.read_text() == done.stdout.rstrip("\n")
    assert clipboard.read_text().count(f"{server.base_url}/imgur/i/") == 2
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    none = invoke(
        ["--config", str(config), "upload", "--copy", files[0]],
        env={"PATH": str(empty), "WAYLAND_DISPLAY": ""},
    )
    assert none.exit_code == 0, none.stderr
    assert lines(none.stderr) == [
        "warning: --copy: no clipboard tool found (wl-copy, xclip, xsel, pbcopy)"
    ]
    quiet = invoke(
        ["-q", "--config", str(config), "upload", "--copy", files[0]],
        env={"PATH": str(empty), "WAYLAND_DISPLAY": ""},
    )
    assert (quiet.exit_code, quiet.stderr) == (0, "")


def test_the_starter_placeholder_client_id_sends_nothing(tmp_path: Path, server: Sandbox) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url, client_id="your-client-id")
    done = invoke(["--config", str(config), "upload", str(write_png(tmp_path / "a.png"))])
    assert done.exit_code == ExitCode.USAGE
    assert lines(done.stderr)[0] == (
        f"error: {config}, line 5: key 'providers.sb.client_id' is still the starter "
        "config's placeholder 'your-client-id'"
    )
    hint = lines(done.stderr)[1]
    assert hint == (
        "hint: put an Imgur client id you already have there, or set UPLOADER_SB_CLIENT_ID "
        "(Imgur registers no new apps since 2025: without one, use a Gyazo token or a "
        "Mastodon account)"
    )
    assert server.requests() == []
    from_env = invoke(
        ["--config", str(config), "upload", str(write_png(tmp_path / "a.png"))],
        env={"UPLOADER_SB_CLIENT_ID": "fake-real-id"},
    )
    assert from_env.exit_code == 0, from_env.stderr


def test_debug_lines_at_vv_belong_to_that_run_only(tmp_path: Path, server: Sandbox) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url, client_id="fake-client-id-77")
    image = str(write_png(tmp_path / "a.png", seed=8))
    loud = invoke(["-vv", "--config", str(config), "upload", image])
    assert loud.exit_code == 0, loud.stderr
    assert f"uploader: POST {server.base_url}/imgur/3/image" in lines(loud.stderr)
    assert "fake-client-id-77" not in loud.stderr
    after = invoke(["--config", str(config), "upload", image])
    assert (after.exit_code, after.stderr) == (0, "")
    assert logging.getLogger("uploader").handlers == []
