"""``auth status``: how long ago a token was stored and how long it has left."""

from __future__ import annotations

from pathlib import Path

from uploader.auth.credentials import store_for
from uploader.commands.auth import status
from uploader.config.settings import parse_config

NOW = 1_800_000_000.0
CONFIG = '[providers.im]\nkind = "imgur"\nbase_url = "http://127.0.0.1:9/imgur"\n'


def _status(env: dict[str, str], tmp_path: Path, **stored: object) -> str:
    store_for(env).update("im", access_token="tok", **stored)
    config = parse_config(CONFIG, tmp_path / "c.toml")
    (line,) = status(config, "im", env, None, now=NOW)
    return line


def test_ages_and_lifetimes_read_like_reset_times(
    hermetic_env: dict[str, str], tmp_path: Path
) -> None:
    line = _status(hermetic_env, tmp_path, created_at=NOW - 5.5 * 3600, expires_at=NOW + 3 * 86400)
    store = Path(hermetic_env["XDG_CONFIG_HOME"]) / "uploader" / "credentials.toml"
    assert line == (
        f"im (imgur, http://127.0.0.1:9/imgur): token from credential store {store}; "
        "signed in 5.5 h ago; expires in 3 days"
    )


def test_an_expired_token_says_how_long_ago(hermetic_env: dict[str, str], tmp_path: Path) -> None:
    line = _status(
        hermetic_env, tmp_path, created_at=NOW - 40, expires_at=NOW - 720, refresh_token="r"
    )
    assert line.endswith("; signed in 40 s ago; expired 12 min ago (will be refreshed)")
