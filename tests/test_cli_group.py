"""The group, in-process: help, version, usage errors, the one error-to-exit-code mapping,
verbosity from the parsed options (-qvv), lazy loading and a broken config file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from tests.support.cli import invoke, lines
from uploader import __version__
from uploader.cli import COMMANDS
from uploader.commands import upload as upload_core
from uploader.errors import ExitCode

HELP_COMMANDS = [
    "Commands:",
    "  auth     Sign in, see who is signed in, sign out.",
    "  config   Where the config is, what it says, and a starter file.",
    "  delete   Delete an upload: Imgur deletehash or id, Gyazo image id,...",
    "  demo     Upload a bundled image to the built-in sandbox, offline, and...",
    "  history  What was uploaded, newest first, from the local upload history.",
    "  info     Metadata of one upload (revalidated with its ETag: a 304 costs...",
    "  limits   What each rate-limit bucket has left and when it resets.",
    "  list     The account's recent uploads, where the provider keeps such a...",
    "  sandbox  Run the offline provider emulator; the first line printed is...",
    "  serve    Run a PicGo-compatible upload server for Typora, Obsidian and...",
    "  state    The rate-limit state: copy the local figures into Redis.",
    "  upload   Upload PATH...",
]


def _same_commands(shown: list[str]) -> None:
    """The Commands section; a short help is cut ("...") to fit the terminal's width."""
    assert len(shown) == len(HELP_COMMANDS)
    for line, expected in zip(shown, HELP_COMMANDS, strict=True):
        assert line.startswith(expected.removesuffix("...")), (line, expected)


def test_help_lists_every_command_with_its_short_help() -> None:
    done = invoke(["--help"])
    assert done.exit_code == 0
    out = lines(done.stdout)
    assert out[0] == "Usage: uploader [OPTIONS] COMMAND [ARGS]..."
    _same_commands(out[out.index("Commands:") :])
    assert sorted(COMMANDS) == [line.split()[0] for line in HELP_COMMANDS[1:]]
    assert "  --config FILE  Config file to use.  [env var: UPLOADER_CONFIG]" in out
    assert invoke(["-h"]).stdout == done.stdout


def test_no_command_prints_the_help_on_stderr_as_a_usage_error() -> None:
    done = invoke([])
    assert done.exit_code == ExitCode.USAGE
    assert done.stdout == ""
    assert done.stderr.startswith("Usage: uploader [OPTIONS] COMMAND")
    _same_commands(lines(done.stderr)[-len(HELP_COMMANDS) :])
    assert "error:" not in done.stderr


def test_version() -> None:
    done = invoke(["--version"])
    assert (done.exit_code, done.stdout) == (0, f"uploader, version {__version__}\n")


def test_an_unknown_option_is_one_error_line_and_a_hint() -> None:
    done = invoke(["upload", "--bogus", "x.png"])
    assert done.exit_code == ExitCode.USAGE
    error, hint = lines(done.stderr)
    assert error.startswith("error: No such option '--bogus'.")
    assert hint == "hint: see `uploader upload --help`"


def test_an_unknown_command_is_a_usage_error() -> None:
    done = invoke(["uplaod", "x.png"])
    assert done.exit_code == ExitCode.USAGE
    assert lines(done.stderr) == [
        "error: No such command 'uplaod'.",
        "hint: see `uploader --help`",
    ]


@pytest.mark.parametrize(
    ("flags", "traceback"),
    [((), False), (("-v",), False), (("-vv",), True), (("-qvv",), True), (("-v", "-qv"), True)],
)
def test_an_internal_error_is_exit_1_with_a_traceback_only_at_vv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flags: tuple[str, ...], traceback: bool
) -> None:
    def boom(*_args: object) -> None:
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(upload_core, "upload", boom)
    config = tmp_path / "c.toml"
    config.write_text("")
    done = invoke([*flags, "--config", str(config), "upload", "x.png"])
    assert done.exit_code == ExitCode.INTERNAL
    err = lines(done.stderr)
    assert err[-2:] == [
        "error: internal error: RuntimeError: something broke",
        "hint: run again with -vv for a traceback, and report it",
    ]
    assert ("Traceback (most recent call last):" in err) is traceback
    assert (len(err) == 2) is not traceback


def test_an_error_while_a_command_loads_gets_its_traceback_at_vv(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(COMMANDS, "upload", "nosuchmodule:upload")
    quiet = invoke(["upload", "x.png"])
    loud = invoke(["-qvv", "upload", "x.png"])
    for done in (quiet, loud):
        assert done.exit_code == ExitCode.INTERNAL
        assert lines(done.stderr)[-2] == (
            "error: internal error: ModuleNotFoundError: "
            "No module named 'uploader.cli.nosuchmodule'"
        )
    assert "Traceback" not in quiet.stderr
    assert "Traceback (most recent call last):" in loud.stderr


def test_an_error_of_ours_gets_a_traceback_only_at_vv() -> None:
    quiet = invoke(["upload", "x.png"])
    loud = invoke(["-vv", "upload", "x.png"])
    for done in (quiet, loud):
        assert done.exit_code == ExitCode.USAGE
        assert lines(done.stderr)[-2].startswith("error: no configuration file at ")
    assert "Traceback" not in quiet.stderr
    assert "Traceback (most recent call last):" in loud.stderr
    assert "uploader.errors.ConfigError: no configuration file at " in loud.stderr


def test_a_registered_name_that_is_not_a_command_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(COMMANDS, "upload", "options:shared")
    done = invoke(["upload", "x.png"])
    assert done.exit_code == ExitCode.INTERNAL
    assert lines(done.stderr)[0] == (
        "error: internal error: TypeError: uploader.cli.options.shared is not a click command"
    )


def test_ctrl_c_at_a_prompt_is_exit_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def aborted(*_args: object) -> None:
        raise click.exceptions.Abort  # what click.prompt raises on Ctrl-C

    monkeypatch.setattr(upload_core, "upload", aborted)
    config = tmp_path / "c.toml"
    config.write_text("")
    done = invoke(["--config", str(config), "upload", "x.png"])
    assert (done.exit_code, done.stderr) == (ExitCode.INTERRUPTED, "error: interrupted\n")


def test_ctrl_c_in_a_command_is_exit_130_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(upload_core, "upload", interrupted)
    config = tmp_path / "c.toml"
    config.write_text("")
    done = invoke(["--config", str(config), "upload", "x.png"])
    assert done.exit_code == ExitCode.INTERRUPTED
    assert done.stderr == "error: interrupted\n"  # no empty line before it (click prints one)


def test_a_broken_config_file_breaks_only_the_commands_that_read_it(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[defaults]\nmax_wait = 3\nformat = url\n")
    expected = f"error: {broken}, line 3: key 'defaults.format': invalid TOML: Invalid value"
    for args in (["--help"], ["--version"], ["upload", "--help"], ["config", "init", "--stdout"]):
        done = invoke(["--config", str(broken), *args])
        assert (done.exit_code, done.stderr) == (0, ""), args
    path = invoke(["config", "path"], env={"UPLOADER_CONFIG": str(broken)})
    assert (path.exit_code, path.stdout) == (0, f"{broken}\n")
    for args in (["config", "show"], ["upload", "x.png"], ["limits"], ["info", "abc"]):
        done = invoke(args, env={"UPLOADER_CONFIG": str(broken)})
        assert done.exit_code == ExitCode.USAGE, args
        assert lines(done.stderr)[0] == expected, args


def test_upload_loads_no_other_command_s_module() -> None:
    code = (
        "import sys\n"
        "from uploader.cli import main\n"
        "try:\n"
        "    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('uploader.cli.')), file=sys.stderr)\n"
    )
    loaded = {}
    for args in (["upload", "--help"], ["--help"]):
        done = subprocess.run(
            [sys.executable, "-c", code.format(args=args)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        loaded[args[0]] = eval(done.stderr.splitlines()[-1])  # noqa: S307 - our own repr
    assert loaded["upload"] == ["uploader.cli.options", "uploader.cli.upload"]
    modules = {f"uploader.cli.{target.split(':')[0]}" for target in COMMANDS.values()}
    assert set(loaded["--help"]) == modules | {"uploader.cli.options"}
