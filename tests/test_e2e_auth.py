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


def _login(tmp_path: Path, base: str, env: dict[str, str]) -> Path:
    config = write_config(tmp_path / "c.toml", base, client_id="app-1")
    proc, url = _start_login(config, env)
    assert _browser_token_flow(url).status_code == 200
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return config


def _store(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "uploader" / "credentials.toml"


def _stored(env: dict[str, str], key: str) -> str:
    import tomllib

    return str(tomllib.loads(_store(env).read_text())["profiles"]["sb"][key])


def _token_posts(base: str) -> int:
    return sum(
        1 for r in get_json(f"{base}/_sandbox/requests") if r["path"] == "/imgur/oauth2/token"
    )


def test_expired_token_is_refreshed_once_then_upload_succeeds(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # Tokens live 2 s: well inside the refresh margin, so the next upload refreshes first.
    with sandbox_process("imgur_token_lifetime=2") as base:
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        config = _login(tmp_path, base, env)
        old = _stored(hermetic_env, "access_token")
        image = write_png(tmp_path / "a.png")
        done = run_cli(["--config", str(config), "-vv", "upload", str(image)], env)
        assert done.returncode == 0, done.stderr
        new = _stored(hermetic_env, "access_token")
        assert new != old
        assert _token_posts(base) == 1
        last = get_json(f"{base}/_sandbox/requests")[-1]
        assert last["auth_sha256"] == hashlib.sha256(new.encode()).hexdigest()
        output = done.stdout + done.stderr
        for secret in (old, new, _stored(hermetic_env, "refresh_token"), SECRET):
            assert secret.encode() not in output


def test_rejected_refresh_is_exit_3(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process("imgur_token_lifetime=2") as base:
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        config = _login(tmp_path, base, env)
        store = _store(hermetic_env)
        refresh = _stored(hermetic_env, "refresh_token")
        store.write_text(store.read_text().replace(refresh, "bogus-refresh-token"))
        done = run_cli(["--config", str(config), "upload", str(write_png(tmp_path / "a.png"))], env)
        assert done.returncode == 3
        err = done.stderr.decode()
        assert (
            "error: Imgur refused to refresh the access token: Refresh token doesn't exist" in err
        )
        assert "hint: sign in again: uploader auth login" in err


def test_two_processes_refreshing_at_once_refresh_once(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process("imgur_token_lifetime=2") as base:
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        config = _login(tmp_path, base, env)
        procs = [
            subprocess.Popen(
                [
                    *CLI,
                    "--config",
                    str(config),
                    "upload",
                    str(write_png(tmp_path / f"{n}.png", seed=n)),
                ],
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for n in range(2)
        ]
        results = [proc.communicate(timeout=60) for proc in procs]
        assert [proc.returncode for proc in procs] == [0, 0], results
        assert _token_posts(base) == 1
        new = _stored(hermetic_env, "access_token")
        hashes = {
            r["auth_sha256"]
            for r in get_json(f"{base}/_sandbox/requests")
            if r["path"] == "/imgur/3/image"
        }
        assert hashes == {hashlib.sha256(new.encode()).hexdigest()}


def test_world_readable_store_is_refused(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process() as base:
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        config = _login(tmp_path, base, env)
        store = _store(hermetic_env)
        store.chmod(0o644)
        done = run_cli(
            ["--config", str(config), "upload", str(write_png(tmp_path / "a.png"))], hermetic_env
        )
        assert done.returncode == 3
        err = done.stderr.decode()
        assert "credential file is readable by others (mode 644); refusing to use it" in err
        assert f"hint: chmod 600 {store}" in err


def test_status_and_logout(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process() as base:
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        config = _login(tmp_path, base, env)
        status = run_cli(["--config", str(config), "auth", "status"], env)
        assert status.returncode == 0, status.stderr
        line = status.stdout.decode().strip()
        assert line.startswith(f"sb (imgur, {base}/imgur): token from credential store ")
        assert "account sandbox-user" in line
        assert "expires in 60 min" in line
        assert "verified: signed in as sandbox-user" in line
        out = run_cli(["--config", str(config), "auth", "logout", "sb"], env)
        assert out.returncode == 0, out.stderr
        said = out.stderr.decode()
        assert "imgur has no token revocation" in said
        assert "removed the local access token and refresh token for 'sb'" in said
        after = run_cli(["--config", str(config), "auth", "status", "--offline"], env)
        assert "not signed in; anonymous uploads with the client id" in after.stdout.decode()


def test_set_token_reads_stdin_and_is_used(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process() as base:
        config = write_config(tmp_path / "c.toml", base, client_id="app-1")
        done = run_cli(
            ["--config", str(config), "auth", "set-token", "sb"],
            hermetic_env,
            stdin=b"personal-token-42\n",
        )
        assert done.returncode == 0, done.stderr
        assert b"personal-token-42" not in done.stdout + done.stderr
        up = run_cli(
            ["--config", str(config), "upload", str(write_png(tmp_path / "a.png"))], hermetic_env
        )
        assert up.returncode == 0, up.stderr
        last = get_json(f"{base}/_sandbox/requests")[-1]
        assert last["auth_sha256"] == hashlib.sha256(b"personal-token-42").hexdigest()


def _profile_config(tmp_path: Path, base: str, kind: str) -> Path:
    path = tmp_path / "c.toml"
    if kind == "gyazo":
        body = (
            f'[providers.sb]\nkind = "gyazo"\nbase_url = "{base}/gyazo"\n'
            f'upload_url = "{base}/gyazo-upload"\nclient_id = "gz-app"\n'
        )
    else:
        body = f'[providers.sb]\nkind = "mastodon"\nbase_url = "{base}/mastodon"\n'
    path.write_text('default_provider = "sb"\n' + body)
    return path


def _follow_code_redirect(url: str) -> None:
    redirect = httpx.get(url)
    assert redirect.status_code == 302, redirect.text
    assert httpx.get(redirect.headers["location"]).status_code == 200


def test_gyazo_login_stores_a_token(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process() as base:
        config = _profile_config(tmp_path, base, "gyazo")
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        proc, url = _start_login(config, env)
        assert "response_type=code" in url
        assert "state=" in url
        _follow_code_redirect(url)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert b"signed in to Gyazo" in err
        token = _stored(hermetic_env, "access_token")
        assert len(token) == 64
        status = run_cli(["--config", str(config), "auth", "status", "--offline"], env)
        assert "token from credential store" in status.stdout.decode()
        assert token.encode() not in status.stdout + status.stderr + err
        up = run_cli(
            ["--config", str(config), "-v", "upload", str(write_png(tmp_path / "g.png"))],
            hermetic_env,
        )
        assert up.returncode == 0, up.stderr
        assert b"sb: access_token from credential store" in up.stderr
        sent = next(
            r
            for r in get_json(f"{base}/_sandbox/requests")
            if r["path"] == "/gyazo-upload/api/upload"
        )
        assert sent["auth_sha256"] == hashlib.sha256(token.encode()).hexdigest()


def test_mastodon_login_registers_once_uses_pkce_and_revokes(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    import tomllib

    with sandbox_process() as base:
        config = _profile_config(tmp_path, base, "mastodon")
        for _ in range(2):
            proc, url = _start_login(config, hermetic_env)
            assert "code_challenge_method=S256" in url
            _follow_code_redirect(url)
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err
        data = tomllib.loads(_store(hermetic_env).read_text())
        assert list(data["apps"]) == [f"{base}/mastodon"]  # registered once per instance
        registrations = [
            r
            for r in get_json(f"{base}/_sandbox/requests")
            if r["path"] == "/mastodon/api/v1/apps" and r["method"] == "POST"
        ]
        assert len(registrations) == 1
        token = data["profiles"]["sb"]["access_token"]
        up = run_cli(
            ["--config", str(config), "upload", str(write_png(tmp_path / "m.png"))], hermetic_env
        )
        assert up.returncode == 0, up.stderr
        sent = next(
            r
            for r in get_json(f"{base}/_sandbox/requests")
            if r["path"] == "/mastodon/api/v2/media"
        )
        assert sent["auth_sha256"] == hashlib.sha256(token.encode()).hexdigest()
        auth = {"Authorization": f"Bearer {token}"}
        check = f"{base}/mastodon/api/v1/apps/verify_credentials"
        assert httpx.get(check, headers=auth).status_code == 200
        out = run_cli(["--config", str(config), "auth", "logout", "sb"], hermetic_env)
        assert out.returncode == 0, out.stderr
        assert f"revoked the token on {base}/mastodon".encode() in out.stderr
        assert httpx.get(check, headers=auth).status_code == 401
        refused = run_cli(
            [
                "--config",
                str(config),
                "upload",
                "--on-limit",
                "fail",
                str(write_png(tmp_path / "late.png", seed=3)),
            ],
            hermetic_env,
        )
        assert refused.returncode == 3  # signed out: no token left


def test_mastodon_paste_flow_uses_oob(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process() as base:
        config = _profile_config(tmp_path, base, "mastodon")
        proc, url = _start_login(config, hermetic_env, "--paste")
        assert "redirect_uri=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob" in url
        page = httpx.get(url).text
        code = page.split('value="')[1].split('"')[0]
        _, err = proc.communicate(input=f"{code}\n".encode(), timeout=30)
        assert proc.returncode == 0, err
        assert _stored(hermetic_env, "access_token")
