"""``uploader config path|show|init`` in-process."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.support.cli import invoke, lines
from uploader.errors import ExitCode

EXAMPLE = (Path(__file__).resolve().parent.parent / "config.example.toml").read_text()

GOOD = """\
default_provider = "imgur"

[defaults]
format = "markdown"
max_wait = 60

[providers.imgur]
kind = "imgur"
client_id = "abc123"

[providers.local]
kind = "imgur"
client_id = "local-client-77"
base_url = "http://127.0.0.1:9/imgur/"
"""


def test_path_follows_flag_then_environment_then_xdg(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    xdg = Path(hermetic_env["XDG_CONFIG_HOME"]) / "uploader" / "config.toml"
    assert invoke(["config", "path"]).stdout == f"{xdg}\n"
    env = {"UPLOADER_CONFIG": str(tmp_path / "env.toml")}
    assert invoke(["config", "path"], env=env).stdout == f"{tmp_path / 'env.toml'}\n"
    flag = invoke(["--config", str(tmp_path / "flag.toml"), "config", "path"], env=env)
    assert (flag.exit_code, flag.stdout) == (0, f"{tmp_path / 'flag.toml'}\n")


def test_init_writes_the_starter_once_and_quiet_drops_the_notice(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    target = tmp_path / "new" / "config.toml"
    loud = invoke(["--config", str(target), "config", "init"])
    assert loud.exit_code == 0, loud.stderr
    assert lines(loud.stderr) == [f"wrote {target}; edit client_id before uploading"]
    assert target.read_text() == EXAMPLE
    assert target.stat().st_mode & 0o777 == 0o600
    refused = invoke(["-q", "--config", str(target), "config", "init"])
    assert refused.exit_code == ExitCode.USAGE
    assert lines(refused.stderr) == [
        f"error: {target}: already exists",
        "hint: pass --force to overwrite it",
    ]
    target.write_text("edited")
    quiet = invoke(["-q", "--config", str(target), "config", "init", "--force"])
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    assert target.read_text() == EXAMPLE
    xdg = invoke(["config", "init"])
    assert xdg.exit_code == 0, xdg.stderr
    default = Path(hermetic_env["XDG_CONFIG_HOME"]) / "uploader" / "config.toml"
    assert default.read_text() == EXAMPLE


def test_init_stdout_prints_the_example_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    done = invoke(["--config", str(target), "config", "init", "--stdout"])
    assert (done.exit_code, done.stdout, done.stderr) == (0, EXAMPLE, "")
    assert not target.exists()


def _shown(text: str) -> dict[str, object]:
    return tomllib.loads(text)


def test_show_prints_the_file_with_secrets_masked(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(GOOD)
    done = invoke(
        ["--config", str(path), "config", "show"],
        env={"UPLOADER_LOCAL_ACCESS_TOKEN": "very-secret-token-value"},
    )
    assert done.exit_code == 0, done.stderr
    out = lines(done.stdout)
    assert out[:2] == [
        f"# effective configuration; file: {path}",
        "# local: access_token = '****ue' (from environment variable UPLOADER_LOCAL_ACCESS_TOKEN)",
    ]
    assert "very-secret-token-value" not in done.stdout
    assert "local-client-77" not in done.stdout
    shown = _shown(done.stdout)
    assert shown["default_provider"] == "imgur"
    assert shown["defaults"] == {
        "format": "markdown",
        "on_limit": "wait",
        "max_wait": 60.0,
        "retries": 4,
        "retry_max_time": 30.0,
        "retry_ambiguous": False,
        "skip_existing": False,
        "history": True,
        "strip_metadata": True,
        "jobs": 4,
        "connect_timeout": 10.0,
        "read_timeout": 60.0,
        "write_timeout": 60.0,
        "pool_timeout": 10.0,
        "low_speed_limit": 1000,
        "low_speed_time": 30.0,
    }
    assert shown["providers"]["local"] == {  # type: ignore[index]
        "kind": "imgur",
        "base_url": "http://127.0.0.1:9/imgur",
        "auth": "auto",
        "client_id": "****77",
    }


def test_show_includes_the_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(GOOD)
    env = {
        "UPLOADER_FORMAT": "json",
        "UPLOADER_MAX_WAIT": "5",
        "UPLOADER_ON_LIMIT": "fail",
        "UPLOADER_PROVIDER": "local",
    }
    done = invoke(["config", "show"], env={**env, "UPLOADER_CONFIG": str(path)})
    assert done.exit_code == 0, done.stderr
    shown = _shown(done.stdout)
    assert shown["default_provider"] == "local"
    defaults = shown["defaults"]
    assert isinstance(defaults, dict)
    assert (defaults["format"], defaults["max_wait"], defaults["on_limit"]) == ("json", 5.0, "fail")


def test_show_without_a_file_shows_the_built_in_defaults() -> None:
    done = invoke(["config", "show"], env={"UPLOADER_FORMAT": "html"})
    assert done.exit_code == 0, done.stderr
    assert lines(done.stdout)[0].endswith(" (missing: built-in defaults)")
    defaults = _shown(done.stdout)["defaults"]
    assert isinstance(defaults, dict)
    assert (defaults["format"], defaults["max_wait"], defaults["on_limit"]) == (
        "html",
        300.0,
        "wait",
    )


def test_show_refuses_a_bad_environment_value_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(GOOD)
    done = invoke(["--config", str(path), "config", "show"], env={"UPLOADER_MAX_WAIT": "soon"})
    assert done.exit_code == ExitCode.USAGE
    assert lines(done.stderr) == [
        "error: Invalid value for '--max-wait' (env var: 'UPLOADER_MAX_WAIT'): 'soon' is not "
        "a valid float range.",
        "hint: fix or unset the environment variable UPLOADER_MAX_WAIT",
    ]


def test_show_names_a_missing_file_given_by_the_environment(tmp_path: Path) -> None:
    missing = tmp_path / "gone.toml"
    done = invoke(["config", "show"], env={"UPLOADER_CONFIG": str(missing)})
    assert done.exit_code == ExitCode.USAGE
    assert lines(done.stderr) == [
        f"error: {missing}: no such config file",
        "hint: run `uploader config init`",
    ]
