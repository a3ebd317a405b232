"""The bad-input catalogue, issue 11 section 5: files the tool owns, of the wrong kind (the
cache or state directory a file, credentials.toml a directory, empty, cut short or a
FIFO; a config that is a device), warned about and gone on, or refused, never a crash;
notices carry `warning:` and are silent under `-q`. Real processes (index:
test_bad_input.py)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.support.badinput import check_error, imgur_config, profile_file
from tests.support.canned import Canned, canned_server
from tests.support.e2e import requests_log, run_cli, sandbox_process, write_config
from tests.support.images import write_png


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
        ("store-fifo", "credentials.toml is not a file"),  # opened without blocking
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
    elif setup == "store-fifo":
        os.mkfifo(store, 0o600)
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
        config = imgur_config(tmp_path, url)
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


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("/dev/zero", "/dev/zero: is over 1 MiB: not a config file"),  # read forever before
        ("dir", "is a directory, not a config file"),
        ("latin1", "config file is not UTF-8 text"),
        ("missing", "no such config file"),
    ],
)
def test_a_config_path_that_is_no_config_file_is_exit_2(
    tmp_path: Path, hermetic_env: dict[str, str], where: str, message: str
) -> None:
    path = {"dir": tmp_path, "missing": tmp_path / "none.toml"}.get(where, Path(where))
    if where == "latin1":
        path = tmp_path / "latin1.toml"
        path.write_bytes(b"# caf\xe9\n")
    image = write_png(tmp_path / "a.png")
    for command in (["upload", str(image)], ["limits"], ["config", "show"]):
        done = run_cli(["--config", str(path), *command], hermetic_env, timeout=30)
        check_error(done, 2, message)
    done = run_cli(["upload", str(image)], {**hermetic_env, "UPLOADER_CONFIG": str(path)})
    check_error(done, 2, message)


def _damaged(entry: Path, how: str) -> None:
    stored = json.loads(entry.read_text())
    if how == "nested":
        entry.write_text("[" * 100_000)  # RecursionError in json, before
        return
    if how in ("fifo", "device"):  # read without blocking, regular files only: hung before
        entry.unlink()
        os.mkfifo(entry, 0o600) if how == "fifo" else entry.symlink_to("/dev/zero")
        return
    if how == "cut":
        entry.write_text(entry.read_text()[:30])
        return
    changes = {
        "status": {"status": 10**400},  # read back as the answer's HTTP status, before
        "etag": {"etag": "e\r\nX-Evil: 1"},  # would go back into If-None-Match
        "headers": {"headers": {"content-type": 5}},
        "body": {"body": "not base64!"},
    }
    entry.write_text(json.dumps({**stored, **changes[how]}))


@pytest.mark.parametrize(
    "how", ["nested", "cut", "status", "etag", "headers", "body", "fifo", "device"]
)
def test_a_damaged_cache_entry_is_discarded_and_the_lookup_goes_on(
    tmp_path: Path, hermetic_env: dict[str, str], how: str
) -> None:
    with sandbox_process() as base:
        config = str(write_config(tmp_path / "c.toml", base))
        up = run_cli(
            ["--config", config, "upload", str(write_png(tmp_path / "a.png"))], env=hermetic_env
        )
        media = up.stdout.decode().strip().rsplit("/", 1)[-1].split(".")[0]
        first = run_cli(["--config", config, "info", media], hermetic_env)
        (entry,) = (Path(hermetic_env["XDG_CACHE_HOME"]) / "uploader" / "etags").glob("*.json")
        _damaged(entry, how)
        again = run_cli(["--config", config, "info", media], hermetic_env)
        sent = [r for r in requests_log(base) if r["path"].endswith(f"/3/image/{media}")]
    assert first.returncode == 0, first.stderr
    assert (again.returncode, again.stderr) == (0, b"")
    assert again.stdout == first.stdout
    assert sent[-1]["if_none_match"] is None  # the entry was not used


def _node(tmp_path: Path, kind: str) -> Path:
    """A path that is not a regular file, made under ``tmp_path`` (never a real /dev)."""
    path = tmp_path / f"{kind}.toml"
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "directory":
        path.mkdir()
    else:  # a character device like /dev/full: needs CAP_MKNOD
        try:
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 7))
        except PermissionError:
            pytest.skip("making a device node needs root")
    return path


@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
def test_config_init_force_never_replaces_what_is_not_a_regular_file(
    tmp_path: Path, hermetic_env: dict[str, str], kind: str
) -> None:
    """`UPLOADER_CONFIG=/dev/null uploader config init --force` as root replaced the
    device itself with the starter config, before."""
    path = _node(tmp_path, kind)
    before = os.lstat(path)
    done = run_cli(["config", "init", "--force"], {**hermetic_env, "UPLOADER_CONFIG": str(path)})
    check_error(done, 2, f"{path}: is not a regular file; nothing was written")
    after = os.lstat(path)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_a_ca_file_that_is_not_a_regular_file_is_exit_2_not_a_hang(
    tmp_path: Path, hermetic_env: dict[str, str], kind: str
) -> None:
    """SSL_CERT_FILE naming a FIFO blocked the run forever, before."""
    path = _node(tmp_path, kind)
    config = profile_file(tmp_path, 'kind = "imgur"\nclient_id = "cid"\n')  # https: TLS
    env = {**hermetic_env, "SSL_CERT_FILE": str(path)}
    done = run_cli(["--config", str(config), "upload", str(write_png(tmp_path / "a.png"))], env)
    check_error(done, 2, f"SSL_CERT_FILE ({path}) cannot be used: not a regular file")
