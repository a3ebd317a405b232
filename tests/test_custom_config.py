"""``config import-sxcu``, ``config show`` and ``auth set-token --secret`` for custom
profiles, in process: what is written where, and that no secret is left in the config."""

from __future__ import annotations

import json
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path

from tests.support.cli import invoke
from uploader.auth.credentials import CredentialStore

KEY = "chev-key-0123456789"
TOKEN = "xbb-token-abcdef987"

CHEVERETO = {
    "Version": "16.0.4",
    "Name": "My Chevereto",
    "DestinationType": "ImageUploader, FileUploader",
    "RequestMethod": "POST",
    "RequestURL": "https://img.example.org/api/1/upload",
    "Headers": {"X-API-Key": KEY},
    "Body": "MultipartFormData",
    "FileFormName": "source",
    "URL": "{json:image.url}",
    "ThumbnailURL": "{json:image.thumb.url}",
    "DeletionURL": "{json:image.delete_url}",
}
XBACKBONE = {
    "Version": "13.2.1",
    "Name": "XBackBone (alice)",
    "DestinationType": "ImageUploader, TextUploader, FileUploader",
    "RequestMethod": "POST",
    "RequestURL": "https://xbb.example.org/upload",
    "Body": "MultipartFormData",
    "Arguments": {"token": TOKEN},
    "FileFormName": "upload",
    # XBackBone writes the ShareX 13 syntax ($json:url$): converted when read.
    "URL": "$json:url$",
    "ThumbnailURL": "$json:url$/raw",
    "DeletionURL": "$json:url$/delete/" + TOKEN,
}
ZIPLINE = {
    "Version": "14.1.0",
    "Name": "Zipline",
    "DestinationType": "ImageUploader, FileUploader",
    "RequestMethod": "POST",
    "RequestURL": "https://zip.example.org/api/upload",
    "Headers": {"Authorization": "Bearer zl-tok-5555"},
    "Body": "MultipartFormData",
    "FileFormName": "file",
    "URL": "{json:files[0].url}",
}


def _sxcu(tmp_path: Path, name: str, definition: Mapping[str, object]) -> Path:
    path = tmp_path / f"{name}.sxcu"
    path.write_text(json.dumps(definition, indent=2))
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "home" / ".config")}


def _store(tmp_path: Path) -> CredentialStore:
    return CredentialStore(tmp_path / "home" / ".config" / "uploader" / "credentials.toml")


def test_import_writes_a_profile_and_moves_the_key_to_the_store(tmp_path: Path) -> None:
    config = tmp_path / "home" / ".config" / "uploader" / "config.toml"
    done = invoke(["config", "import-sxcu", str(_sxcu(tmp_path, "chev", CHEVERETO))])
    assert done.exit_code == 0, done.output
    assert KEY not in done.output
    assert "uploader upload -p my-chevereto shot.png" in done.output
    text = config.read_text()
    assert KEY not in text
    table = tomllib.loads(text)["providers"]["my-chevereto"]
    assert table["kind"] == "custom"
    assert table["Headers"] == {"X-API-Key": "{secret:x_api_key}"}
    assert table["URL"] == "{json:image.url}"
    assert _store(tmp_path).get("my-chevereto") == {"x_api_key": KEY}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700


def test_a_secret_is_replaced_everywhere_it_appears(tmp_path: Path) -> None:
    done = invoke(["config", "import-sxcu", str(_sxcu(tmp_path, "x", XBACKBONE)), "--name", "xbb"])
    assert done.exit_code == 0, done.output
    config = tmp_path / "home" / ".config" / "uploader" / "config.toml"
    text = config.read_text()
    assert TOKEN not in text
    table = tomllib.loads(text)["providers"]["xbb"]
    assert table["Arguments"] == {"token": "{secret:token}"}
    assert table["DeletionURL"] == "{json:url}/delete/{secret:token}"
    assert table["URL"] == "{json:url}"
    assert table["Version"] == "14.0.0"  # the converted syntax, never read as 13.x again
    assert _store(tmp_path).get("xbb") == {"token": TOKEN}


def test_an_authorization_scheme_stays_in_the_config_the_token_goes(tmp_path: Path) -> None:
    done = invoke(["config", "import-sxcu", str(_sxcu(tmp_path, "z", ZIPLINE))])
    assert done.exit_code == 0, done.output
    config = tmp_path / "home" / ".config" / "uploader" / "config.toml"
    table = tomllib.loads(config.read_text())["providers"]["zipline"]
    assert table["Headers"] == {"Authorization": "Bearer {secret:authorization}"}
    assert _store(tmp_path).get("zipline") == {"authorization": "zl-tok-5555"}


def test_import_appends_keeping_the_text_and_force_replaces_that_table_only(
    tmp_path: Path,
) -> None:
    config = tmp_path / "c.toml"
    original = (
        "# my own notes\n"
        'default_provider = "im"\n\n'
        "[providers.im]  # the main one\n"
        'kind = "imgur"\nclient_id = "cid"\n'
    )
    config.write_text(original)
    config.chmod(0o640)
    sxcu = _sxcu(tmp_path, "chev", CHEVERETO)
    first = invoke(["--config", str(config), "config", "import-sxcu", str(sxcu), "--name", "ch"])
    assert first.exit_code == 0, first.output
    assert config.read_text().startswith(original)
    assert stat.S_IMODE(config.stat().st_mode) == 0o640  # the user's file keeps its mode
    again = invoke(["--config", str(config), "config", "import-sxcu", str(sxcu), "--name", "ch"])
    assert again.exit_code == 2
    assert "profile 'ch' exists already" in again.output
    changed = dict(CHEVERETO, URL="{json:image.url_viewer}")
    sxcu.write_text(json.dumps(changed))
    forced = invoke(
        ["--config", str(config), "config", "import-sxcu", str(sxcu), "--name", "ch", "--force"]
    )
    assert forced.exit_code == 0, forced.output
    text = config.read_text()
    assert text.startswith(original)
    data = tomllib.loads(text)
    assert data["providers"]["ch"]["URL"] == "{json:image.url_viewer}"
    assert data["providers"]["im"] == {"kind": "imgur", "client_id": "cid"}
    assert text.count("[providers.ch]") == 1


def test_import_refuses_a_broken_definition_and_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    bad = tmp_path / "bad.sxcu"
    bad.write_text("{ not json")
    done = invoke(["--config", str(config), "config", "import-sxcu", str(bad)])
    assert done.exit_code == 2
    assert done.output.startswith(f"error: {bad}")
    assert "Traceback" not in done.output
    assert not config.exists()


def test_import_of_a_plain_http_host_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    sxcu = _sxcu(tmp_path, "h", dict(CHEVERETO, RequestURL="http://img.example.org/api/1/upload"))
    done = invoke(["--config", str(config), "config", "import-sxcu", str(sxcu)])
    assert done.exit_code == 2
    assert "plain http" in done.output
    assert not config.exists()
    assert _store(tmp_path).get("my-chevereto") == {}


def test_config_show_masks_literal_secrets_and_shows_references(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[providers.h]\nkind = "custom"\nRequestURL = "https://img.example.org/up"\n'
        'FileFormName = "f"\n'
        '[providers.h.Headers]\nX-API-Key = "literal-key-12345"\n'
        'Authorization = "{secret:auth}"\nAccept = "application/json"\n'
        '[providers.h.Arguments]\npassword = "hunter22hunter"\nalbum = "holiday"\n'
    )
    done = invoke(["--config", str(config), "config", "show"])
    assert done.exit_code == 0, done.output
    assert "literal-key-12345" not in done.output
    assert "hunter22hunter" not in done.output
    shown = tomllib.loads(done.output.split("\n", 1)[1])["providers"]["h"]
    assert shown["Headers"]["Authorization"] == "{secret:auth}"
    assert shown["Headers"]["Accept"] == "application/json"
    assert shown["Headers"]["X-API-Key"].startswith("****")
    assert shown["Arguments"] == {"password": "****er", "album": "holiday"}
    assert shown["base_url"] == "https://img.example.org"


def test_set_token_secret_stores_a_named_secret(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[providers.h]\nkind = "custom"\nRequestURL = "https://img.example.org/up"\n'
        'FileFormName = "f"\n[providers.h.Headers]\nX-API-Key = "{secret:api_key}"\n'
    )
    done = invoke(
        ["--config", str(config), "auth", "set-token", "h", "--secret", "api_key"],
        stdin="key-from-stdin-1\n",
    )
    assert done.exit_code == 0, done.output
    assert "key-from-stdin-1" not in done.output
    assert _store(tmp_path).get("h") == {"api_key": "key-from-stdin-1"}
    bad = invoke(
        ["--config", str(config), "auth", "set-token", "h", "--secret", "a b"], stdin="v\n"
    )
    assert bad.exit_code == 2


def test_auth_status_names_the_stored_secrets_and_logout_removes_them(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    sxcu = _sxcu(tmp_path, "x", XBACKBONE)
    assert invoke(["--config", str(config), "config", "import-sxcu", str(sxcu)]).exit_code == 0
    status = invoke(["--config", str(config), "auth", "status"])
    assert "xbackbone-alice (custom, https://xbb.example.org): secrets in the credential " in (
        status.output
    )
    assert "store: token" in status.output
    assert TOKEN not in status.output
    logout = invoke(["--config", str(config), "auth", "logout", "xbackbone-alice"])
    assert logout.exit_code == 0, logout.output
    assert _store(tmp_path).get("xbackbone-alice") == {}


def test_import_prints_the_definitions_notices_as_warnings(tmp_path: Path) -> None:
    sxcu = _sxcu(tmp_path, "n", dict(CHEVERETO, Colour="blue"))
    done = invoke(["--config", str(tmp_path / "c.toml"), "config", "import-sxcu", str(sxcu)])
    assert done.exit_code == 0, done.output
    warnings = [line for line in done.output.splitlines() if line.startswith("warning: ")]
    assert warnings == [f"warning: {sxcu}: unknown key 'Colour' (ignored)"]


def test_cookies_sessions_and_scheme_written_values_are_secrets_too(tmp_path: Path) -> None:
    secrets = {
        "Cookie": "sid=cookie-value-777",
        "X-Session-Id": "session-value-333",
        "X-Upload": "Bearer custom-bearer-888",
        "X-Credentials": "cred-value-444",
    }
    definition = dict(
        ZIPLINE,
        Headers={**secrets, "X-Format": "random"},
        Arguments={"pwd": "pwd-value-999", "jwt": "jwt-value-222", "signature": "sig-111"},
    )
    done = invoke(["config", "import-sxcu", str(_sxcu(tmp_path, "z", definition))])
    assert done.exit_code == 0, done.output
    config = tmp_path / "home" / ".config" / "uploader" / "config.toml"
    text = config.read_text()
    stored = _store(tmp_path).get("zipline")
    for value in ("cookie-value-777", "session-value-333", "custom-bearer-888", "cred-value-444"):
        assert value not in text
        assert value not in done.output
        assert any(value in v for v in stored.values())
    for value in ("pwd-value-999", "jwt-value-222", "sig-111"):
        assert value not in text
        assert value in stored.values()
    table = tomllib.loads(text)["providers"]["zipline"]
    assert table["Headers"]["X-Upload"] == "Bearer {secret:x_upload}"
    assert table["Headers"]["X-Format"] == "random"  # not a secret: kept
