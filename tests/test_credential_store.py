"""The credential store and the secret sources, in process."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from uploader.auth.credentials import CredentialStore, resolve_secret, store_for
from uploader.config.settings import parse_config
from uploader.errors import AuthError


def _profile(tmp_path: Path, extra: str = "") -> object:
    text = f'[providers.im]\nkind = "imgur"\nclient_id = "cid"\n{extra}'
    return parse_config(text, tmp_path / "c.toml").profile("im")


def _leftovers(directory: Path) -> list[str]:
    """Files in the store's directory other than the store and its lock file."""
    return sorted(
        p.name
        for p in directory.iterdir()
        if p.name not in ("credentials.toml", "credentials.toml.lock")
    )


def test_store_modes_and_atomic_write(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "cfg" / "credentials.toml")
    assert store.remove("im") == []
    assert not store.path.exists()  # nothing changed, nothing written
    store.update("im", access_token="tok-1", refresh_token="ref-1", expires_at=10.0)
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.path.parent.stat().st_mode & 0o777 == 0o700
    assert store.get("im") == {
        "access_token": "tok-1",
        "refresh_token": "ref-1",
        "expires_at": 10.0,
    }
    assert _leftovers(store.path.parent) == []
    assert store.remove("im", ("access_token",)) == ["access_token"]
    assert "access_token" not in store.get("im")
    assert store.path.stat().st_mode & 0o777 == 0o600


def test_an_existing_open_directory_is_made_private(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    store = CredentialStore(directory / "credentials.toml")
    store.update("im", access_token="tok-1")
    assert directory.stat().st_mode & 0o777 == 0o700
    assert store.path.stat().st_mode & 0o777 == 0o600


def _fail(*_args: object, **_kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _half_write_then_fail(fd: int) -> None:
    # What a full disk does midway: part of the new text is on disk, then an error.
    os.ftruncate(fd, 7)
    raise OSError(errno.EIO, "Input/output error")


@pytest.mark.parametrize(
    ("target", "replacement"),
    [
        ("os.fsync", _half_write_then_fail),
        ("os.fsync", _fail),
        ("os.replace", _fail),
    ],
    ids=["torn-write", "fsync", "replace"],
)
def test_a_failed_write_leaves_the_previous_store_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, replacement: object
) -> None:
    store = CredentialStore(tmp_path / "cfg" / "credentials.toml")
    store.update("im", access_token="fake-old-token", refresh_token="fake-old-refresh")
    before = store.path.read_bytes()
    monkeypatch.setattr(target, replacement)
    with pytest.raises(AuthError) as info:
        store.update("im", access_token="fake-new-token")
    monkeypatch.undo()
    assert info.value.message.startswith(f"{store.path}: cannot write the credential file (")
    assert info.value.message.endswith("; it was left as it was")
    assert "fake-" not in info.value.message
    assert store.path.read_bytes() == before
    assert _leftovers(store.path.parent) == []
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.path.parent.stat().st_mode & 0o777 == 0o700
    assert store.get("im")["access_token"] == "fake-old-token"


def test_a_failing_serializer_leaves_the_previous_store_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tomli_w

    store = CredentialStore(tmp_path / "cfg" / "credentials.toml")
    store.update("im", access_token="fake-old-token")
    before = store.path.read_bytes()

    def broken(_data: object) -> str:
        raise TypeError("cannot serialize")

    monkeypatch.setattr(tomli_w, "dumps", broken)
    with pytest.raises(TypeError):
        store.update("im", access_token="fake-new-token")
    assert store.path.read_bytes() == before
    assert _leftovers(store.path.parent) == []


CRASHING_WRITER = """
import os, sys
from pathlib import Path
from uploader.auth.credentials import CredentialStore

def crash(_fd):  # the process dies after writing, before the rename: a power cut
    os._exit(9)

os.fsync = crash
CredentialStore(Path(sys.argv[1])).update("im", access_token="fake-new-token")
"""


def test_a_writer_killed_midway_leaves_the_old_store_and_the_next_writer_tidies(
    tmp_path: Path,
) -> None:
    store = CredentialStore(tmp_path / "cfg" / "credentials.toml")
    store.update("im", access_token="fake-old-token")
    before = store.path.read_bytes()
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, str(store.path)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 9, done.stderr
    assert store.path.read_bytes() == before
    stale = _leftovers(store.path.parent)
    assert len(stale) == 1  # the crashed writer's temporary file, private like the store
    assert (store.path.parent / stale[0]).stat().st_mode & 0o777 == 0o600
    store.update("im", refresh_token="fake-refresh")
    assert _leftovers(store.path.parent) == []
    assert store.get("im") == {"access_token": "fake-old-token", "refresh_token": "fake-refresh"}


CONCURRENT_WRITER = """
import sys
from pathlib import Path
from uploader.auth.credentials import CredentialStore

store = CredentialStore(Path(sys.argv[1]))
tag, count = sys.argv[2], int(sys.argv[3])
for n in range(count):
    store.update("im", **{f"{tag}{n}": f"fake-{tag}-{n}"})
"""

CONCURRENT_READER = """
import sys
from pathlib import Path
from uploader.auth.credentials import CredentialStore

store = CredentialStore(Path(sys.argv[1]))
stop = Path(sys.argv[2])
reads = 0
while not stop.exists() and reads < 20000:
    table = store.get("im")
    if table.get("base") != "fake-base":
        sys.exit(f"read {reads}: a partial store: {sorted(table)}")
    reads += 1
print(reads)
"""


def test_concurrent_writers_never_lose_an_update_and_readers_never_see_a_part(
    tmp_path: Path,
) -> None:
    store = CredentialStore(tmp_path / "cfg" / "credentials.toml")
    store.update("im", base="fake-base")
    stop = tmp_path / "stop"
    count = 25
    reader = subprocess.Popen(
        [sys.executable, "-c", CONCURRENT_READER, str(store.path), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_WRITER, str(store.path), tag, str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for tag in ("a", "b")
    ]
    try:
        results = [proc.communicate(timeout=60) for proc in writers]
    finally:
        stop.touch()
        read_out, read_err = reader.communicate(timeout=60)
    assert [proc.returncode for proc in writers] == [0, 0], results
    assert reader.returncode == 0, read_err
    assert int(read_out) > 0
    expected = {"base": "fake-base"}
    expected.update({f"{tag}{n}": f"fake-{tag}-{n}" for tag in ("a", "b") for n in range(count)})
    assert store.get("im") == expected
    assert _leftovers(store.path.parent) == []


def test_a_held_lock_is_waited_for_a_bounded_time(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.toml", lock_timeout=0.2)
    store.update("im", access_token="fake-old-token")
    before = store.path.read_bytes()
    holder = os.open(store.path.with_name("credentials.toml.lock"), os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # another writer, mid-refresh
        with pytest.raises(AuthError) as info:
            store.update("im", access_token="fake-new-token")
    finally:
        os.close(holder)
    assert info.value.message == (
        f"{store.path}: another uploader process has held the credential store's lock "
        "for over 0.2 s"
    )
    assert store.path.read_bytes() == before
    store.update("im", access_token="fake-new-token")  # released: the write goes through
    assert store.get("im")["access_token"] == "fake-new-token"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_group_or_other_readable_store_is_refused_without_reading(
    tmp_path: Path, mode: int
) -> None:
    store = CredentialStore(tmp_path / "credentials.toml")
    store.update("im", access_token="fake-token")
    store.path.chmod(mode)
    before = store.path.read_bytes()
    for attempt in (lambda: store.get("im"), lambda: store.update("im", access_token="x")):
        with pytest.raises(AuthError) as info:
            attempt()
        assert info.value.exit_code == 3
        assert info.value.message == (
            f"{store.path}: credential file is readable by others (mode {mode:03o}); "
            "refusing to use it"
        )
        assert info.value.hint == f"chmod 600 {store.path}"
        assert "fake-token" not in info.value.message
    assert store.path.read_bytes() == before  # not "fixed" behind the user's back
    assert stat.S_IMODE(store.path.stat().st_mode) == mode


def test_corrupt_store_names_the_file_only(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.toml")
    store.path.write_text("access_token = 'sekrit\n")
    store.path.chmod(0o600)
    with pytest.raises(AuthError) as info:
        store.load()
    assert str(store.path) in info.value.message
    assert "sekrit" not in info.value.message


def test_precedence_env_then_command_then_store(
    tmp_path: Path, hermetic_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="uploader.auth.credentials")
    script = tmp_path / "secret.py"
    script.write_text("print('from-command')\n")
    profile = _profile(tmp_path, f"access_token_command = '{sys.executable} {script}'\n")
    store_for(hermetic_env).update("im", access_token="from-store")
    env = {**hermetic_env, "UPLOADER_IM_ACCESS_TOKEN": "from-env"}
    assert resolve_secret(profile, "access_token", env) == (  # type: ignore[arg-type]
        "from-env",
        "environment variable UPLOADER_IM_ACCESS_TOKEN",
    )
    value, source = resolve_secret(profile, "access_token", hermetic_env)  # type: ignore[arg-type,misc]
    assert value == "from-command"
    assert source.startswith("access_token_command `python")
    plain = _profile(tmp_path)
    value, source = resolve_secret(plain, "access_token", hermetic_env)  # type: ignore[arg-type,misc]
    assert value == "from-store"
    assert source.startswith("credential store ")
    logged = caplog.text
    assert "im: access_token from environment variable" in logged
    for secret in ("from-env", "from-command", "from-store"):
        assert secret not in logged


def test_failing_command_names_the_program_not_its_output(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    script = tmp_path / "fail.py"
    script.write_text("import sys\nprint('leaked')\nsys.exit(3)\n")
    profile = _profile(tmp_path, f"access_token_command = '{sys.executable} {script}'\n")
    with pytest.raises(AuthError) as info:
        resolve_secret(profile, "access_token", hermetic_env)  # type: ignore[arg-type]
    assert "exited with 3" in info.value.message
    assert "leaked" not in info.value.message


def test_refresh_once_uses_a_newer_token_instead_of_refreshing(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.toml")
    store.update("im", access_token="old", refresh_token="r1")
    calls: list[str] = []

    def refresh(token: str) -> dict[str, object]:
        calls.append(token)
        return {"access_token": "new", "refresh_token": "r1", "expires_at": 99.0}

    assert store.refresh_once("im", "old", refresh) == "new"
    assert store.refresh_once("im", "old", refresh) == "new"  # a stale caller
    assert calls == ["r1"]
    assert store.get("im")["expires_at"] == 99.0


def test_one_list_of_credential_names_masks_config_show_and_redacts_oauth_errors(
    tmp_path: Path,
) -> None:
    from uploader.auth.credentials import CREDENTIALS
    from uploader.auth.oauth import redact
    from uploader.commands.config import effective_toml

    assert CREDENTIALS == ("access_token", "client_id", "client_secret", "refresh_token")
    config = parse_config('[providers.im]\nkind = "imgur"\n', tmp_path / "c.toml")
    env = {f"UPLOADER_IM_{name.upper()}": f"fake-{name}-value-xy" for name in CREDENTIALS}
    shown = effective_toml(config, env)
    for name in CREDENTIALS:
        var = f"UPLOADER_IM_{name.upper()}"
        assert f"# im: {name} = '****xy' (from environment variable {var})" in shown
        assert f"fake-{name}-value" not in shown
    # A server quoting the whole form back: every secret is masked, the public client id is not.
    names = (*CREDENTIALS, "code", "code_verifier", "pin", "token")
    form = {name: f"fake-{name}-value-xy" for name in names}
    assert redact(" ".join(form.values()), form) == " ".join(
        "fake-client_id-value-xy" if name == "client_id" else "****" for name in names
    )
