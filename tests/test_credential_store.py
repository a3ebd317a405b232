"""The credential store and the secret sources, in process."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from uploader.config import parse_config
from uploader.credentials import CredentialStore, resolve_secret, store_for
from uploader.errors import AuthError


def _profile(tmp_path: Path, extra: str = "") -> object:
    text = f'[providers.im]\nkind = "imgur"\nclient_id = "cid"\n{extra}'
    return parse_config(text, tmp_path / "c.toml").profile("im")


def test_store_modes_and_atomic_write(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "cfg" / "credentials.toml")
    store.update("im", access_token="tok-1", refresh_token="ref-1", expires_at=10.0)
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.path.parent.stat().st_mode & 0o777 == 0o700
    assert store.get("im") == {
        "access_token": "tok-1",
        "refresh_token": "ref-1",
        "expires_at": 10.0,
    }
    leftovers = [
        p.name
        for p in store.path.parent.iterdir()
        if p.name.endswith(".tmp") or p.name.startswith(".credentials")
    ]
    assert leftovers == []
    assert store.remove("im", ("access_token",)) == ["access_token"]
    assert "access_token" not in store.get("im")


def test_group_readable_store_is_refused_without_reading(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.toml")
    store.update("im", access_token="tok")
    store.path.chmod(0o640)
    with pytest.raises(AuthError) as info:
        store.get("im")
    assert info.value.hint == f"chmod 600 {store.path}"
    assert "mode 640" in info.value.message
    assert "tok" not in info.value.message


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
    caplog.set_level(logging.DEBUG, logger="uploader.credentials")
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
