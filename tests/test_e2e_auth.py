"""End to end: `uploader auth` against the sandbox, driven like a browser would be."""

from __future__ import annotations

import hashlib
import os
import re
import selectors
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import tomli_w

from tests.support.e2e import CLI, get_json, run_cli, sandbox_process, write_config
from tests.support.images import write_png

SECRET = "sandbox-secret"
# Sandbox knobs under which only the tokens its OAuth endpoints minted are accepted, so a
# working upload proves the stored token is the one the sign-in produced.
MINTED_ONLY = (
    "imgur_tokens=fake-unlisted-token",
    "gyazo_tokens=fake-unlisted-token",
    "mastodon_tokens=fake-unlisted-token",
)
URL_DEADLINE = 20.0  # seconds for `auth login` to print its authorization URL


class Login:
    """A running `uploader auth login` that has printed its authorization URL."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, early_err: bytes) -> None:
        self.proc = proc
        self.url = url
        self.early_err = early_err

    def finish(self, stdin: bytes | None = None) -> tuple[bytes, bytes]:
        """Wait (bounded) for the process to end; (stdout, all of stderr)."""
        try:
            out, err = self.proc.communicate(input=stdin, timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate(timeout=10)
            raise AssertionError("`auth login` did not finish within 30 s") from None
        return out, self.early_err + err


def _start_login(
    config: Path,
    env: dict[str, str],
    *extra: str,
    verbose: tuple[str, ...] = (),
    cli: tuple[str, ...] = tuple(CLI),
) -> Login:
    """Start `auth login sb --no-browser` and read stderr until the authorization URL,
    for at most URL_DEADLINE seconds (then the process is killed and the test fails)."""
    proc = subprocess.Popen(
        [
            *cli,
            *verbose,
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
    fd = proc.stderr.fileno()  # read unbuffered: communicate() later reads the fd too
    seen = b""
    deadline = time.monotonic() + URL_DEADLINE
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        for _ in range(10_000):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(timeout=left):
                break
            chunk = os.read(fd, 65536)
            if not chunk:  # the process closed stderr: it ended without a URL
                break
            seen += chunk
            for line in seen.split(b"\n")[:-1]:
                text = line.decode("utf-8", "replace").strip()
                if text.startswith("http://127.0.0.1:"):
                    return Login(proc, text, seen)
    proc.kill()
    proc.communicate(timeout=10)
    raise AssertionError(
        f"`auth login` printed no authorization URL within {URL_DEADLINE:.0f} s; "
        f"stderr: {seen.decode('utf-8', 'replace')!r}"
    )


def _browser_token_flow(
    url: str, *, tamper_state: bool = False
) -> tuple[httpx.Response, dict[str, str]]:
    """What a browser does: follow the authorize redirect, load the callback page, and run
    its script, which posts the fragment back to the listener. Returns the listener's
    answer and the fragment's parameters (the tokens Imgur handed out)."""
    redirect = httpx.get(url)
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["location"])
    assert location.hostname == "127.0.0.1"
    page = httpx.get(f"{location.scheme}://{location.netloc}{location.path}")
    assert b"location.hash" in page.content
    fragment = dict(parse_qsl(location.fragment))
    sent = {**fragment, "state": "forged"} if tamper_state else fragment
    body = "&".join(f"{k}={v}" for k, v in sent.items())
    answer = httpx.post(f"{location.scheme}://{location.netloc}/fragment", content=body)
    return answer, fragment


def _store(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "uploader" / "credentials.toml"


def _stored(env: dict[str, str], key: str) -> str:
    return str(tomllib.loads(_store(env).read_text())["profiles"]["sb"][key])


def _rewrite_stored(env: dict[str, str], **changes: object) -> None:
    """Edit the profile's stored table as another tool would (the file keeps mode 0600)."""
    path = _store(env)
    data = tomllib.loads(path.read_text())
    data["profiles"]["sb"].update(changes)
    path.write_text(tomli_w.dumps(data))
    assert path.stat().st_mode & 0o777 == 0o600


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _requests(base: str, path: str) -> list[dict[str, object]]:
    return [r for r in get_json(f"{base}/_sandbox/requests") if r["path"] == path]


def test_imgur_login_then_upload_with_the_stored_token(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process(*MINTED_ONLY) as base:
        config = write_config(tmp_path / "c.toml", base, client_id="app-1")
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        login = _start_login(config, env)
        assert "response_type=token" in login.url
        answer, fragment = _browser_token_flow(login.url)
        assert answer.status_code == 200
        out, err = login.finish()
        assert login.proc.returncode == 0, err
        assert b"signed in to Imgur as sandbox-user" in err
        store = _store(hermetic_env)
        assert store.stat().st_mode & 0o777 == 0o600
        assert store.parent.stat().st_mode & 0o777 == 0o700
        # README: the store is the config directory's, whichever file --config names.
        assert not (tmp_path / "credentials.toml").exists()
        token = _stored(hermetic_env, "access_token")
        assert token == fragment["access_token"]  # what the sandbox minted, as minted
        assert _stored(hermetic_env, "refresh_token") == fragment["refresh_token"]
        image = write_png(tmp_path / "a.png")
        done = run_cli(["--config", str(config), "-vv", "upload", str(image)], hermetic_env)
        assert done.returncode == 0, done.stderr
        (sent,) = _requests(base, "/imgur/3/image")
        assert (sent["auth_scheme"], sent["auth_sha256"], sent["status"]) == (
            "Bearer",
            _sha(token),
            200,
        )
        everything = out + err + done.stdout + done.stderr
        for secret in (token, fragment["refresh_token"], SECRET):
            assert secret.encode() not in everything


def test_imgur_login_rejects_a_forged_state(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process() as base:
        config = write_config(tmp_path / "c.toml", base, client_id="app-1")
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        login = _start_login(config, env)
        answer, _ = _browser_token_flow(login.url, tamper_state=True)
        assert answer.status_code == 400
        _, err = login.finish()
        assert login.proc.returncode == 3
        assert b"error: sign-in refused: the redirect's state does not match" in err
        assert not _store(hermetic_env).exists()  # nothing was kept


def test_imgur_pin_login_wrong_secret_is_exit_3(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process() as base:
        config = write_config(tmp_path / "c.toml", base, client_id="app-1")
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": "wrong-secret"}
        login = _start_login(config, env, "--paste")
        assert "response_type=pin" in login.url
        pin = httpx.get(login.url).text.split('<code id="pin">')[1].split("</code>")[0]
        _, err = login.finish(f"{pin}\n".encode())
        assert login.proc.returncode == 3
        assert b"error: exchanging the Imgur PIN failed: Invalid client_secret" in err
        assert b"wrong-secret" not in err
        assert pin.encode() not in err


def _login(tmp_path: Path, base: str, env: dict[str, str]) -> Path:
    config = write_config(tmp_path / "c.toml", base, client_id="app-1")
    login = _start_login(config, env)
    assert _browser_token_flow(login.url)[0].status_code == 200
    _, err = login.finish()
    assert login.proc.returncode == 0, err
    return config


def _token_posts(base: str) -> int:
    return len(_requests(base, "/imgur/oauth2/token"))


def test_expired_token_is_refreshed_once_then_upload_succeeds(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process(*MINTED_ONLY) as base:
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        config = _login(tmp_path, base, env)
        old = _stored(hermetic_env, "access_token")
        refresh = _stored(hermetic_env, "refresh_token")
        _rewrite_stored(hermetic_env, expires_at=1.0)  # long expired, by the store's account
        image = write_png(tmp_path / "a.png")
        done = run_cli(["--config", str(config), "-vv", "upload", str(image)], env)
        assert done.returncode == 0, done.stderr
        new = _stored(hermetic_env, "access_token")
        assert new != old
        assert _stored(hermetic_env, "refresh_token") == refresh
        assert float(_stored(hermetic_env, "expires_at")) > 1.0
        assert _token_posts(base) == 1
        (sent,) = _requests(base, "/imgur/3/image")  # refreshed before, not after a 403
        assert (sent["auth_sha256"], sent["status"]) == (_sha(new), 200)
        output = done.stdout + done.stderr
        for secret in (old, new, refresh, SECRET):
            assert secret.encode() not in output


def test_a_token_the_server_rejects_is_refreshed_and_the_upload_retried(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # The store says the token is good for hours, but the server no longer takes it.
    with sandbox_process(*MINTED_ONLY) as base:
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        config = _login(tmp_path, base, env)
        # A first upload: the client figures are known from then on (no credits check).
        first = run_cli(
            ["--config", str(config), "upload", str(write_png(tmp_path / "0.png"))], env
        )
        assert first.returncode == 0, first.stderr
        _rewrite_stored(hermetic_env, access_token="fake-revoked-token")
        done = run_cli(["--config", str(config), "upload", str(write_png(tmp_path / "a.png"))], env)
        assert done.returncode == 0, done.stderr
        new = _stored(hermetic_env, "access_token")
        assert new != "fake-revoked-token"
        assert _token_posts(base) == 1
        uploads = _requests(base, "/imgur/3/image")[1:]
        assert [(r["auth_sha256"], r["status"]) for r in uploads] == [
            (_sha("fake-revoked-token"), 403),
            (_sha(new), 200),
        ]


def test_a_token_the_credits_check_finds_rejected_is_refreshed_before_any_upload(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # First run: the free credits check goes first and meets the rejection, so the file is
    # sent once, with the refreshed token (README: a rejected credential costs one request).
    with sandbox_process(*MINTED_ONLY) as base:
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        config = _login(tmp_path, base, env)
        _rewrite_stored(hermetic_env, access_token="fake-revoked-token")
        done = run_cli(["--config", str(config), "upload", str(write_png(tmp_path / "a.png"))], env)
        assert done.returncode == 0, done.stderr
        new = _stored(hermetic_env, "access_token")
        assert new != "fake-revoked-token"
        assert _token_posts(base) == 1
        checks = _requests(base, "/imgur/3/credits")
        assert [(r["auth_sha256"], r["status"]) for r in checks] == [
            (_sha("fake-revoked-token"), 403),
            (_sha(new), 200),
        ]
        uploads = _requests(base, "/imgur/3/image")
        assert [(r["auth_sha256"], r["status"]) for r in uploads] == [(_sha(new), 200)]


def test_rejected_refresh_is_exit_3(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process() as base:
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        config = _login(tmp_path, base, env)
        _rewrite_stored(hermetic_env, refresh_token="bogus-refresh-token", expires_at=1.0)
        image = write_png(tmp_path / "a.png")
        done = run_cli(["--config", str(config), "upload", str(image)], env)
        assert done.returncode == 3
        lines = done.stderr.decode().splitlines()
        assert lines == [
            f"error: {image}: Imgur refused to refresh the access token: Refresh token "
            "doesn't exist or is invalid for the client",
            "hint: sign in again: uploader auth login sb",
        ]
        assert _requests(base, "/imgur/3/image") == []  # no upload with a dead token


def test_two_processes_refreshing_at_once_refresh_once(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # The stored token is expired and every new one lives an hour, so whichever process
    # comes second must take the first one's token, however the two interleave.
    with sandbox_process(*MINTED_ONLY) as base:
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        config = _login(tmp_path, base, env)
        old = _stored(hermetic_env, "access_token")
        _rewrite_stored(hermetic_env, expires_at=1.0)
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
        try:
            results = [proc.communicate(timeout=60) for proc in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate(timeout=10)
        assert [proc.returncode for proc in procs] == [0, 0], results
        assert _token_posts(base) == 1
        new = _stored(hermetic_env, "access_token")
        assert new != old
        used = [(r["auth_sha256"], r["status"]) for r in _requests(base, "/imgur/3/image")]
        # Both upload with the new token: the one that refreshed, and the other one, even
        # when it read the old token just before the new one was stored.
        assert used == [(_sha(new), 200), (_sha(new), 200)]


def test_world_readable_store_is_refused(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process() as base:
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        config = _login(tmp_path, base, env)
        store = _store(hermetic_env)
        store.chmod(0o644)
        for args in (
            ["upload", str(write_png(tmp_path / "a.png"))],
            ["auth", "status", "--offline"],
            ["auth", "logout", "sb"],
        ):
            done = run_cli(["--config", str(config), *args], hermetic_env)
            assert done.returncode == 3, (args, done.stderr)
            err = done.stderr.decode()
            assert err.splitlines()[:2] == [
                f"error: {store}: credential file is readable by others (mode 644); "
                "refusing to use it",
                f"hint: chmod 600 {store}",
            ], args
        assert _requests(base, "/imgur/3/image") == []
        assert "access_token" in store.read_text()  # logout refused to touch it either


def test_status_and_logout(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process() as base:
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        config = _login(tmp_path, base, env)
        status = run_cli(["--config", str(config), "auth", "status"], env)
        assert status.returncode == 0, status.stderr
        line = status.stdout.decode().strip()
        assert line.startswith(f"sb (imgur, {base}/imgur): token from credential store ")
        assert "; account sandbox-user; " in line
        assert re.search(r"; signed in \d+ s ago; ", line), line
        # The sandbox's tokens live an hour; a slow machine may show a minute or two less.
        assert re.search(r"; expires in (5[5-9]|60) min; ", line), line
        assert line.endswith("; verified: signed in as sandbox-user")
        out = run_cli(["--config", str(config), "auth", "logout", "sb"], env)
        assert out.returncode == 0, out.stderr
        said = out.stderr.decode()
        assert "imgur has no token revocation" in said
        assert "removed the local access token and refresh token for 'sb'" in said
        remaining = tomllib.loads(_store(hermetic_env).read_text()).get("profiles", {})
        assert "access_token" not in remaining.get("sb", {})
        assert "refresh_token" not in remaining.get("sb", {})
        after = run_cli(["--config", str(config), "auth", "status", "--offline"], env)
        assert after.returncode == 0, after.stderr
        assert after.stdout.decode().splitlines() == [
            f"sb (imgur, {base}/imgur): not signed in; anonymous uploads with the client id"
        ]
        again = run_cli(["--config", str(config), "auth", "logout", "sb"], env)
        assert again.returncode == 0, again.stderr
        assert "no stored token for 'sb'" in again.stderr.decode()


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
        assert _stored(hermetic_env, "access_token") == "personal-token-42"
        up = run_cli(
            ["--config", str(config), "upload", str(write_png(tmp_path / "a.png"))], hermetic_env
        )
        assert up.returncode == 0, up.stderr
        (sent,) = _requests(base, "/imgur/3/image")
        assert (sent["auth_scheme"], sent["auth_sha256"]) == ("Bearer", _sha("personal-token-42"))


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


def _follow_code_redirect(url: str) -> dict[str, str]:
    """The browser's part of a code flow; returns the redirect's parameters (the code)."""
    redirect = httpx.get(url)
    assert redirect.status_code == 302, redirect.text
    location = redirect.headers["location"]
    assert urlsplit(location).hostname == "127.0.0.1"
    assert httpx.get(location).status_code == 200
    return dict(parse_qsl(urlsplit(location).query))


def test_gyazo_login_stores_a_token(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process(*MINTED_ONLY) as base:
        config = _profile_config(tmp_path, base, "gyazo")
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        login = _start_login(config, env)
        assert "response_type=code" in login.url
        assert "state=" in login.url
        _follow_code_redirect(login.url)
        _, err = login.finish()
        assert login.proc.returncode == 0, err
        assert b"signed in to Gyazo" in err
        token = _stored(hermetic_env, "access_token")
        assert len(token) == 64
        status = run_cli(["--config", str(config), "auth", "status", "--offline"], env)
        assert status.returncode == 0, status.stderr
        assert "token from credential store" in status.stdout.decode()
        assert token.encode() not in status.stdout + status.stderr + err
        up = run_cli(
            ["--config", str(config), "-v", "upload", str(write_png(tmp_path / "g.png"))],
            hermetic_env,
        )
        assert up.returncode == 0, up.stderr
        assert b"sb: access_token from credential store" in up.stderr
        (sent,) = _requests(base, "/gyazo-upload/api/upload")
        assert (sent["auth_sha256"], sent["status"]) == (_sha(token), 200)


def test_mastodon_login_registers_once_uses_pkce_and_revokes(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process(*MINTED_ONLY) as base:
        config = _profile_config(tmp_path, base, "mastodon")
        for _ in range(2):
            login = _start_login(config, hermetic_env)
            assert "code_challenge_method=S256" in login.url
            _follow_code_redirect(login.url)
            _, err = login.finish()
            assert login.proc.returncode == 0, err
        data = tomllib.loads(_store(hermetic_env).read_text())
        assert list(data["apps"]) == [f"{base}/mastodon"]  # registered once per instance
        registrations = [
            r for r in _requests(base, "/mastodon/api/v1/apps") if r["method"] == "POST"
        ]
        assert len(registrations) == 1
        tokens = _requests(base, "/mastodon/oauth/token")
        # Two code exchanges, and before the second one the check of the stored app.
        assert [r["status"] for r in tokens] == [200, 200, 200]
        assert len(_requests(base, "/mastodon/oauth/revoke")) == 1  # the check's app token
        token = data["profiles"]["sb"]["access_token"]
        up = run_cli(
            ["--config", str(config), "upload", str(write_png(tmp_path / "m.png"))], hermetic_env
        )
        assert up.returncode == 0, up.stderr
        (sent,) = _requests(base, "/mastodon/api/v2/media")
        assert (sent["auth_scheme"], sent["auth_sha256"]) == ("Bearer", _sha(token))
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
        assert refused.stderr.decode().splitlines()[:2] == [
            "error: profile 'sb' has no Mastodon access token",
            "hint: run `uploader auth login sb`, or set UPLOADER_SB_ACCESS_TOKEN (on your "
            "server: Preferences > Development > New application, scopes write:media "
            "write:statuses read:accounts)",
        ]
        assert len(_requests(base, "/mastodon/api/v2/media")) == 1  # nothing more was sent


def test_mastodon_paste_flow_uses_oob(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process(*MINTED_ONLY) as base:
        config = _profile_config(tmp_path, base, "mastodon")
        login = _start_login(config, hermetic_env, "--paste")
        assert "redirect_uri=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob" in login.url
        assert "code_challenge_method=S256" in login.url
        page = httpx.get(login.url).text
        code = page.split('value="')[1].split('"')[0]
        _, err = login.finish(f"{code}\n".encode())
        assert login.proc.returncode == 0, err
        assert f"signed in to {base}/mastodon (profile 'sb')".encode() in err
        assert code.encode() not in err
        token = _stored(hermetic_env, "access_token")
        # Only minted tokens work here, so a working upload proves it is the sandbox's.
        up = run_cli(
            ["--config", str(config), "upload", str(write_png(tmp_path / "m.png"))], hermetic_env
        )
        assert up.returncode == 0, up.stderr
        (sent,) = _requests(base, "/mastodon/api/v2/media")
        assert (sent["auth_scheme"], sent["auth_sha256"]) == ("Bearer", _sha(token))
        assert sent["status"] in (200, 202)
        check = f"{base}/mastodon/api/v1/accounts/verify_credentials"
        assert httpx.get(check, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        fake = {"Authorization": "Bearer fake-never-minted"}
        assert httpx.get(check, headers=fake).status_code == 401  # the knob is in force


# `python -m uploader` with one addition: the PKCE verifier it makes is written to the file
# named by SPY_PKCE_FILE, so the test knows that secret too and can look for it.
PKCE_SPY = """
import os, sys
import uploader.auth.flows as flows
from uploader.__main__ import main

real = flows.pkce_pair

def spy():
    verifier, challenge = real()
    with open(os.environ["SPY_PKCE_FILE"], "w") as fh:
        fh.write(verifier)
    return verifier, challenge

flows.pkce_pair = spy
main()
"""


def _assert_no_secret(outputs: list[bytes], secrets: dict[str, str]) -> None:
    everything = b"\n".join(outputs)
    assert b"uploader: " in everything  # -vv logging was on: there was a chance to leak
    for name, value in secrets.items():
        assert len(value) >= 6, name  # a real value, not an empty match
        assert value.encode() not in everything, f"the {name} appears in the output"


def test_no_secret_reaches_the_output_at_debug_level_imgur(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process(*MINTED_ONLY) as base:
        config = write_config(tmp_path / "c.toml", base, client_id="app-1")
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        outputs: list[bytes] = []
        login = _start_login(config, env, verbose=("-vv",))
        _, fragment = _browser_token_flow(login.url)
        outputs += login.finish()
        assert login.proc.returncode == 0, outputs
        _rewrite_stored(hermetic_env, expires_at=1.0)  # the upload refreshes first
        for args in (
            ["upload", str(write_png(tmp_path / "a.png"))],
            ["auth", "status"],
        ):
            done = run_cli(["--config", str(config), "-vv", *args], env)
            assert done.returncode == 0, (args, done.stderr)
            outputs += [done.stdout, done.stderr]
        refreshed = _stored(hermetic_env, "access_token")
        assert refreshed != fragment["access_token"]
        pin_login = _start_login(config, env, "--paste", verbose=("-vv",))
        pin = httpx.get(pin_login.url).text.split('<code id="pin">')[1].split("</code>")[0]
        outputs += pin_login.finish(f"{pin}\n".encode())
        assert pin_login.proc.returncode == 0, outputs[-1]
        from_pin = _stored(hermetic_env, "access_token")
        done = run_cli(["--config", str(config), "-vv", "auth", "logout", "sb"], env)
        assert done.returncode == 0, done.stderr
        outputs += [done.stdout, done.stderr]
        _assert_no_secret(
            outputs,
            {
                "client secret": SECRET,
                "first access token": fragment["access_token"],
                "refresh token": fragment["refresh_token"],
                "refreshed access token": refreshed,
                "PIN": pin,
                "access token from the PIN": from_pin,
            },
        )


def test_no_secret_reaches_the_output_at_debug_level_mastodon(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    import base64

    with sandbox_process(*MINTED_ONLY) as base:
        config = _profile_config(tmp_path, base, "mastodon")
        spy_file = tmp_path / "verifier"
        env = {**hermetic_env, "SPY_PKCE_FILE": str(spy_file)}
        outputs: list[bytes] = []
        login = _start_login(config, env, verbose=("-vv",), cli=(sys.executable, "-c", PKCE_SPY))
        code = _follow_code_redirect(login.url)["code"]
        outputs += login.finish()
        assert login.proc.returncode == 0, outputs
        verifier = spy_file.read_text()
        challenge = dict(parse_qsl(urlsplit(login.url).query))["code_challenge"]
        digest = hashlib.sha256(verifier.encode()).digest()
        assert base64.urlsafe_b64encode(digest).decode().rstrip("=") == challenge
        data = tomllib.loads(_store(hermetic_env).read_text())
        client_secret = data["apps"][f"{base}/mastodon"]["client_secret"]
        token = data["profiles"]["sb"]["access_token"]
        for args in (
            ["upload", str(write_png(tmp_path / "m.png"))],
            ["auth", "status"],
            ["auth", "logout", "sb"],
        ):
            done = run_cli(["--config", str(config), "-vv", *args], hermetic_env)
            assert done.returncode == 0, (args, done.stderr)
            outputs += [done.stdout, done.stderr]
        assert b"verified: signed in as" in b"".join(outputs)
        _assert_no_secret(
            outputs,
            {
                "client secret": client_secret,
                "access token": token,
                "PKCE verifier": verifier,
                "authorization code": code,
            },
        )


def test_no_secret_reaches_the_output_at_debug_level_gyazo(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process(*MINTED_ONLY) as base:
        config = _profile_config(tmp_path, base, "gyazo")
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        login = _start_login(config, env, verbose=("-vv",))
        code = _follow_code_redirect(login.url)["code"]
        outputs = list(login.finish())
        assert login.proc.returncode == 0, outputs
        token = _stored(hermetic_env, "access_token")
        for args in (["upload", str(write_png(tmp_path / "g.png"))], ["auth", "status"]):
            done = run_cli(["--config", str(config), "-vv", *args], env)
            assert done.returncode == 0, (args, done.stderr)
            outputs += [done.stdout, done.stderr]
        _assert_no_secret(
            outputs, {"client secret": SECRET, "access token": token, "authorization code": code}
        )


def test_mastodon_login_after_logout_on_a_server_that_deletes_the_app(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    """snac2 deletes the app on revoke: `auth login` registers it again, once, and says so."""
    with sandbox_process(*MINTED_ONLY, "mastodon_delete_app_on_revoke=true") as base:
        config = _profile_config(tmp_path, base, "mastodon")
        errs = []
        for round_ in range(3):
            login = _start_login(config, hermetic_env)
            _follow_code_redirect(login.url)
            _, err = login.finish()
            assert login.proc.returncode == 0, err
            errs.append(err.decode())
            up = run_cli(
                ["--config", str(config), "upload", str(write_png(tmp_path / f"{round_}.png"))],
                hermetic_env,
            )
            assert up.returncode == 0, up.stderr
            out = run_cli(["--config", str(config), "auth", "logout", "sb"], hermetic_env)
            assert out.returncode == 0, out.stderr
        notice = (
            f"uploader's app is no longer known to {base}/mastodon (some servers delete it "
            "on sign-out or after a while): registered it again before signing in"
        )
        assert [notice in err for err in errs] == [False, True, True]
        registrations = [
            r for r in _requests(base, "/mastodon/api/v1/apps") if r["method"] == "POST"
        ]
        assert len(registrations) == 3
        assert len(_requests(base, "/mastodon/api/v2/media")) == 3


def test_login_and_logout_without_a_name_take_the_default_profile(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    """design.md: `auth login|logout|status [NAME]`: without NAME, the default profile."""
    with sandbox_process("imgur_authorize_error_1024=true") as base:
        config = write_config(tmp_path / "c.toml", base)  # default_provider = "sb"
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": SECRET}
        login = run_cli(["--config", str(config), "auth", "login", "--paste"], env)
        assert login.returncode == 3, login.stderr
        err = login.stderr.decode()
        assert err.startswith('error: Imgur\'s sign-in page fails with "Error (1024)"'), err
        assert _requests(base, "/imgur/oauth2/authorize")  # the default profile's server
        stored = run_cli(["--config", str(config), "auth", "set-token", "sb"], env, stdin=b"t-1\n")
        assert stored.returncode == 0, stored.stderr
        assert _stored(hermetic_env, "access_token") == "t-1"
        out = run_cli(["--config", str(config), "auth", "logout"], env)
        assert out.returncode == 0, out.stderr
        assert b"removed the local access token for 'sb'\n" in out.stderr
        profiles = tomllib.loads(_store(hermetic_env).read_text()).get("profiles", {})
        assert "access_token" not in profiles.get("sb", {})
