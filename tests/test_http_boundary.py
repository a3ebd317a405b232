"""The one HTTP boundary: every request of the tool goes through the session, and every
foreign failure comes out of it in one shape.

Sign-in, refresh, ``auth status``'s check and ``auth logout``'s revocation are driven
through their real entry points against a loopback server that records what it receives:
each request carries the client's User-Agent (so it went through the shared client and
session), a refused connection is the same NetworkError as for an upload, and a 200 whose
body is not JSON is the same UnreadableAnswerError on every path.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.canned import Canned, canned_server
from tests.support.e2e import get_json, run_cli, sandbox_process
from tests.support.images import write_png
from uploader.auth.credentials import Credential, store_for
from uploader.commands import login as login_command
from uploader.commands.runtime import Runtime, open_provider
from uploader.config.settings import Config, parse_config
from uploader.errors import ExitCode, NetworkError, UnreadableAnswerError, UploaderError
from uploader.http.client import USER_AGENT, Timeouts, build_client
from uploader.http.session import ApiSession
from uploader.imaging.inspect import inspect_path
from uploader.models import UploadOptions
from uploader.providers.imgur_auth import refresh_if_due
from uploader.ratelimit.limiter import LimitPolicy

HTML = Canned(200, b"<html><title>Oops</title>down</html>", (("Content-Type", "text/html"),))
NOT_JSON = "a body that is not JSON (text/html page titled 'Oops')"
TOKENS = json.dumps(
    {
        "access_token": "fake-new-access",
        "refresh_token": "fake-new-refresh",
        "expires_in": 3600,
        "account_username": "someone",
    }
).encode()


def _free_port() -> int:
    """A port that surely has no listener: bound by us, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(tmp_path: Path, base: str, kind: str = "imgur") -> Config:
    return parse_config(
        f'[providers.x]\nkind = "{kind}"\nbase_url = "{base}"\n', tmp_path / "config.toml"
    )


def _env(hermetic_env: dict[str, str], **extra: str) -> dict[str, str]:
    return {
        **hermetic_env,
        "UPLOADER_X_CLIENT_ID": "fake-client-id",
        "UPLOADER_X_CLIENT_SECRET": "fake-client-secret",
        **extra,
    }


# The four sign-in and account requests, each through its real entry point.


def _pin_login(config: Config, env: dict[str, str]) -> str:
    return login_command.login(
        config,
        "x",
        env,
        say=lambda _line: None,
        ask=lambda _label, _secret: "fake-pin-1234",
        open_browser=False,
        paste=True,
        timeout=5,
    )


def _refresh(config: Config, env: dict[str, str]) -> Any:
    store_for(env).update("x", access_token="fake-old", refresh_token="fake-refresh")
    credential = Credential("Bearer", "fake-old", "credential store", refreshable=True)
    with build_client(Timeouts()) as http:
        return refresh_if_due(
            config.profile("x"), env, credential, http, lambda: 1000.0, force=True
        )


def _verify(config: Config, env: dict[str, str]) -> str:
    return login_command.verify(
        config, config.profile("x"), {**env, "UPLOADER_X_ACCESS_TOKEN": "fake-token"}
    )


def _revoke(config: Config, env: dict[str, str]) -> str:
    base = config.profile("x").base_url
    store_for(env).set_app(base, client_id="fake-app", client_secret="fake-app-secret")
    return login_command.revoke(config, config.profile("x"), "fake-token", env)


def _upload(config: Config, env: dict[str, str], tmp_path: Path) -> Any:
    image = inspect_path(str(write_png(tmp_path / "a.png")))
    _, provider, http = open_provider(config, "x", Runtime(env=env), policy=LimitPolicy())
    with http:
        return provider.upload(image, UploadOptions())


def test_sign_in_token_exchange_goes_through_the_session(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    env = _env(hermetic_env)
    with canned_server(Canned(200, TOKENS)) as (base, recorder):
        message = _pin_login(_config(tmp_path, base), env)
    assert message == "signed in to Imgur as someone (profile 'x')"
    # The sign-in page is looked at first (Imgur's "Error (1024)"), then the PIN exchanged.
    (probe, (method, path, headers, length)) = recorder.requests
    assert (probe[0], probe[1].split("?")[0]) == ("GET", "/oauth2/authorize")
    assert (method, path) == ("POST", "/oauth2/token")
    assert headers["user-agent"] == USER_AGENT
    assert headers["accept"] == "application/json"
    assert length > 0
    assert store_for(env).get("x")["access_token"] == "fake-new-access"


def test_imgur_refresh_goes_through_the_session(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    env = _env(hermetic_env)
    with canned_server(Canned(200, TOKENS)) as (base, recorder):
        fresh = _refresh(_config(tmp_path, base), env)
    assert fresh.secret == "fake-new-access"
    ((method, path, headers, _),) = recorder.requests
    assert (method, path) == ("POST", "/oauth2/token")
    assert headers["user-agent"] == USER_AGENT


def test_status_check_goes_through_the_session(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    answer = json.dumps({"data": {"url": "someone"}, "success": True}).encode()
    with canned_server(Canned(200, answer)) as (base, recorder):
        line = _verify(_config(tmp_path, base), _env(hermetic_env))
    assert line == "verified: signed in as someone"
    ((method, path, headers, _),) = recorder.requests
    assert (method, path) == ("GET", "/3/account/me")
    assert headers["user-agent"] == USER_AGENT
    assert headers["authorization"] == "Bearer fake-token"


def test_logout_revocation_goes_through_the_session(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with canned_server(Canned(200, b"{}")) as (base, recorder):
        line = _revoke(_config(tmp_path, base, "mastodon"), _env(hermetic_env))
    assert line == f"revoked the token on {base}"
    ((method, path, headers, length),) = recorder.requests
    assert (method, path) == ("POST", "/oauth/revoke")
    assert headers["user-agent"] == USER_AGENT
    assert length == len("client_id=fake-app&client_secret=fake-app-secret&token=fake-token")


@pytest.mark.parametrize("path", ["token", "refresh", "verify", "revoke", "upload"])
def test_a_refused_connection_is_the_same_network_error_everywhere(
    tmp_path: Path, hermetic_env: dict[str, str], path: str
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(hermetic_env, UPLOADER_X_ACCESS_TOKEN="fake-token")
    kind = "mastodon" if path == "revoke" else "imgur"
    config = _config(tmp_path, base, kind)
    calls = {
        "token": lambda: _pin_login(config, env),
        "refresh": lambda: _refresh(config, env),
        "verify": lambda: _verify(config, env),
        "revoke": lambda: _revoke(config, env),
        "upload": lambda: _upload(config, env, tmp_path),
    }
    with pytest.raises(UploaderError) as info:
        calls[path]()
    error = info.value
    assert type(error) is NetworkError
    assert error.message == f"connection refused by 127.0.0.1:{port}"
    assert error.hint == "nothing listens there: check that the server runs and base_url's port"
    assert not error.sent
    assert type(error.__cause__).__name__ == "ConnectError"  # chained, from httpx


@pytest.mark.parametrize(
    ("path", "kind", "message"),
    [
        ("upload", "imgur", f"Imgur answered the upload with HTTP 200 and {NOT_JSON}"),
        ("upload", "gyazo", f"Gyazo answered the upload with HTTP 200 and {NOT_JSON}"),
        ("upload", "mastodon", f"Mastodon answered the upload with HTTP 200 and {NOT_JSON}"),
        ("lookup", "imgur", f"Imgur answered the lookup with HTTP 200 and {NOT_JSON}"),
        ("lookup", "gyazo", f"Gyazo answered the lookup with HTTP 200 and {NOT_JSON}"),
        ("lookup", "mastodon", f"Mastodon answered the lookup with HTTP 200 and {NOT_JSON}"),
        ("token", "imgur", f"Imgur answered the PIN exchange with HTTP 200 and {NOT_JSON}"),
        ("refresh", "imgur", f"Imgur answered the token refresh with HTTP 200 and {NOT_JSON}"),
        ("verify", "imgur", f"Imgur answered the token check with HTTP 200 and {NOT_JSON}"),
    ],
)
def test_a_body_that_is_not_json_is_one_error_shape_on_every_path(
    tmp_path: Path, hermetic_env: dict[str, str], path: str, kind: str, message: str
) -> None:
    env = _env(hermetic_env, UPLOADER_X_ACCESS_TOKEN="fake-token")
    with canned_server(HTML) as (base, _):
        config = _config(tmp_path, base, kind)
        if kind == "gyazo":  # uploads go to their own host
            config = parse_config(
                f'[providers.x]\nkind = "gyazo"\nbase_url = "{base}"\nupload_url = "{base}"\n',
                tmp_path / "config.toml",
            )

        def lookup() -> Any:
            _, provider, http = open_provider(
                config, "x", Runtime(env=env, use_cache=False), policy=LimitPolicy()
            )
            with http:
                return provider.info("123")

        calls = {
            "upload": lambda: _upload(config, env, tmp_path),
            "lookup": lookup,
            "token": lambda: _pin_login(config, env),
            "refresh": lambda: _refresh(config, env),
            "verify": lambda: _verify(config, env),
        }
        with pytest.raises(UploaderError) as info:
            calls[path]()
    error = info.value
    assert type(error) is UnreadableAnswerError
    assert error.message == message
    assert error.exit_code == ExitCode.PROVIDER
    assert error.status == 200
    assert isinstance(error.__cause__, json.JSONDecodeError)  # chained, not swallowed


def test_the_debug_log_masks_a_password_in_the_url(caplog: pytest.LogCaptureFixture) -> None:
    with canned_server(Canned(200, b"{}")) as (base, recorder):
        url = base.replace("http://", "http://someone:fake-url-password@") + "/x?page=1"
        with build_client(Timeouts()) as http, caplog.at_level("DEBUG", "uploader.http"):
            ApiSession(http).request("GET", url)
    assert recorder.requests[0][2]["user-agent"] == USER_AGENT
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == "GET " + base.replace("http://", "http://****@") + "/x?page=1"
    assert lines[1] == "-> HTTP 200 (2 bytes)"
    assert "fake-url-password" not in caplog.text


def test_an_unreadable_gyazo_upload_answer_is_found_not_sent_again(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # The same UnreadableAnswerError as Imgur's: the pipeline treats it as a lost answer,
    # and Gyazo's recent uploads show the image was created.
    with sandbox_process("fault_bad_json=1.0") as base:
        config = tmp_path / "c.toml"
        config.write_text(
            f'[providers.gz]\nkind = "gyazo"\nbase_url = "{base}/gyazo"\n'
            f'upload_url = "{base}/gyazo-upload"\n'
        )
        image = write_png(tmp_path / "a.png")
        env = {**hermetic_env, "UPLOADER_GZ_ACCESS_TOKEN": "fake-gz-token"}
        done = run_cli(["--config", str(config), "upload", "-f", "json", str(image)], env)
        stats = get_json(f"{base}/_sandbox/stats")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.decode().splitlines()
    result = json.loads(line)
    assert result["status"] == "uploaded"
    assert result["url"] == f"{base}/gyazo/i/{result['id']}.png"
    assert result["recovered"] == "found among recent uploads after a lost answer"
    assert stats["uploads_stored"] == 1


def test_no_cookie_a_server_sets_is_sent_back() -> None:
    # An API client has no cookie session (curl without -b keeps none either): a tracking
    # cookie set on one answer must not follow the user to the next request.
    set_cookie = Canned(
        200,
        b"{}",
        (("Content-Type", "application/json"), ("Set-Cookie", "track=abc123; Path=/")),
    )
    with canned_server(set_cookie) as (base, recorder):
        client = build_client(Timeouts(), tls=False)
        try:
            for _ in range(2):
                assert client.get(f"{base}/3/account").headers["set-cookie"].startswith("track")
        finally:
            client.close()
    assert len(recorder.requests) == 2
    assert all("cookie" not in headers for _m, _p, headers, _n in recorder.requests)
    assert not list(client.cookies.jar)


@pytest.mark.parametrize(
    "location", ["javascript:alert(1)", "http://[::1/x", "http://exa mple.org/", "\x7f:"]
)
def test_a_redirect_to_a_location_httpx_cannot_parse_is_an_answer_not_a_crash(
    location: str,
) -> None:
    """No redirect is followed: httpx must not even build one (it raised InvalidURL, no
    HTTPError, on such a Location: an internal error for any provider)."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": location}, text="moved")

    with build_client(Timeouts(), transport=httpx.MockTransport(handler), tls=False) as http:
        answer = http.post("http://127.0.0.1:1/upload", content=b"x")
    assert answer.status_code == 302
    assert answer.headers["location"] == location
    assert answer.text == "moved"
