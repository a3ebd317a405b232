"""The bad-input catalogue, issue 11 section 5: config values and secrets, through the real
`uploader` process (index: test_bad_input.py). Documented keys that crashed; a value
checked the same from the file, its variable and its flag; secrets that cannot be sent,
named by source (exit 3), and refused by `auth set-token` before they are stored; URLs
with userinfo, a query or fragment, plain http to a host that is not loopback (exit 2);
sandbox knobs out of bounds. A refusal sends nothing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.support.badinput import check_error, imgur_config, profile_file, refused
from tests.support.canned import Canned, canned_server
from tests.support.e2e import run_cli
from tests.support.images import write_png


@pytest.mark.parametrize("kind", ["imgur", "gyazo", "mastodon"])
def test_documented_profile_keys_work_in_every_kind(
    tmp_path: Path, hermetic_env: dict[str, str], kind: str
) -> None:
    """access_token_command and redirect_port (README, config.example.toml) crash nothing."""
    keys = 'access_token_command = "echo tok-1"\nredirect_port = 53682\n'
    with canned_server(Canned(404, b"{}")) as (url, recorder):
        config = profile_file(tmp_path, f'kind = "{kind}"\nbase_url = "{url}/{kind}"\n{keys}')
        shown = run_cli(["--config", str(config), "config", "show"], hermetic_env)
        assert shown.returncode == 0, shown.stderr
        assert b"redirect_port = 53682" in shown.stdout
        done = run_cli(["--config", str(config), "info", "abc123"], hermetic_env)
        assert b"Traceback" not in done.stderr
        assert done.returncode in (3, 5), done.stderr
        assert recorder.requests[-1][2]["authorization"] == "Bearer tok-1"


@pytest.mark.parametrize(
    ("body", "defaults", "message"),
    [
        ('access_token_command = "pass show \'imgur"\n', "", "key 'providers.x.access_token_"),
        ('access_token_command = "  "\n', "", "access_token_command' is empty"),
        ("redirect_port = 70000\n", "", "redirect_port' must be at most 65535"),
        ("redirect_port = -1\n", "", "redirect_port' must be at least 0"),
        ("", "[defaults]\nmax_wait = inf\n", "key 'defaults.max_wait' must be a finite number"),
        ("", "[defaults]\nmax_wait = nan\n", "key 'defaults.max_wait' must be a finite number"),
        ("", "[defaults]\nretry_max_time = inf\n", "'defaults.retry_max_time' must be a finite"),
        ("", "[defaults]\nread_timeout = nan\n", "'defaults.read_timeout' must be a finite"),
        ("", "[defaults]\nmax_wait = 1e300\n", "'defaults.max_wait' must be at most"),
        ('client_id = "a b"\n', "", "'providers.x.client_id' has a space"),
        ('client_id = "ab\\n"\n', "", "'providers.x.client_id' has a space"),
        ('base_url = "https://me:hunter2@api.imgur.com"\n', "", "has a user name or password"),
        ('base_url = "https://:hunter2@api.imgur.com"\n', "", "has a user name or password"),
        ('base_url = "http://127.0.0.2:8/imgur"\n', "", "plain http to a non-loopback host"),
        ('base_url = "http://[::ffff:127.0.0.1]:8/imgur"\n', "", "plain http to a non-loopback"),
        ('base_url = "http://127.1:8/imgur"\n', "", "plain http to a non-loopback host"),
        ('base_url = "https://api.imgur.com/?x=1"\n', "", "has a query or fragment"),
        # The hostile re-audit: an empty query or fragment still swallows every endpoint.
        ('base_url = "https://api.imgur.com#"\n', "", "has a query or fragment"),
        ('base_url = "https://api.imgur.com?"\n', "", "has a query or fragment"),
        ('base_url = "http://[::1/imgur"\n', "", "is not an http(s) URL"),
        ('base_url = "https://xn--.com"\n', "", "is not an http(s) URL"),
        ('base_url = "https://api.imgur.com:99999"\n', "", "has no valid port"),
    ],
)
def test_a_bad_config_value_is_exit_2_naming_file_line_and_key(
    tmp_path: Path, hermetic_env: dict[str, str], body: str, defaults: str, message: str
) -> None:
    image = write_png(tmp_path / "a.png")
    client = "" if "client_id" in body else 'client_id = "cid"\n'
    config = profile_file(tmp_path, f'kind = "imgur"\n{client}{body}', defaults)
    for command in (["upload", str(image)], ["config", "show"], ["limits"]):
        done = run_cli(["--config", str(config), *command], hermetic_env)
        err = check_error(done, 2, message)
        assert f"{config}, line " in err
        assert "hunter2" not in err + done.stdout.decode()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--focus", "abc"], {}, "'abc' is not X,Y with each a number from -1.0 to 1.0"),
        (["--focus", "2,2"], {}, "'2,2' is not X,Y"),
        (["--focus", "0.5"], {}, "'0.5' is not X,Y"),
        (["--focus", "nan,0"], {}, "'nan,0' is not X,Y"),
        (["--album", "ab/../c"], {}, "'ab/../c' is not an album id"),
        (["--album", ""], {}, "'' is not an album id"),
        (["--max-wait", "inf"], {}, "must be a finite number, not inf"),
        (["--max-wait", "1e300"], {}, "must be at most"),
        ([], {"UPLOADER_MAX_WAIT": "nan"}, "(env var: 'UPLOADER_MAX_WAIT'): must be a finite"),
    ],
)
def test_a_bad_flag_or_variable_is_refused_before_sending(
    tmp_path: Path, hermetic_env: dict[str, str], args: list[str], env: dict[str, str], message: str
) -> None:
    image = write_png(tmp_path / "a.png")
    with canned_server(Canned(500)) as (url, recorder):
        config = imgur_config(tmp_path, url)
        done = run_cli(
            ["--config", str(config), "upload", *args, str(image)], {**hermetic_env, **env}
        )
        refused(done, recorder, 2, message)


@pytest.mark.parametrize(
    ("env", "command", "source"),
    [
        ({"UPLOADER_IM_ACCESS_TOKEN": "tok\nen"}, None, "variable UPLOADER_IM_ACCESS_TOKEN"),
        ({"UPLOADER_IM_ACCESS_TOKEN": "tökén"}, None, "variable UPLOADER_IM_ACCESS_TOKEN"),
        ({"UPLOADER_IM_CLIENT_ID": "c id"}, None, "variable UPLOADER_IM_CLIENT_ID"),
        ({}, "printf 't\\303\\266k'", "access_token_command `printf`"),
        ({}, "printf 'to ken'", "access_token_command `printf`"),
        ({}, "store", "credential store"),
        # Longer than any server takes in a header (431 after the upload was sent, before).
        ({"UPLOADER_IM_ACCESS_TOKEN": "t" * 9000}, None, "variable UPLOADER_IM_ACCESS_TOKEN"),
        ({}, "printf %09000d 0", "access_token_command `printf`"),
    ],
)
def test_a_secret_that_cannot_be_sent_is_exit_3_naming_its_source(
    tmp_path: Path,
    hermetic_env: dict[str, str],
    env: dict[str, str],
    command: str | None,
    source: str,
) -> None:
    image = write_png(tmp_path / "a.png")
    extra = (
        f"access_token_command = {json.dumps(command)}\n" if command not in (None, "store") else ""
    )
    if command == "store":
        store = Path(hermetic_env["XDG_CONFIG_HOME"]) / "uploader" / "credentials.toml"
        store.parent.mkdir(parents=True, mode=0o700)
        store.write_text('[profiles.im]\naccess_token = "sec\\u0007ret"\n')
        store.chmod(0o600)
    with canned_server(Canned(500)) as (url, recorder):
        config = imgur_config(tmp_path, url, extra=extra)
        done = run_cli(["--config", str(config), "upload", str(image)], {**hermetic_env, **env})
        err = refused(done, recorder, 3, source)
        assert "cannot be sent" in err
        assert "tök" not in err
        assert "sec\u0007ret" not in err


@pytest.mark.parametrize(
    ("kind", "key", "value", "message"),
    [
        ("gyazo", "upload_url", "https://u:secretpw@upload.gyazo.com", "has a user name or"),
        ("gyazo", "upload_url", "http://[::1", "is not an http(s) URL"),
        ("gyazo", "upload_url", "http://10.0.0.1/up", "plain http to a non-loopback host"),
        ("gyazo", "upload_url", "https://upload.gyazo.com#x", "has a query or fragment"),
        ("gyazo", "referer_url", "https://u:secretpw@example.com/", "has a user name or"),
        ("mastodon", "base_url", "https://u:secretpw@social.example", "has a user name or"),
        ("mastodon", "base_url", "gopher://social.example", "is not an http(s) URL"),
    ],
)
def test_every_url_key_of_every_kind_is_checked(
    tmp_path: Path, hermetic_env: dict[str, str], kind: str, key: str, value: str, message: str
) -> None:
    config = profile_file(tmp_path, f'kind = "{kind}"\n{key} = "{value}"\n')
    env = {**hermetic_env, "UPLOADER_X_ACCESS_TOKEN": "tok"}
    for command in (["upload", str(write_png(tmp_path / "a.png"))], ["config", "show"]):
        done = run_cli(["--config", str(config), *command], env)
        err = check_error(done, 2, message)
        assert f"{config}, line 4: key 'providers.x.{key}'" in err
        assert "secretpw" not in err + done.stdout.decode()


@pytest.mark.parametrize(
    "given",
    [b"tok en\n", "t\u00f6ken\n".encode(), b"t" * 9000 + b"\n", b"tok\xff\n", b"\x00" * 100_000],
    ids=["space", "non-ascii", "too-long", "not-utf8", "nul-flood"],
)
def test_set_token_refuses_a_token_that_cannot_be_sent_and_stores_nothing(
    tmp_path: Path, hermetic_env: dict[str, str], given: bytes
) -> None:
    """Stored before, it made every later command fail (or crashed: not UTF-8)."""
    config = profile_file(tmp_path, 'kind = "gyazo"\n')
    done = run_cli(["--config", str(config), "auth", "set-token", "x"], hermetic_env, stdin=given)
    check_error(done, 3, "the access token from standard input")
    assert "cannot be sent" in done.stderr.decode()
    store = Path(hermetic_env["XDG_CONFIG_HOME"]) / "uploader" / "credentials.toml"
    assert not store.exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("latency=1e308", "knob latency must be at most 1e9"),  # OverflowError per request
        ("imgur_post_limit=10000000000", "knob imgur_post_limit must be at most 1e9"),
        ("fault_500=nan", "knob fault_500 must be a finite number"),
        ("seed=abc", "knob seed must be an integer"),
    ],
)
def test_a_sandbox_knob_out_of_bounds_is_refused_at_start(
    hermetic_env: dict[str, str], setting: str, message: str
) -> None:
    done = run_cli(["sandbox", "--port", "0", "--set", setting], hermetic_env, timeout=30)
    check_error(done, 2, message)
    assert done.stdout == b""  # no URL: it never started


@pytest.mark.parametrize(
    "command",
    [
        ["auth", "logout", ""],  # revoked and removed the default profile's token, before
        ["auth", "set-token", ""],  # stored the token for the default profile
        ["limits", ""],
        ["info", "-p", "", "abc"],
        ["upload", "-p", "", "a.png"],
    ],
)
def test_an_empty_profile_name_is_refused_never_read_as_the_default(
    tmp_path: Path, hermetic_env: dict[str, str], command: list[str]
) -> None:
    write_png(tmp_path / "a.png")
    store = Path(hermetic_env["XDG_CONFIG_HOME"]) / "uploader" / "credentials.toml"
    store.parent.mkdir(parents=True, mode=0o700)
    store.write_text('[profiles.im]\naccess_token = "stored-token"\n')
    store.chmod(0o600)
    with canned_server(Canned(500)) as (url, recorder):
        config = imgur_config(tmp_path, url)
        done = run_cli(
            ["--config", str(config), *command],
            hermetic_env,
            stdin=b"new-token\n",
        )
        refused(done, recorder, 2, "'' is not a profile name")
    assert "stored-token" in store.read_text()
    assert "new-token" not in store.read_text()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("socks5://me:hunter2@127.0.0.1:9", "HTTPS_PROXY names a SOCKS proxy, and SOCKS"),
        ("http://me:hunter2@[::1", "HTTPS_PROXY is not a usable proxy URL"),
        ("http://127.0.0.1:99999", "HTTPS_PROXY is not a usable proxy URL"),
        ("ftp://127.0.0.1:21", "HTTPS_PROXY is not a usable proxy URL"),
    ],
)
def test_a_proxy_variable_that_cannot_be_used_is_exit_2_naming_it_never_its_value(
    tmp_path: Path, hermetic_env: dict[str, str], value: str, message: str
) -> None:
    if value.startswith("socks") and importlib.util.find_spec("socksio") is not None:
        pytest.skip("SOCKS support is installed here")
    config = profile_file(tmp_path, 'kind = "imgur"\nclient_id = "cid"\n')  # https: proxied
    image = write_png(tmp_path / "a.png")
    env = {**hermetic_env, "HTTPS_PROXY": value}
    done = run_cli(["--config", str(config), "upload", str(image)], env)
    err = check_error(done, 2, message)  # an ImportError (exit 1) for SOCKS, before
    assert "hunter2" not in err
