"""Real servers (issue 11, section 6): apps the server forgot, proxies, Imgur's closed doors."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

from tests.support.clock import FakeTime
from uploader.auth import flows
from uploader.config.settings import parse_config
from uploader.errors import AuthError
from uploader.http.session import ApiSession
from uploader.providers.mastodon_auth import OAUTH
from uploader.sandbox import Sandbox, SandboxConfig

CHECK = "checking uploader's app"


class Signer:
    """``flows.mastodon`` in paste mode against ``base``: the pasted code is read from the
    server's out-of-band page, as a user would copy it; apps are kept as the store would."""

    def __init__(self, tmp_path: Path, base: str, http: httpx.Client) -> None:
        self.profile = parse_config(
            f'[providers.m]\nkind = "mastodon"\nbase_url = "{base}"\n', tmp_path / "c.toml"
        ).profile("m")
        self.http = http
        self.apps: dict[str, dict[str, object]] = {}
        self.said: list[str] = []
        self.saved: dict[str, object] = {}
        self.shown: list[str] = []

    def ask(self, _label: str, _secret: bool) -> str:
        page = self.http.get(self.shown[-1]).text
        return page.split('value="')[1].split('"')[0] if 'value="' in page else "no-code"

    def login(self) -> str:
        ctx = flows.LoginContext(
            profile=self.profile,
            endpoints=OAUTH,
            session=ApiSession(self.http),
            show_url=self.shown.append,
            ask=self.ask,
            secret=lambda _key: None,
            save=lambda **changes: self.saved.update(changes),
            paste=True,
            apps=(self.apps.get, lambda base, **app: self.apps.__setitem__(base, app)),
            say=self.said.append,
        )
        return flows.mastodon(ctx)

    def logout(self) -> None:
        app = self.apps[self.profile.base_url]
        form = {**app, "token": self.saved["access_token"]}
        form.pop("scopes", None)
        answer = self.http.post(f"{self.profile.base_url}/oauth/revoke", data=form)
        assert answer.status_code == 200


def _registrations(sandbox: Sandbox) -> int:
    return sum(
        1
        for r in sandbox.requests()
        if r["path"] == "/mastodon/api/v1/apps" and r["method"] == "POST"
    )


def _works(http: httpx.Client, base: str, token: object) -> bool:
    check = f"{base}/api/v1/accounts/verify_credentials"
    return http.get(check, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_an_app_deleted_on_revoke_is_registered_again_once(tmp_path: Path) -> None:
    knobs = SandboxConfig(mastodon_delete_app_on_revoke=True, mastodon_tokens=("x",))
    with Sandbox(knobs) as sandbox, httpx.Client() as http:
        base = f"{sandbox.base_url}/mastodon"
        signer = Signer(tmp_path, base, http)
        assert signer.login() == f"signed in to {base} (profile 'm')"
        assert (_registrations(sandbox), signer.said) == (1, [])
        first = signer.apps[base]["client_id"]
        for round_ in (2, 3):  # sign out (the server drops the app), sign in: every time
            signer.logout()
            assert not _works(http, base, signer.saved["access_token"])
            assert signer.login() == f"signed in to {base} (profile 'm')"
            assert _registrations(sandbox) == round_
            assert signer.said[-1] == (
                f"uploader's app is no longer known to {base} (some servers delete it on "
                "sign-out or after a while): registered it again before signing in"
            )
            assert _works(http, base, signer.saved["access_token"])
        assert len(signer.said) == 2
        assert signer.apps[base]["client_id"] != first


def test_an_app_the_server_still_knows_is_kept(tmp_path: Path) -> None:
    with Sandbox(SandboxConfig(mastodon_tokens=("x",))) as sandbox, httpx.Client() as http:
        base = f"{sandbox.base_url}/mastodon"
        signer = Signer(tmp_path, base, http)
        signer.login()
        signer.logout()  # Mastodon keeps the app
        signer.login()
        assert (_registrations(sandbox), signer.said) == (1, [])
        assert _works(http, base, signer.saved["access_token"])
        # The check's app token (client_credentials) was revoked at once.
        checks = [r for r in sandbox.requests() if r["path"] == "/mastodon/oauth/revoke"]
        assert len(checks) == 2  # one by the check, one by the test's logout


def test_a_tokenless_app_forgotten_after_a_day_is_registered_again(tmp_path: Path) -> None:
    fake = FakeTime(1_800_000_000.0)
    knobs = SandboxConfig(mastodon_tokenless_app_lifetime=86400.0, mastodon_tokens=("x",))
    with Sandbox(knobs, clock=fake.clock) as sandbox, httpx.Client() as http:
        base = f"{sandbox.base_url}/mastodon"
        signer = Signer(tmp_path, base, http)
        signer.login()
        signer.logout()  # no valid token left: Mastodon 4.2.0-4.2.8 deletes it a day later
        fake.now += 86399
        signer.login()
        assert _registrations(sandbox) == 1  # still known: kept
        signer.logout()
        fake.now += 86400
        signer.login()
        assert _registrations(sandbox) == 2
        assert "registered it again before signing in" in signer.said[-1]
        assert _works(http, base, signer.saved["access_token"])


def _scripted(exchanges: list[int]) -> tuple[httpx.Client, list[dict[str, str]]]:
    """A server whose app check passes and whose code exchanges answer ``exchanges`` in
    turn (401: invalid_client)."""
    seen: list[dict[str, str]] = []
    left = list(exchanges)

    def handler(request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        seen.append({"path": request.url.path, **form})
        if request.url.path == "/api/v1/apps":
            number = sum(1 for s in seen if s["path"] == "/api/v1/apps")
            return httpx.Response(200, json={"client_id": f"app{number}", "client_secret": "s"})
        if request.url.path == "/oauth/revoke":
            return httpx.Response(200, json={})
        if form.get("grant_type") == "client_credentials":
            return httpx.Response(200, json={"access_token": "app-token", "token_type": "Bearer"})
        if request.url.path == "/oauth/token" and left.pop(0) == 401:
            return httpx.Response(401, json={"error": "invalid_client", "error_description": "x"})
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "user-token", "scope": "read"})
        return httpx.Response(200, text='<input value="code-1">')

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def _exchanges(seen: list[dict[str, str]]) -> list[str]:
    return [s["client_id"] for s in seen if s.get("grant_type") == "authorization_code"]


def test_a_code_exchange_rejecting_the_client_registers_again_and_signs_in(
    tmp_path: Path,
) -> None:
    http, seen = _scripted([401, 200])
    with http:
        signer = Signer(tmp_path, "http://127.0.0.1:9", http)
        signer.apps["http://127.0.0.1:9"] = {"client_id": "app0", "client_secret": "s"}
        assert signer.login() == "signed in to http://127.0.0.1:9 (profile 'm')"
    assert _exchanges(seen) == ["app0", "app1"]
    assert signer.saved["access_token"] == "user-token"
    assert signer.apps["http://127.0.0.1:9"]["client_id"] == "app1"
    assert signer.said == [
        "uploader's app is no longer known to http://127.0.0.1:9 (some servers delete it "
        "on sign-out or after a while): registered it again at the code exchange; sign in again"
    ]
    assert len(signer.shown) == 2  # the user was shown the new app's address


@pytest.mark.parametrize("stored", [True, False])
def test_the_client_is_registered_again_at_most_once(tmp_path: Path, stored: bool) -> None:
    http, seen = _scripted([401, 401, 401])
    with http:
        signer = Signer(tmp_path, "http://127.0.0.1:9", http)
        if stored:
            signer.apps["http://127.0.0.1:9"] = {"client_id": "app0", "client_secret": "s"}
        with pytest.raises(AuthError, match="invalid_client"):
            signer.login()
    assert _exchanges(seen) == (["app0", "app1"] if stored else ["app1"])
    assert sum(1 for s in seen if s["path"] == "/api/v1/apps") == 1
    assert signer.saved == {}


# -- proxies ------------------------------------------------------------------------------

DEAD = "http://127.0.0.1:9"  # nothing listens there: a request sent to it would fail


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("https://api.imgur.com/3/image", {"HTTPS_PROXY": "proxy.corp:3128"}, "HTTPS_PROXY"),
        (
            "https://api.imgur.com/3/image",
            {"https_proxy": "http://a:1", "HTTPS_PROXY": "b"},
            "https_proxy",
        ),
        ("https://api.imgur.com/3/image", {"ALL_PROXY": "socks5://p:1080"}, "ALL_PROXY"),
        ("https://api.imgur.com/3/image", {"HTTP_PROXY": "http://p:1"}, None),
        ("http://files.example/x", {"HTTP_PROXY": "http://p:1"}, None),  # httpoxy
        ("http://files.example/x", {"http_proxy": "http://p:1"}, "http_proxy"),
        ("https://api.imgur.com/", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "imgur.com"}, None),
        ("https://api.imgur.com/", {"HTTPS_PROXY": "http://p:1", "no_proxy": ".imgur.com"}, None),
        ("https://api.imgur.com/", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, None),
        (
            "https://notimgur.com/",
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "imgur.com"},
            "HTTPS_PROXY",
        ),
        ("https://10.1.2.3/", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, None),
        (
            "https://11.1.2.3/",
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"},
            "HTTPS_PROXY",
        ),
        (
            "https://m.example:8443/",
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "m.example:443"},
            "HTTPS_PROXY",
        ),
        (
            "https://m.example:8443/",
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "m.example:8443"},
            None,
        ),
        # Loopback is never proxied, whatever the variables say.
        ("http://127.0.0.1:5000/imgur", {"http_proxy": DEAD, "ALL_PROXY": DEAD}, None),
        ("https://127.0.0.2/", {"HTTPS_PROXY": DEAD}, None),
        ("http://[::1]:5000/x", {"http_proxy": DEAD, "all_proxy": DEAD}, None),
        ("https://localhost/", {"HTTPS_PROXY": DEAD}, None),
    ],
)
def test_which_requests_go_through_a_proxy(
    url: str, env: dict[str, str], expected: str | None
) -> None:
    from uploader.http.proxy import proxy_for

    chosen = proxy_for(url, env)
    assert (chosen[0] if chosen else None) == expected
    if chosen is not None:
        assert chosen[1].split("://", 1)[0] in ("http", "socks5")


@pytest.mark.parametrize("value", ["ftp://p:1", "http://", "http://p:notaport"])
def test_an_unusable_proxy_is_a_configuration_error_that_hides_the_value(value: str) -> None:
    from uploader.errors import ConfigError
    from uploader.http.client import Timeouts, build_client

    env = {"HTTPS_PROXY": value + "/pw-secret"}
    with pytest.raises(ConfigError) as info, build_client(Timeouts(), env=env) as http:
        http.get("https://api.imgur.example/3/credits")
    assert info.value.exit_code == 2
    assert info.value.message == "HTTPS_PROXY is not a usable proxy URL"
    assert "pw-secret" not in str(info.value.hint)


class _Proxy:
    """A forward proxy on 127.0.0.1 that records each request line: an absolute-form GET is
    answered itself; a CONNECT is refused (502), which is all an offline test can see."""

    def __init__(self) -> None:
        import http.server
        import threading

        seen: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.requestline)
                body = b"answered by the proxy"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_CONNECT(self) -> None:
                seen.append(self.requestline)
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.seen = seen
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Proxy:
        self.thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def test_requests_really_go_through_the_proxy_and_loopback_does_not() -> None:
    from uploader.http.client import Timeouts, build_client

    with _Proxy() as proxy, Sandbox() as sandbox:
        env = {"http_proxy": proxy.url, "HTTPS_PROXY": proxy.url}
        with build_client(Timeouts(connect=5, read=5, write=5, pool=5), env=env) as http:
            answer = http.get("http://files.example/a.png")
            assert (answer.status_code, answer.text) == (200, "answered by the proxy")
            with pytest.raises(httpx.ProxyError):
                http.get("https://api.imgur.example/3/credits")
            stats = http.get(f"{sandbox.base_url}/_sandbox/stats")  # loopback: direct
            assert stats.status_code == 200
        assert proxy.seen == [
            "GET http://files.example/a.png HTTP/1.1",
            "CONNECT api.imgur.example:443 HTTP/1.1",
        ]


def test_the_loopback_http_client_reads_no_proxy_or_ca_variable() -> None:
    from uploader.http.client import Timeouts, build_client

    broken = {"HTTPS_PROXY": "ftp://x", "http_proxy": "ftp://x", "SSL_CERT_FILE": "/nonexistent"}
    with Sandbox() as sandbox, build_client(Timeouts(), tls=False, env=broken) as http:
        assert http.get(f"{sandbox.base_url}/_sandbox/stats").status_code == 200


def test_ssl_cert_file_and_dir_are_the_trusted_certificates(tmp_path: Path) -> None:
    import certifi

    from uploader.errors import ConfigError
    from uploader.http.client import Timeouts, build_client
    from uploader.http.proxy import tls_context

    assert tls_context({}) is None  # httpx's bundled certificates
    context = tls_context({"SSL_CERT_FILE": certifi.where()})
    assert context is not None
    assert context.cert_store_stats()["x509_ca"] > 100
    empty = tmp_path / "certs"
    empty.mkdir()
    assert tls_context({"SSL_CERT_DIR": str(empty)}) is not None
    for env in ({"SSL_CERT_FILE": str(tmp_path / "none.pem")}, {"SSL_CERT_FILE": str(empty)}):
        with pytest.raises(ConfigError, match=r"^SSL_CERT_FILE .* cannot be used"):
            build_client(Timeouts(), env=env)


def test_the_sandbox_is_reached_direct_when_every_proxy_variable_is_set(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    from tests.support.e2e import requests_log, run_cli, sandbox_process, write_all_kinds
    from tests.support.images import write_png

    proxies = dict.fromkeys(
        ("HTTPS_PROXY", "https_proxy", "http_proxy", "HTTP_PROXY", "ALL_PROXY"), DEAD
    )
    with sandbox_process() as base:
        config = write_all_kinds(tmp_path / "c.toml", base)
        env = {**hermetic_env, **proxies, "UPLOADER_GZ_ACCESS_TOKEN": "t"}
        env["UPLOADER_MA_ACCESS_TOKEN"] = "t"
        for profile in ("gz", "ma", "im"):
            image = str(write_png(tmp_path / f"{profile}.png"))
            up = run_cli(["--config", str(config), "upload", "-p", profile, image], env)
            assert up.returncode == 0, up.stderr
        uploads = [r for r in requests_log(base) if r["method"] == "POST"]
        assert len(uploads) == 3


def test_a_bad_proxy_variable_is_exit_2_before_any_request(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    from tests.support.e2e import run_cli
    from tests.support.images import write_png

    config = tmp_path / "c.toml"
    config.write_text(
        '[providers.im]\nkind = "imgur"\nclient_id = "cid"\n'
        'base_url = "https://api.imgur.example"\n'
    )
    env = {**hermetic_env, "HTTPS_PROXY": "gopher://user:pw-secret@proxy:70"}
    up = run_cli(["--config", str(config), "upload", str(write_png(tmp_path / "a.png"))], env)
    assert up.returncode == 2
    assert up.stderr.decode().splitlines()[0] == "error: HTTPS_PROXY is not a usable proxy URL"
    assert b"pw-secret" not in up.stderr
    assert b"Traceback" not in up.stderr


# -- Imgur's closed doors --------------------------------------------------------------------

REGION_JSON = {
    "data": {"error": "Content not available in your region", "request": "/3/image"},
    "success": False,
    "status": 403,
}


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(403, json=REGION_JSON),
        httpx.Response(403, html="<html><title>Not available in your region</title></html>"),
        httpx.Response(451, text="This content is not available in your country."),
        httpx.Response(400, json={**REGION_JSON, "status": 400}),
    ],
)
def test_a_region_block_gets_its_own_message_and_is_not_retried(
    tmp_path: Path, hermetic_env: dict[str, str], answer: httpx.Response
) -> None:
    from tests.support.images import write_png
    from tests.support.pipeline import run_upload
    from tests.support.providers import config_of, imgur_toml
    from uploader.errors import ExitCode, ProviderError

    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer

    run = run_upload(
        config_of(imgur_toml("https://api.imgur.example"), tmp_path),
        [str(write_png(tmp_path / "a.png"))],
        hermetic_env,
        FakeTime(1_800_000_000.0),
        transport=httpx.MockTransport(handler),
        provider="im",
    )
    (error,) = run.errors
    assert type(error) is ProviderError
    assert error.message.startswith(
        f"Imgur refused the upload: not available in your region (HTTP {answer.status_code})"
    )
    assert "UK since 30 September 2025" in error.message
    assert "Gyazo" in (error.hint or "")
    assert "Mastodon" in (error.hint or "")
    assert run.exit_code == ExitCode.PROVIDER
    # Waiting does not open the door: no retry (the cold start's free credits check aside).
    assert [r.method for r in sent if not r.url.path.endswith("/credits")] == ["POST"]


def test_the_sandbox_region_block_end_to_end(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    from tests.support.e2e import posts, run_cli, sandbox_process, write_config
    from tests.support.images import write_png

    with sandbox_process("imgur_region_block=true") as base:
        config = str(write_config(tmp_path / "c.toml", base))
        up = run_cli(
            ["--config", config, "upload", str(write_png(tmp_path / "a.png"))], hermetic_env
        )
        assert up.returncode == 5
        lines = up.stderr.decode().splitlines()
        assert lines[0].startswith("error: ")
        assert "not available in your region (HTTP 403)" in lines[0]
        assert lines[1].startswith("hint: use another provider from here: ")
        assert len(posts(base, "/imgur/3/image")) == 1
        info = run_cli(["--config", config, "info", "AbCdEf1"], hermetic_env)
        assert info.returncode == 5
        assert b"not available in your region" in info.stderr


@pytest.mark.parametrize(
    ("knob", "code", "first_line"),
    [
        (
            "imgur_authorize_error_1024=true",
            3,
            'error: Imgur\'s sign-in page fails with "Error (1024)" (HTTP 400): Imgur no '
            "longer lets many apps sign users in, and registers no new apps",
        ),
        (
            "imgur_region_block=true",
            5,
            "error: Imgur refused the sign-in: not available in your region (HTTP 403); Imgur "
            "blocks the UK since 30 September 2025, API uploads included",
        ),
    ],
)
@pytest.mark.parametrize("paste", [False, True])
def test_a_sign_in_that_lands_on_a_closed_door_says_so(
    tmp_path: Path, hermetic_env: dict[str, str], knob: str, code: int, first_line: str, paste: bool
) -> None:
    from tests.support.e2e import run_cli, sandbox_process, write_config

    with sandbox_process(knob) as base:
        config = str(write_config(tmp_path / "c.toml", base, client_id="app-1"))
        env = {**hermetic_env, "UPLOADER_SB_CLIENT_SECRET": "sandbox-secret"}
        args = ["--config", config, "auth", "login", "sb", "--no-browser", "--timeout", "20"]
        out = run_cli([*args, *(["--paste"] if paste else [])], env, timeout=30)
        assert out.returncode == code, out.stderr
        lines = out.stderr.decode().splitlines()
        assert first_line in lines
        assert not any(line.startswith("http://") for line in lines)  # no dead-end address
        assert lines[-1].startswith("hint: ")
        assert "client id registered before 2025" in lines[-1]


# -- the sandbox's links point at the sandbox, which serves them ------------------------------


def _get(url: str) -> httpx.Response:
    return httpx.get(url, trust_env=False)


@pytest.mark.parametrize(("name", "mime"), [("png", "image/png"), ("jpeg", "image/jpeg")])
def test_sandbox_links_serve_the_stored_bytes(name: str, mime: str) -> None:
    from tests.test_sandbox_filetypes import SAMPLES

    data = SAMPLES[name]
    auth_ma, auth_gz = {"Authorization": "Bearer ma"}, {"Authorization": "Bearer gz"}
    with Sandbox(SandboxConfig(mastodon_processing_seconds=0.0)) as sb:
        base = sb.base_url
        files = {"image": (f"a.{name}", data, mime)}
        imgur = httpx.post(
            f"{base}/imgur/3/image", files=files, headers={"Authorization": "Client-ID c"}
        ).json()["data"]
        gyazo = httpx.post(
            f"{base}/gyazo-upload/api/upload",
            files={"imagedata": (f"a.{name}", data, mime)},
            headers=auth_gz,
        ).json()
        masto = httpx.post(
            f"{base}/mastodon/api/v2/media",
            files={"file": (f"a.{name}", data, mime)},
            headers=auth_ma,
        ).json()
        links = [
            imgur["link"],
            gyazo["url"],
            gyazo["permalink_url"],
            gyazo["thumb_url"],
            masto["url"],
            masto["preview_url"],
        ]
        for link in links:
            assert link.startswith(f"{base}/"), link
            answer = _get(link)  # no credentials: a CDN link is public
            assert (answer.status_code, answer.content) == (200, data), link
            assert answer.headers["content-type"] == mime, link
            assert int(answer.headers["content-length"]) == len(data)
        assert httpx.head(imgur["link"]).status_code == 200
        # Deleted: the links stop working.
        httpx.delete(
            f"{base}/imgur/3/image/{imgur['deletehash']}", headers={"Authorization": "Client-ID c"}
        )
        httpx.delete(f"{base}/gyazo/api/images/{gyazo['image_id']}", headers=auth_gz)
        httpx.delete(f"{base}/mastodon/api/v1/media/{masto['id']}", headers=auth_ma)
        for link in links:
            assert _get(link).status_code == 404, link
        assert _get(f"{base}/imgur/i/NoSuch1.png").status_code == 404


def test_a_mastodon_video_is_served_after_processing_with_a_thumbnail_preview() -> None:
    from tests.test_sandbox_filetypes import SAMPLES
    from uploader.providers.mastodon_media import media_ref

    fake = FakeTime(1_800_000_000.0)
    auth = {"Authorization": "Bearer ma"}
    with Sandbox(SandboxConfig(mastodon_processing_seconds=5.0), clock=fake.clock) as sb:
        up = httpx.post(
            f"{sb.base_url}/mastodon/api/v2/media",
            files={"file": ("v.mp4", SAMPLES["mp4"], "video/mp4")},
            headers=auth,
        )
        assert up.status_code == 202
        media = up.json()
        preview = media["preview_url"]
        assert "/media_attachments/thumbnails/" in preview
        assert media_ref(preview, f"{sb.base_url}/mastodon") == media["id"]
        thumb = _get(preview)
        assert (thumb.status_code, thumb.headers["content-type"]) == (200, "image/png")
        assert thumb.content.startswith(b"\x89PNG\r\n\x1a\n")
        early = preview.replace("/thumbnails/", "/files/").removesuffix(".png") + ".mp4"
        assert _get(early).status_code == 404  # still processing: no file yet
        fake.now += 5
        done = httpx.get(f"{sb.base_url}/mastodon/api/v1/media/{media['id']}", headers=auth).json()
        assert media_ref(done["url"], f"{sb.base_url}/mastodon") == media["id"]
        assert done["url"] == early
        video = _get(done["url"])
        assert (video.status_code, video.content) == (200, SAMPLES["mp4"])
        assert video.headers["content-type"] == "video/mp4"


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_an_unreadable_ca_variable_is_exit_2_before_any_request(
    tmp_path: Path, hermetic_env: dict[str, str], variable: str
) -> None:
    from tests.support.e2e import run_cli
    from tests.support.images import write_png

    config = tmp_path / "c.toml"
    config.write_text(
        '[providers.im]\nkind = "imgur"\nclient_id = "cid"\n'
        'base_url = "https://api.imgur.example"\n'
    )
    env = {**hermetic_env, variable: str(tmp_path / "missing")}
    up = run_cli(["--config", str(config), "upload", str(write_png(tmp_path / "a.png"))], env)
    assert up.returncode == 2, up.stderr
    lines = up.stderr.decode().splitlines()
    assert lines[0].startswith(f"error: {variable} ({tmp_path / 'missing'}) cannot be used")
    assert lines[1].startswith(f"hint: point {variable} at a readable PEM file")
    assert b"Traceback" not in up.stderr


@pytest.mark.parametrize(
    "answer",
    [
        {"id": "2", "name": "uploader"},
        {"client_id": None, "client_secret": None},
        {"client_id": "", "client_secret": "s"},
        {"client_id": 12, "client_secret": "s"},
        {"client_id": "abc", "client_secret": None},
        {"client_id": "abc"},
    ],
)
def test_a_registration_answer_without_client_credentials_stores_no_app(
    tmp_path: Path, answer: dict[str, object]
) -> None:
    """A 200 from POST /api/v1/apps without client_id/client_secret (reference 3.1: both
    are in every CredentialApplication) stores nothing and goes no further."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=answer)

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        signer = Signer(tmp_path, "http://127.0.0.1:9", http)
        with pytest.raises(AuthError, match="has no client id and secret") as error:
            signer.login()
    assert error.value.exit_code == 3
    assert seen == ["/api/v1/apps"]
    assert (signer.apps, signer.saved, signer.shown) == ({}, {}, [])


BAD_TOKENS = [None, "", 12345, {"token": "x"}, ["x"], "two words", "line\nbreak", "tökén"]


def _token_answer_server(token: object) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        if request.url.path == "/api/v1/apps":
            return httpx.Response(200, json={"client_id": "app1", "client_secret": "s"})
        if request.url.path == "/oauth/token" and form.get("grant_type") == "authorization_code":
            return httpx.Response(200, json={"access_token": token, "token_type": "Bearer"})
        return httpx.Response(200, text='<input value="code-1">')

    return httpx.Client(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_a_token_answer_without_a_usable_token_stores_nothing_mastodon(
    tmp_path: Path, token: object
) -> None:
    with _token_answer_server(token) as http:
        signer = Signer(tmp_path, "http://127.0.0.1:9", http)
        with pytest.raises(AuthError, match="access token") as error:
            signer.login()
    assert error.value.exit_code == 3
    assert signer.saved == {}


def _gyazo_login(tmp_path: Path, token: object) -> tuple[dict[str, object], str]:
    """flows.gyazo in process: the "browser" follows the authorize URL's redirect back to
    the loopback listener with a code; the token endpoint answers ``token``."""
    import threading
    from urllib.parse import urlsplit

    from uploader.providers.gyazo_auth import OAUTH as GYAZO

    profile = parse_config(
        '[providers.g]\nkind = "gyazo"\nbase_url = "http://127.0.0.1:9"\n', tmp_path / "c.toml"
    ).profile("g")
    api = httpx.Client(
        transport=httpx.MockTransport(
            lambda _r: httpx.Response(200, json={"access_token": token, "scope": "public"})
        )
    )

    def browse(url: str) -> None:
        query = dict(parse_qsl(urlsplit(url).query))
        back = f"{query['redirect_uri']}?code=c1&state={query['state']}"
        threading.Thread(target=lambda: httpx.get(back, trust_env=False), daemon=True).start()

    saved: dict[str, object] = {}
    ctx = flows.LoginContext(
        profile=profile,
        endpoints=GYAZO,
        session=ApiSession(api),
        show_url=browse,
        ask=lambda _label, _secret: "",
        secret=lambda key: {"client_id": "cid", "client_secret": "csec"}[key],
        save=lambda **changes: saved.update(changes),
        apps=(lambda _base: None, lambda _base, **_app: None),
        timeout=30.0,
    )
    with api:
        return saved, flows.gyazo(ctx)


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_a_token_answer_without_a_usable_token_stores_nothing_gyazo(
    tmp_path: Path, token: object
) -> None:
    with pytest.raises(AuthError, match="access token") as error:
        _gyazo_login(tmp_path, token)
    assert error.value.exit_code == 3


def test_a_usable_gyazo_token_is_stored(tmp_path: Path) -> None:
    token = "a1B2-c3._~+/d4=="
    saved, said = _gyazo_login(tmp_path, token)
    assert said == "signed in to Gyazo (profile 'g')"
    assert (saved["access_token"], saved["scope"]) == (token, "public")
