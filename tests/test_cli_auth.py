"""``uploader auth login|set-token|status|logout`` in-process against the sandbox."""

from __future__ import annotations

import hashlib
import re
import threading
import tomllib
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.support.cli import invoke, lines, posts, sandbox
from tests.support.e2e import write_config
from tests.support.images import write_png
from uploader.errors import ExitCode

SECRET = "sandbox-secret"


def _stored(home_env: dict[str, str]) -> dict[str, object]:
    store = Path(home_env["XDG_CONFIG_HOME"]) / "uploader" / "credentials.toml"
    profiles: dict[str, object] = tomllib.loads(store.read_text()).get("profiles", {})
    return profiles


def test_set_token_status_upload_and_logout(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox() as server:
        base = server.base_url
        config = str(write_config(tmp_path / "c.toml", base, client_id="app-1"))
        before = invoke(["--config", config, "auth", "status", "--offline"])
        assert before.exit_code == 0, before.stderr
        assert lines(before.stdout) == [
            f"sb (imgur, {base}/imgur): not signed in; anonymous uploads with the client id"
        ]
        stored = invoke(["--config", config, "auth", "set-token", "sb"], stdin="personal-42\n")
        assert stored.exit_code == 0, stored.stderr
        assert stored.stdout == ""
        assert "personal-42" not in stored.stderr
        assert _stored(hermetic_env)["sb"] == {"access_token": "personal-42"} | {
            k: v for k, v in _stored(hermetic_env)["sb"].items() if k != "access_token"
        }
        status = invoke(["--config", config, "auth", "status"])
        assert status.exit_code == 0, status.stderr
        (line,) = lines(status.stdout)
        assert line.startswith(f"sb (imgur, {base}/imgur): token from credential store")
        assert "; does not expire; " in line
        assert re.search(r"; verified: signed in as user-[0-9a-f]+$", line), line
        assert "personal-42" not in status.stdout + status.stderr
        up = invoke(["--config", config, "upload", str(write_png(tmp_path / "a.png"))])
        assert up.exit_code == 0, up.stderr
        (sent,) = posts(server, "/imgur/3/image")
        assert sent["auth_scheme"] == "Bearer"
        assert sent["auth_sha256"] == hashlib.sha256(b"personal-42").hexdigest()
        out = invoke(["--config", config, "auth", "logout", "sb"])
        assert out.exit_code == 0, out.stderr
        assert out.stdout == ""
        assert "imgur has no token revocation" in out.stderr
        assert "removed the local access token" in out.stderr
        assert "access_token" not in _stored(hermetic_env).get("sb", {})
        again = invoke(["-q", "--config", config, "auth", "logout", "sb"])
        assert (again.exit_code, again.stderr) == (0, "")


def test_status_with_the_starter_placeholder_promises_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", "http://127.0.0.1:9", client_id="your-client-id")
    done = invoke(["--config", str(config), "auth", "status", "--offline"])
    assert done.exit_code == 0, done.stderr
    assert lines(done.stdout) == [
        "sb (imgur, http://127.0.0.1:9/imgur): not signed in; client_id is still the starter "
        "config's placeholder"
    ]


def test_login_through_the_browser_stores_the_minted_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    browsed: list[str] = []
    answers: list[int] = []

    def browser(url: str) -> None:
        """What a browser does with the address: authorize, load the callback page, post
        its fragment back to the listener."""
        redirect = httpx.get(url)
        location = urlsplit(redirect.headers["location"])
        origin = f"{location.scheme}://{location.netloc}"
        httpx.get(origin + location.path)
        body = "&".join(f"{k}={v}" for k, v in parse_qsl(location.fragment))
        answers.append(httpx.post(f"{origin}/fragment", content=body).status_code)

    def open_browser(url: str, new: int = 0) -> bool:
        browsed.append(url)
        threading.Thread(target=browser, args=(url,), daemon=True).start()
        return True

    monkeypatch.setattr("webbrowser.open", open_browser)
    with sandbox(imgur_tokens=("fake-unlisted-token",)) as server:
        config = str(write_config(tmp_path / "c.toml", server.base_url, client_id="app-1"))
        env = {"UPLOADER_SB_CLIENT_SECRET": SECRET, "DISPLAY": ":0"}
        done = invoke(["--config", config, "auth", "login", "sb", "--timeout", "30"], env=env)
        assert done.exit_code == 0, done.stderr
        (url,) = browsed
        assert "response_type=token" in url
        assert answers == [200]
        err = lines(done.stderr)
        assert err[:2] == ["open this address to sign in:", url]
        assert "signed in to Imgur as sandbox-user" in err[-1]
        token = str(_stored(hermetic_env)["sb"]["access_token"])  # type: ignore[index]
        assert token not in done.stdout + done.stderr
        up = invoke(["--config", config, "upload", str(write_png(tmp_path / "a.png"))])
        assert up.exit_code == 0, up.stderr  # the sandbox accepts only tokens it minted


def test_login_with_nothing_to_read_at_a_prompt_is_a_usage_error(tmp_path: Path) -> None:
    with sandbox() as server:
        config = str(write_config(tmp_path / "c.toml", server.base_url, client_id="app-1"))
        env = {"UPLOADER_SB_CLIENT_SECRET": SECRET}
        pin = invoke(["--config", config, "auth", "login", "sb", "--paste"], env=env, stdin="")
        no_secret = invoke(["--config", config, "auth", "login", "sb", "--paste"], stdin="")
        piped = invoke(["--config", config, "auth", "login", "sb", "--paste"], stdin=f"{SECRET}\n")
    assert pin.exit_code == ExitCode.USAGE
    assert lines(pin.stderr)[-2:] == [
        # click leaves its prompt's line open at the end of input
        "PIN shown by Imgur: error: standard input ended before the answer was given",
        "hint: run the command in a terminal to answer its prompt",
    ]
    assert no_secret.exit_code == ExitCode.USAGE
    assert lines(no_secret.stderr)[-3:] == [
        "Imgur client secret: (reading a line from standard input)",
        "error: standard input ended before the Imgur client secret was given",
        "hint: pipe it in, or run the command in a terminal",
    ]
    assert piped.exit_code == ExitCode.USAGE  # the secret was read; then the PIN was missing
    err = lines(piped.stderr)
    assert err[0] == "Imgur client secret: (reading a line from standard input)"
    assert err[-2].endswith("error: standard input ended before the answer was given")
    assert SECRET not in piped.stderr
