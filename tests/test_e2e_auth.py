"""End to end: `uploader auth` against the sandbox, driven like a browser would be."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.e2e import CLI, get_json, run_cli, sandbox_process, write_config
from tests.images import write_png

SECRET = "sandbox-secret"


def _start_login(
    config: Path, env: dict[str, str], *extra: str
) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [
            *CLI,
            "--config",
            str(config),
            "auth",
            "login",
            "sb",
            "--no-browser",
            "--timeout",
            "30",
            *extra,
        ],
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    for _ in range(20):
        line = proc.stderr.readline().decode().strip()
        if line.startswith("http://127.0.0.1:"):
            return proc, line
    proc.kill()
    raise AssertionError("no authorization URL printed")


def _browser_token_flow(url: str, *, tamper_state: bool = False) -> httpx.Response:
    """What a browser does: follow the authorize redirect, load the callback page, and run
    its script, which posts the fragment back to the listener."""
    redirect = httpx.get(url)
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["location"])
    page = httpx.get(f"{location.scheme}://{location.netloc}{location.path}")
    assert b"location.hash" in page.content
    fragment = dict(parse_qsl(location.fragment))
    if tamper_state:
        fragment["state"] = "forged"
    body = "&".join(f"{k}={v}" for k, v in fragment.items())
    return httpx.post(f"{location.scheme}://{location.netloc}/fragment", content=body)


def test_imgur_login_then_upload_with_the_stored_token(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process() as base:
        config = write_config(tmp_path / "c.toml", base, client_id="app-1")
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        proc, url = _start_login(config, env)
        assert "response_type=token" in url
        assert _browser_token_flow(url).status_code == 200
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert b"signed in to Imgur as sandbox-user" in err
        store = Path(hermetic_env["XDG_CONFIG_HOME"]) / "uploader" / "credentials.toml"
        assert store.stat().st_mode & 0o777 == 0o600
        assert store.parent.stat().st_mode & 0o777 == 0o700
        image = write_png(tmp_path / "a.png")
        done = run_cli(["--config", str(config), "-vv", "upload", str(image)], hermetic_env)
        assert done.returncode == 0, done.stderr
        last = get_json(f"{base}/_sandbox/requests")[-1]
        assert last["auth_scheme"] == "Bearer"
        token_line = next(
            line for line in store.read_text().splitlines() if line.startswith("access_token")
        )
        token = token_line.split("=", 1)[1].strip().strip('"')
        assert last["auth_sha256"] == hashlib.sha256(token.encode()).hexdigest()
        everything = out + err + done.stdout + done.stderr
        assert token.encode() not in everything
        assert SECRET.encode() not in everything


def test_imgur_login_rejects_a_forged_state(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process() as base:
        config = write_config(tmp_path / "c.toml", base, client_id="app-1")
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        proc, url = _start_login(config, env)
        assert _browser_token_flow(url, tamper_state=True).status_code == 400
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 3
        assert b"error: sign-in refused: the redirect's state does not match" in err


def test_imgur_pin_login_wrong_secret_is_exit_3(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process() as base:
        config = write_config(tmp_path / "c.toml", base, client_id="app-1")
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": "wrong-secret"}
        proc, url = _start_login(config, env, "--paste")
        assert "response_type=pin" in url
        pin = httpx.get(url).text.split('<code id="pin">')[1].split("</code>")[0]
        _, err = proc.communicate(input=f"{pin}\n".encode(), timeout=30)
        assert proc.returncode == 3
        assert b"error: exchanging the Imgur PIN failed: Invalid client_secret" in err
        assert b"wrong-secret" not in err
