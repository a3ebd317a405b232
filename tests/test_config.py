"""Config discovery, validation messages and the precedence rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from uploader.config.example import write_example
from uploader.config.settings import (
    config_path,
    load_config,
    parse_config,
    with_default_provider,
)
from uploader.errors import ConfigError, ExitCode

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
client_id = "local"
base_url = "http://127.0.0.1:9/imgur/"
"""


def test_discovery_order(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    env = dict(hermetic_env)
    assert config_path(None, env) == Path(env["XDG_CONFIG_HOME"]) / "uploader" / "config.toml"
    env["UPLOADER_CONFIG"] = str(tmp_path / "env.toml")
    assert config_path(None, env) == tmp_path / "env.toml"
    assert config_path(str(tmp_path / "flag.toml"), env) == tmp_path / "flag.toml"
    del env["XDG_CONFIG_HOME"]
    env.pop("UPLOADER_CONFIG")
    assert config_path(None, env) == Path(env["HOME"]) / ".config" / "uploader" / "config.toml"


def test_parses_profiles_and_defaults(tmp_path: Path) -> None:
    config = parse_config(GOOD, tmp_path / "c.toml")
    assert config.defaults.format == "markdown"
    assert config.defaults.max_wait == 60.0
    assert config.defaults.on_limit == "wait"
    imgur = config.profile(None)
    assert (imgur.name, imgur.kind, imgur.client_id) == ("imgur", "imgur", "abc123")
    assert imgur.base_url == "https://api.imgur.com"
    assert config.profile("local").base_url == "http://127.0.0.1:9/imgur"


def test_the_defaults_variables_are_the_command_line_s(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    """UPLOADER_FORMAT and friends are resolved by click (tests/test_cli_upload.py): the
    file's values stay the file's."""
    path = tmp_path / "c.toml"
    path.write_text(GOOD)
    env = {
        **hermetic_env,
        "UPLOADER_FORMAT": "json",
        "UPLOADER_MAX_WAIT": "nan",
        "UPLOADER_PROVIDER": "local",
    }
    config = load_config(str(path), env)
    assert (config.defaults.format, config.defaults.max_wait) == ("markdown", 60.0)
    assert config.profile(None).name == "imgur"


def test_missing_config_is_fine_until_a_profile_is_needed(hermetic_env: dict[str, str]) -> None:
    config = load_config(None, hermetic_env)
    assert not config.exists
    with pytest.raises(ConfigError) as info:
        config.profile(None)
    assert "no configuration file" in info.value.message
    assert info.value.hint is not None
    assert "uploader config init" in info.value.hint
    assert info.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[defaults]\nmax_wait = "soon"\n', "line 2: key 'defaults.max_wait' must be a number"),
        ('[defaults]\nformat = "png"\n', "line 2: key 'defaults.format' must be one of"),
        ("colour = 1\n", "line 1: key 'colour' is not a known setting"),
        (
            '[providers.x]\nkind = "imgur"\nclient_idd = "a"\n',
            "line 3: key 'providers.x.client_idd' is not a known setting",
        ),
        ('[providers.x]\nkind = "flickr"\n', "line 2: key 'providers.x.kind' is 'flickr'"),
        ('[providers.x]\nclient_id = "a"\n', "line 1: key 'providers.x' has no 'kind'"),
        (
            '[providers.x]\nkind = "imgur"\nbase_url = "http://imgur.example"\n',
            "line 3: key 'providers.x.base_url': 'http://imgur.example' uses plain http",
        ),
        ("[defaults]\nretries = 0\n", "key 'defaults.retries' must be at least 1"),
        (
            '[providers.x]\nkind = "imgur"\nbase_url = "http://127.0.0.1:abc/imgur"\n',
            "line 3: key 'providers.x.base_url': 'http://127.0.0.1:abc/imgur' has no valid port",
        ),
        (
            '[providers.x]\nkind = "imgur"\nbase_url = "http://127.0.0.1:99999/imgur"\n',
            "line 3: key 'providers.x.base_url': 'http://127.0.0.1:99999/imgur' has no valid port",
        ),
        ('default_provider = "nope"\n', "names 'nope', which has no [providers] table"),
        ("[defaults\nformat = 1\n", "line 1: invalid TOML: Expected ']'"),
        (
            "[defaults]\nmax_wait = 3\nformat = url\n",
            "line 3: key 'defaults.format': invalid TOML: Invalid value",
        ),
        (
            "[defaults]\nmax_wait = 3\nformat = ",  # "at end of document"
            "line 3: key 'defaults.format': invalid TOML: Invalid value",
        ),
        (
            '[providers.x]\nkind = "imgur"\nkind = "gyazo"\n',
            "line 3: key 'providers.x.kind': invalid TOML: Cannot overwrite a value",
        ),
        (
            '[providers.x]\nkind = "imgur"\n\n[providers.x.extra]\na = 1\n',
            "line 4: key 'providers.x.extra' is not a known setting",
        ),
        (
            '[providers.x]\nkind = "imgur"\nbase_url = "http://localhost:8/imgur"\n',
            "line 3: key 'providers.x.base_url': 'http://localhost:8/imgur' uses plain http to a "
            "non-loopback",
        ),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    with pytest.raises(ConfigError) as info:
        parse_config(text, path)
    assert str(path) in info.value.message
    assert expected in info.value.message
    assert "\n" not in info.value.message


def test_loopback_http_allowed_v6(tmp_path: Path) -> None:
    text = '[providers.x]\nkind = "imgur"\nclient_id = "a"\nbase_url = "http://[::1]:8/imgur"\n'
    assert parse_config(text, tmp_path / "c.toml").profile("x").base_url == "http://[::1]:8/imgur"


def test_unknown_profile_lists_known_ones(tmp_path: Path) -> None:
    config = parse_config(GOOD, tmp_path / "c.toml")
    with pytest.raises(ConfigError) as info:
        config.profile("flickr")
    assert "unknown provider 'flickr'" in info.value.message
    assert "imgur, local" in info.value.message


def test_example_config_is_valid_and_matches_repository_copy(tmp_path: Path) -> None:
    target = tmp_path / "cfg" / "config.toml"
    write_example(target, force=False)
    assert target.stat().st_mode & 0o777 == 0o600
    assert target.parent.stat().st_mode & 0o777 == 0o700
    repo_copy = Path(__file__).resolve().parent.parent / "config.example.toml"
    assert target.read_text() == repo_copy.read_text()
    config = parse_config(target.read_text(), target)
    assert config.default_provider == "imgur"
    assert [p.kind for p in config.profiles] == ["imgur", "gyazo", "mastodon"]
    # The starter's client_id stands for the user's own: using it as is sends nothing.
    line = target.read_text().splitlines().index('client_id = "your-client-id"') + 1
    with pytest.raises(ConfigError) as caught:
        config.profile(None)
    assert caught.value.message == (
        f"{target}, line {line}: key 'providers.imgur.client_id' is still the starter "
        "config's placeholder 'your-client-id'"
    )
    assert caught.value.hint is not None
    assert "UPLOADER_IMGUR_CLIENT_ID" in caught.value.hint
    overridden = load_config(str(target), {"UPLOADER_IMGUR_CLIENT_ID": "fake-real-id"})
    assert overridden.profile(None).name == "imgur"
    assert config.profile("gyazo").kind == "gyazo"  # the other profiles are usable
    with pytest.raises(ConfigError, match="already exists"):
        write_example(target, force=False)


def test_a_syntax_error_hint_points_at_a_valid_example(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("[defaults]\nformat = url\n", tmp_path / "bad.toml")
    assert info.value.hint == (
        "fix the syntax; `uploader config init --stdout` prints a valid example"
    )


def test_an_unknown_provider_says_where_its_name_came_from(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(GOOD)
    chosen = "environment variable UPLOADER_PROVIDER"
    config = with_default_provider(load_config(str(path), hermetic_env), "nope", chosen)
    with pytest.raises(ConfigError) as info:
        config.profile(None)
    assert info.value.message == (
        "unknown provider 'nope' (from environment variable UPLOADER_PROVIDER) "
        "(configured: imgur, local)"
    )
    with pytest.raises(ConfigError) as named:
        config.profile("nope")  # --provider nope: the user knows where it came from
    assert named.value.message == "unknown provider 'nope' (configured: imgur, local)"


def test_every_directory_created_on_the_way_is_private(tmp_path: Path) -> None:
    import os

    from uploader.config.paths import ensure_private_dir

    (tmp_path / "existing").mkdir(mode=0o755)
    target = tmp_path / "existing" / "xdg-cache" / "uploader" / "etags"
    old = os.umask(0o022)
    try:
        assert ensure_private_dir(target) == target
    finally:
        os.umask(old)
    for directory in (target, target.parent, target.parent.parent):
        assert directory.stat().st_mode & 0o777 == 0o700, directory
    assert (tmp_path / "existing").stat().st_mode & 0o777 == 0o755  # the user's, untouched
    assert ensure_private_dir(target) == target  # again: nothing to do, no error
