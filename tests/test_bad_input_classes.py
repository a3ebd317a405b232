"""The bad-input catalogue, issue 11 section 5: each class of bad input, several instances,
through the real `uploader` process (see test_bad_input.py for the older cases)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.canned import Canned, Recorder, canned_server
from tests.support.e2e import run_cli, sandbox_process, write_all_kinds, write_config
from tests.support.images import WHOLE, png_bytes, write_png
from tests.test_bad_input import _check, _config, _upload_nothing_sent

# Issue 11, section 5: each class of bad input, several instances. A refusal sends nothing.

IMGUR_OK = json.dumps({"data": {"id": "abc1234"}, "success": True, "status": 200}).encode()
WHOLE_PNG = png_bytes(seed=5)


def _profile(tmp_path: Path, body: str, defaults: str = "") -> Path:
    config = tmp_path / "bad.toml"
    config.write_text(f'default_provider = "x"\n{defaults}[providers.x]\n{body}')
    return config


def _refused(done: object, recorder: Recorder, code: int, message: str) -> str:
    err = _check(done, code, message)
    assert recorder.requests == []
    return err


@pytest.mark.parametrize("kind", ["imgur", "gyazo", "mastodon"])
def test_documented_profile_keys_work_in_every_kind(
    tmp_path: Path, hermetic_env: dict[str, str], kind: str
) -> None:
    """access_token_command and redirect_port (README, config.example.toml) crash nothing."""
    keys = 'access_token_command = "echo tok-1"\nredirect_port = 53682\n'
    with canned_server(Canned(404, b"{}")) as (url, recorder):
        config = _profile(tmp_path, f'kind = "{kind}"\nbase_url = "{url}/{kind}"\n{keys}')
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
    ],
)
def test_a_bad_config_value_is_exit_2_naming_file_line_and_key(
    tmp_path: Path, hermetic_env: dict[str, str], body: str, defaults: str, message: str
) -> None:
    image = write_png(tmp_path / "a.png")
    client = "" if "client_id" in body else 'client_id = "cid"\n'
    config = _profile(tmp_path, f'kind = "imgur"\n{client}{body}', defaults)
    for command in (["upload", str(image)], ["config", "show"], ["limits"]):
        done = run_cli(["--config", str(config), *command], hermetic_env)
        err = _check(done, 2, message)
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
        config = _config(tmp_path, url)
        done = run_cli(
            ["--config", str(config), "upload", *args, str(image)], {**hermetic_env, **env}
        )
        _refused(done, recorder, 2, message)


@pytest.mark.parametrize(
    ("env", "command", "source"),
    [
        ({"UPLOADER_IM_ACCESS_TOKEN": "tok\nen"}, None, "variable UPLOADER_IM_ACCESS_TOKEN"),
        ({"UPLOADER_IM_ACCESS_TOKEN": "tökén"}, None, "variable UPLOADER_IM_ACCESS_TOKEN"),
        ({"UPLOADER_IM_CLIENT_ID": "c id"}, None, "variable UPLOADER_IM_CLIENT_ID"),
        ({}, "printf 't\\303\\266k'", "access_token_command `printf`"),
        ({}, "printf 'to ken'", "access_token_command `printf`"),
        ({}, "store", "credential store"),
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
        config = _config(tmp_path, url, extra=extra)
        done = run_cli(["--config", str(config), "upload", str(image)], {**hermetic_env, **env})
        err = _refused(done, recorder, 3, source)
        assert "cannot be sent" in err
        assert "tök" not in err
        assert "sec\u0007ret" not in err


def test_standard_input_cut_short_is_refused(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    _upload_nothing_sent(
        tmp_path, hermetic_env, "-", 2, "-: not a complete PNG file", stdin=WHOLE_PNG[:-12]
    )


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("text.bmp", b"BM is how this note starts, and it goes on as text." * 3, "not an image"),
        ("cut.png", WHOLE_PNG[:-20], "not a complete PNG file (truncated: no IEND"),
        ("cut.jpg", WHOLE["jpg"][:-2] + bytes(40), "not a complete JPG file (truncated"),
        ("cut.gif", WHOLE["gif"][:-1], "not a complete GIF file (truncated: no GIF trailer"),
        ("cut.webp", WHOLE["webp"][:-3], "not a complete WEBP file (truncated: its RIFF"),
        ("cut.mp4", WHOLE["mp4"][:-4], "not a complete MP4 file (truncated: a box ends"),
        ("cut.bmp", WHOLE["bmp"][:30], "not a complete BMP file (truncated"),
        ("cut.webm", WHOLE["webm"][:-2], "not a complete WEBM file (truncated"),
        ("text.png", b"\x89PNG\r\n\x1a\n" + b"plain text, no chunks" * 4, "no IHDR chunk"),
    ],
)
def test_content_that_is_not_a_whole_file_is_refused(
    tmp_path: Path, hermetic_env: dict[str, str], name: str, data: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(data)
    _upload_nothing_sent(tmp_path, hermetic_env, str(tmp_path / name), 2, message)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["info", ""], "'' is not an Imgur id"),
        (["info", "a/b"], "'a/b' is not an Imgur id"),
        (["delete", "abc?x=1#f"], "'abc?x=1#f' is not an Imgur id"),
        (["delete", "abc def"], "'abc def' is not an Imgur id"),
        (["delete", "https://other.example/abc"], "is a link to other.example, not to this"),
        (["info", "https://imgur.com.evil.example/abc"], "is a link to imgur.com.evil.example"),
        (["delete", "ftp://i.imgur.com/abc.png"], "is not an Imgur id or deletehash"),
        (["-p", "ma", "delete", "https://elsewhere.example/api/v1/media/9"], "is a link to"),
        (["-p", "ma", "info", "a?b"], "'a?b' is not a Mastodon media id"),
        (["-p", "gz", "info", "../x"], "'../x' is not a Gyazo image id"),
    ],
)
def test_ids_and_links_are_checked_before_any_request(
    tmp_path: Path, hermetic_env: dict[str, str], command: list[str], message: str
) -> None:
    with canned_server(Canned(500)) as (url, recorder):
        config = write_all_kinds(tmp_path / "all.toml", url)
        args = command if command[0] == "-p" else ["-p", "im", *command]
        env = {**hermetic_env, "UPLOADER_MA_ACCESS_TOKEN": "t", "UPLOADER_GZ_ACCESS_TOKEN": "t"}
        done = run_cli(["--config", str(config), args[2], *args[:2], *args[3:]], env)
        _refused(done, recorder, 2, message)


@pytest.mark.parametrize(
    ("ref", "path"),
    [
        ("post-1a2b.png", "/mastodon/api/v1/media/post-1a2b.png"),  # a real server's id
        ("id;1", "/mastodon/api/v1/media/id%3B1"),  # quoted in the path
        ("01HMEDIA", "/mastodon/api/v1/media/01HMEDIA"),
    ],
)
def test_mastodon_ids_are_opaque_and_quoted(
    tmp_path: Path, hermetic_env: dict[str, str], ref: str, path: str
) -> None:
    with canned_server(Canned(404, b'{"error": "Record not found"}')) as (url, recorder):
        config = write_all_kinds(tmp_path / "all.toml", url)
        env = {**hermetic_env, "UPLOADER_MA_ACCESS_TOKEN": "tok"}
        done = run_cli(["--config", str(config), "info", "-p", "ma", ref], env)
        assert done.returncode == 5, done.stderr
        assert [r[1] for r in recorder.requests][-1] == path


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: ")]


@pytest.mark.parametrize(
    ("setup", "warning"),
    [
        ("cache-file", "the ETag cache cannot be used"),
        ("state-file", "rate-limit state is kept in memory only"),
        ("store-dir", "credentials.toml is not a file"),
        ("store-empty", "credentials.toml is empty or cut short"),
        ("store-cut", "credentials.toml is empty or cut short"),
        ("store-entry", "profiles.im is not a table"),
    ],
)
def test_files_of_the_wrong_kind_warn_and_go_on(
    tmp_path: Path, hermetic_env: dict[str, str], setup: str, warning: str
) -> None:
    home = {k: Path(v) for k, v in hermetic_env.items()}
    store = home["XDG_CONFIG_HOME"] / "uploader" / "credentials.toml"
    store.parent.mkdir(parents=True, mode=0o700)
    if setup == "cache-file":
        home["XDG_CACHE_HOME"].write_text("not a directory")
    elif setup == "state-file":
        home["XDG_STATE_HOME"].write_text("not a directory")
    elif setup == "store-dir":
        store.mkdir()
    else:
        text = {
            "store-empty": "",
            "store-cut": "# uploader cred",
            "store-entry": "[profiles]\nim = 1\n",
        }
        store.write_text(text[setup])
        store.chmod(0o600)
    body = json.dumps(
        {"data": {"id": "abc", "link": "https://i.imgur.com/abc.png"}, "success": True}
    )
    with canned_server(
        Canned(200, body.encode(), (("Content-Type", "application/json"), ("ETag", '"e1"')))
    ) as (url, recorder):
        config = _config(tmp_path, url)
        done = run_cli(["--config", str(config), "info", "abc"], hermetic_env)
        assert done.returncode == 0, done.stderr
        err = done.stderr.decode()
        assert "Traceback" not in err
        assert [w for w in _warnings(err) if warning in w], err
        assert all(line.startswith(("warning: ", "error: ", "hint: ")) for line in err.splitlines())
        assert recorder.requests[0][2]["authorization"] == "Client-ID cid"  # anonymous
        quiet = run_cli(["-q", "--config", str(config), "info", "abc"], hermetic_env)
        assert quiet.returncode == 0
        assert quiet.stderr == b"", quiet.stderr


@pytest.mark.parametrize("fmt", ["url", "markdown", "html", "bbcode", "json"])
def test_every_format_prints_one_line_per_file_whatever_the_name(
    tmp_path: Path, hermetic_env: dict[str, str], fmt: str
) -> None:
    names = ["two\nlines.png", "carriage\rreturn.png", "sep\u2028arator.png", "tab\there.png"]
    paths = [str(write_png(tmp_path / name, seed=i)) for i, name in enumerate(names)]
    with sandbox_process() as base:
        config = write_config(tmp_path / "c.toml", base)
        done = run_cli(["--config", str(config), "upload", "-f", fmt, *paths], hermetic_env)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.decode().splitlines()
        assert len(lines) == len(names), lines
        assert all(line.strip() for line in lines)
        if fmt == "json":
            assert [json.loads(line)["path"] for line in lines] == paths
