"""The bad-input catalogue, issue 11 section 5 ("a value refused from one source and
accepted from another") for the options and keys added since (issues 13-17), through the
real `uploader` process (index: test_bad_input.py): ``-j``/``[defaults] jobs``/
``UPLOADER_JOBS``, ``--keep-metadata``/``UPLOADER_KEEP_METADATA``, ``low_speed_limit``,
``serve --host``/``--secret``/``UPLOADER_SERVE_SECRET``, ``[serve] allowed_origins``, the
Redis state backend (file and variable), a custom profile's ``sxcu`` path. Each refusal
is exit 2, one ``error:`` line naming the source, nothing sent; each valid value is
taken from every source alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.badinput import check_error, imgur_config, profile_file, refused
from tests.support.canned import Canned, canned_server
from tests.support.e2e import run_cli, sandbox_process, write_config
from tests.support.images import write_png
from tests.support.serve import serve_process
from uploader.config.checks import host_problem
from uploader.config.statebackend import parse_redis_url
from uploader.errors import ConfigError


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        # A flag's value: the error never names the variable, even when one is set.
        (["-j", "0"], {"UPLOADER_JOBS": "4"}, "'--jobs': must be at least 1, not 0"),
        (["--jobs", "33"], {}, "'--jobs': must be at most 32, not 33"),
        (["-j", "-1"], {}, "'--jobs': must be at least 1, not -1"),
        (["-j", "1e309"], {}, "'1e309' is not a valid integer"),
        (["--keep-metadata", "-j", "nan"], {"UPLOADER_KEEP_METADATA": "1"}, "'nan' is not a"),
        # A variable's value: named.
        ([], {"UPLOADER_JOBS": "0"}, "(env var: 'UPLOADER_JOBS'): must be at least 1, not 0"),
        ([], {"UPLOADER_JOBS": "10000"}, "(env var: 'UPLOADER_JOBS'): must be at most 32"),
        ([], {"UPLOADER_JOBS": "inf"}, "(env var: 'UPLOADER_JOBS'): 'inf' is not a valid"),
        ([], {"UPLOADER_KEEP_METADATA": "maybe"}, "(env var: 'UPLOADER_KEEP_METADATA')"),
        ([], {"UPLOADER_SKIP_EXISTING": "2"}, "(env var: 'UPLOADER_SKIP_EXISTING')"),
    ],
)
def test_a_new_flag_or_variable_is_refused_naming_its_source(
    tmp_path: Path, hermetic_env: dict[str, str], args: list[str], env: dict[str, str], message: str
) -> None:
    image = write_png(tmp_path / "a.png")
    with canned_server(Canned(500)) as (url, recorder):
        config = imgur_config(tmp_path, url)
        done = run_cli(
            ["--config", str(config), "upload", *args, str(image)], {**hermetic_env, **env}
        )
        err = refused(done, recorder, 2, message)
    first = err.splitlines()[0]
    if args:
        assert "env var" not in first, first
        assert "environment variable" not in err


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('jobs = "4"', "key 'defaults.jobs' must be an integer, not '4'"),
        ("jobs = 0", "key 'defaults.jobs' must be at least 1, not 0"),
        ("jobs = 33", "key 'defaults.jobs' must be at most 32, not 33"),
        ("jobs = 1e309", "key 'defaults.jobs' must be an integer, not inf"),
        ("jobs = true", "key 'defaults.jobs' must be an integer, not True"),
        ("jobs = [2]", "key 'defaults.jobs' must be an integer"),
        ("low_speed_limit = 1000000000000000000000000000000", "'defaults.low_speed_limit' must"),
        ("low_speed_limit = 9223372036854775807", "'defaults.low_speed_limit' must be at most"),
        ("low_speed_limit = -1", "'defaults.low_speed_limit' must be at least 0"),
        ("low_speed_time = nan", "'defaults.low_speed_time' must be a finite number"),
        ('strip_metadata = "no"', "'defaults.strip_metadata' must be true or false"),
    ],
)
def test_a_new_defaults_key_is_checked_as_its_flag_is(
    tmp_path: Path, hermetic_env: dict[str, str], line: str, message: str
) -> None:
    image = write_png(tmp_path / "a.png")
    with canned_server(Canned(500)) as (url, recorder):
        config = write_config(
            tmp_path / "c.toml", url, client_id="cid", defaults=f"[defaults]\n{line}"
        )
        for command in (["upload", str(image)], ["limits"]):
            done = run_cli(["--config", str(config), *command], hermetic_env)
            err = refused(done, recorder, 2, message)
            assert f"{config}, line 3: " in err


def test_a_valid_jobs_value_is_taken_from_every_source(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    images = [str(write_png(tmp_path / f"{n}.png", seed=700 + n)) for n in range(3)]
    with sandbox_process() as base:
        for n, (args, env, defaults) in enumerate(
            [
                (["-j", "2"], {}, ""),
                ([], {"UPLOADER_JOBS": "2"}, ""),
                ([], {}, "[defaults]\njobs = 2"),
                (["--jobs", "32"], {"UPLOADER_JOBS": "1"}, "[defaults]\njobs = 1"),
            ]
        ):
            config = write_config(tmp_path / f"c{n}.toml", base, defaults=defaults)
            done = run_cli(
                ["--config", str(config), "upload", *args, *images], {**hermetic_env, **env}
            )
            assert done.returncode == 0, done.stderr
            assert len(done.stdout.splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--host", ""], {}, "'--host': is empty (every interface would listen)"),
        (["--host", "", "--secret", "s3cret"], {}, "'--host': is empty"),
        (["--host", "a\nb", "--secret", "s3cret"], {}, "'--host': 'a\\nb' has a space"),
        (["--host", "a b"], {}, "'--host': 'a b' has a space"),
        (["--host", "a:b", "--secret", "s3cret"], {}, "'a:b' is not an IP address or a host"),
        (["--host", "-x", "--secret", "s3cret"], {}, "'-x' is not an IP address or a host"),
        (["--host", "127.0.0.1", "--secret", "s3 cret"], {}, "'--secret': the secret has a space"),
        (["--secret", "s3cret\n"], {}, "'--secret': the secret has a space, a line break"),
        ([], {"UPLOADER_SERVE_SECRET": "s3crét"}, "(env var: 'UPLOADER_SERVE_SECRET'): the"),
        ([], {"UPLOADER_SERVE_SECRET": "s3\tcret"}, "(env var: 'UPLOADER_SERVE_SECRET'): the"),
    ],
)
def test_serve_refuses_a_host_or_secret_it_cannot_use_naming_the_source(
    tmp_path: Path, hermetic_env: dict[str, str], args: list[str], env: dict[str, str], message: str
) -> None:
    config = imgur_config(tmp_path)
    done = run_cli(
        ["--config", str(config), "serve", "--port", "0", *args],
        {**hermetic_env, **env},
        timeout=30,
    )
    err = check_error(done, 2, message)
    assert done.stdout == b""  # never listened: no address printed
    assert "s3" not in err  # the secret is never shown
    assert ("env var" in err.splitlines()[0]) == bool(env)


@pytest.mark.parametrize(
    ("args", "env", "shown"),
    [
        (["--host", "[::1]"], {}, "http://[::1]:"),
        (["--host", "::1"], {}, "http://[::1]:"),
        (["--host", "127.0.0.1", "--secret", "s3cret-1"], {}, "http://127.0.0.1:"),
        ([], {"UPLOADER_SERVE_SECRET": "s3cret-1"}, "http://127.0.0.1:"),
    ],
)
def test_serve_takes_a_valid_host_and_secret_from_every_source(
    tmp_path: Path, hermetic_env: dict[str, str], args: list[str], env: dict[str, str], shown: str
) -> None:
    config = imgur_config(tmp_path)
    command = ["--config", str(config), "serve", "--port", "0", *args]
    with serve_process(command, {**hermetic_env, **env}) as base:
        assert base.startswith(shown), base


@pytest.mark.parametrize(
    "url",
    [
        "redis://red is:6379/0",
        "redis://redis:6379/0\n",
        "redis://redis\t:6379/0",
        "redis://-redis:6379/0",
        "redis://a..b:6379/0",
    ],
)
def test_a_redis_url_that_names_no_host_is_refused_from_file_and_variable(
    tmp_path: Path, hermetic_env: dict[str, str], url: str
) -> None:
    """Not a quiet fallback to the local files: the same refusal from both sources."""
    escaped = url.replace("\n", "\\n").replace("\t", "\\t")
    with canned_server(Canned(500)) as (base, recorder):
        plain = imgur_config(tmp_path, base)
        file_config = tmp_path / "state.toml"
        file_config.write_text(plain.read_text() + f'\n[state]\nbackend = "{escaped}"\n')
        image = write_png(tmp_path / "a.png")
        for config, env, source in (
            (plain, {"UPLOADER_STATE_BACKEND": url}, "environment variable UPLOADER_STATE_BACK"),
            (file_config, {}, f"{file_config}, line "),
        ):
            for command in (["upload", str(image)], ["limits"]):
                done = run_cli(["--config", str(config), *command], {**hermetic_env, **env})
                err = refused(done, recorder, 2, source)
                assert "unreachable" not in err


def test_a_valid_redis_host_name_is_still_taken(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    config = imgur_config(tmp_path)
    env = {**hermetic_env, "UPLOADER_STATE_BACKEND": "redis://127.0.0.1:9/0"}
    done = run_cli(["--config", str(config), "config", "show"], env)
    assert done.returncode == 0, done.stderr
    for url in ("redis://cache-1.internal:6379/2", "rediss://[::1]:6380/0"):
        done = run_cli(
            ["--config", str(config), "config", "show"], {**env, "UPLOADER_STATE_BACKEND": url}
        )
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("value", ['""', '"   "', '"a\\nb.sxcu"', '"a\\u0000.sxcu"'])
def test_a_custom_profile_sxcu_path_that_is_no_path_is_exit_2_naming_the_key(
    tmp_path: Path, hermetic_env: dict[str, str], value: str
) -> None:
    config = profile_file(tmp_path, f'kind = "custom"\nsxcu = {value}\n')
    for command in (["upload", str(write_png(tmp_path / "a.png"))], ["limits"]):
        done = run_cli(["--config", str(config), *command], hermetic_env)
        err = check_error(done, 2, "key 'providers.x.sxcu' is not a file's path")
        assert f"{config}, line 4: " in err


@pytest.mark.parametrize("origin", ["app://obsidiän.md", "https://bücher.example"])
def test_an_origin_no_browser_sends_is_refused(
    tmp_path: Path, hermetic_env: dict[str, str], origin: str
) -> None:
    config = imgur_config(tmp_path, extra="")
    config.write_text(config.read_text() + f'\n[serve]\nallowed_origins = ["{origin}"]\n')
    done = run_cli(["--config", str(config), "serve", "--port", "0"], hermetic_env, timeout=30)
    err = check_error(done, 2, "key 'serve.allowed_origins'")
    assert "ASCII only" in err
    assert done.stdout == b""


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("127.0.0.1", True),
        ("[::1]", True),
        ("redis_1", True),  # a container's name
        ("cache.internal.", True),
        ("exämple.org", True),
        ("-a", False),
        ("a..b", False),
        ("a b", False),
        ("", False),
    ],
)
def test_one_rule_says_what_a_host_is_for_serve_and_redis(host: str, ok: bool) -> None:
    assert (host_problem(host) is None) is ok
    try:
        parse_redis_url(f"redis://{host}:6379/0", "test")
    except ConfigError:
        taken = False
    else:
        taken = True
    assert taken is ok
