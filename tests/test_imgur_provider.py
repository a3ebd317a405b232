"""The Imgur provider against httpx.MockTransport: requests sent, every error shape mapped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.images import write_png
from tests.support.imgur import IMAGE, gateway_429, imgur_exception, legacy_error
from tests.support.providers import make_provider
from uploader.config.settings import parse_config
from uploader.errors import (
    AuthError,
    ExitCode,
    ProviderError,
    RateLimitError,
    ServerError,
    UnreadableAnswerError,
    UploaderError,
)
from uploader.imaging.inspect import inspect_path
from uploader.models import BucketUpdate, UploadOptions
from uploader.providers.base import ProviderContext
from uploader.providers.imgur import ImgurProvider


def _provider(
    handler: Callable[[httpx.Request], httpx.Response],
    env: dict[str, str] | None = None,
    tmp: Path = Path("/tmp"),
) -> ImgurProvider:
    return make_provider(
        ImgurProvider,
        '[providers.im]\nkind = "imgur"\nclient_id = "cid-123"\n'
        'base_url = "http://127.0.0.1:1/imgur"\n',
        "im",
        handler,
        tmp,
        env=env,
        clock=lambda: 1_000_000.0,
    )


def _upload(
    tmp_path: Path,
    handler: Callable[[httpx.Request], httpx.Response],
    env: dict[str, str] | None = None,
) -> object:
    image = inspect_path(str(write_png(tmp_path / "a.png")))
    return _provider(handler, env, tmp_path).upload(
        image, UploadOptions(title="T", description="D")
    )


def test_anonymous_upload_request(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(200, json={"data": IMAGE, "success": True, "status": 200})

    result = _upload(tmp_path, handler)
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "http://127.0.0.1:1/imgur/3/image"
    assert request.headers["authorization"] == "Client-ID cid-123"
    body = request.content
    assert b'name="image"; filename="a.png"' in body
    assert b"Content-Type: image/png" in body
    assert (tmp_path / "a.png").read_bytes() in body
    assert b'name="title"\r\n\r\nT\r\n' in body
    assert b'name="description"\r\n\r\nD\r\n' in body
    assert result.url == IMAGE["link"]  # type: ignore[attr-defined]
    assert result.delete_id == "hdYnH1gKz9YTHfS"  # type: ignore[attr-defined]


def test_bearer_token_wins_when_available(tmp_path: Path) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={"data": IMAGE, "success": True, "status": 200})

    _upload(tmp_path, handler, {"UPLOADER_IM_ACCESS_TOKEN": "tok-xyz"})
    assert seen == ["Bearer tok-xyz"]


def _error(tmp_path: Path, response: httpx.Response) -> UploaderError:
    with pytest.raises(UploaderError) as info:
        _upload(tmp_path, lambda _r: response)
    assert "\n" not in info.value.message
    return info.value


LEGACY = legacy_error("Invalid client_id", status=403)


@pytest.mark.parametrize(
    ("response", "kind", "code", "fragment"),
    [
        (httpx.Response(403, json=LEGACY), AuthError, ExitCode.AUTH, "Invalid client_id"),
        (
            httpx.Response(
                401,
                json=legacy_error("Authentication required", status=401, route=None),
            ),
            AuthError,
            ExitCode.AUTH,
            "Authentication required",
        ),
        (
            httpx.Response(
                400,
                json=imgur_exception(1002, "File is over the size limit"),
            ),
            ProviderError,
            ExitCode.PROVIDER,
            "File is over the size limit",
        ),
        (
            httpx.Response(
                400,
                json=imgur_exception(1003, "File type invalid (1)", route=None),
            ),
            ProviderError,
            ExitCode.PROVIDER,
            "File type invalid (1)",
        ),
        (
            httpx.Response(
                429,
                json=gateway_429(),
                headers={"content-type": "application/vnd.imgur.v1+json"},
            ),
            RateLimitError,
            ExitCode.RATE_LIMITED,
            "rate limit reached",
        ),
        (
            httpx.Response(
                413,
                json={
                    "id": "legacy-api-2",
                    "code": 413,
                    "detail": "file is over the size limit",
                    "status": "Request Entity Too Large",
                },
            ),
            ProviderError,
            ExitCode.PROVIDER,
            "file is over the size limit",
        ),
        (
            httpx.Response(
                404,
                text="<html><head><title>imgur: the simple 404 page</title>",
                headers={"content-type": "text/html; charset=utf-8"},
            ),
            ProviderError,
            ExitCode.PROVIDER,
            "imgur: the simple 404 page",
        ),
        (
            httpx.Response(
                503,
                text="<html><title>503 Service Unavailable</title>Error 503 client read error",
                headers={"content-type": "text/html", "retry-after": "0"},
            ),
            ServerError,
            ExitCode.PROVIDER,
            "HTTP 503",
        ),
        (
            httpx.Response(
                417,
                json={
                    "status": 417,
                    "success": False,
                    "data": {
                        "error": "Internal expectation failed",
                        "request": "/3/upload",
                        "method": "POST",
                    },
                },
            ),
            ProviderError,
            ExitCode.PROVIDER,
            "Internal expectation failed",
        ),
        (
            httpx.Response(200, text="not json at all"),
            UnreadableAnswerError,
            ExitCode.PROVIDER,
            "not JSON",
        ),
        (
            httpx.Response(200, json=legacy_error("Something odd", status=200, route=None)),
            ProviderError,
            ExitCode.PROVIDER,
            "Something odd",
        ),
        (
            httpx.Response(
                400,
                json=legacy_error("These actions are forbidden.", status=400, route=None),
                headers={"cdn-error": "yes"},
            ),
            ProviderError,
            ExitCode.PROVIDER,
            "CDN refused",
        ),
    ],
)
def test_error_shapes(
    tmp_path: Path,
    response: httpx.Response,
    kind: type[UploaderError],
    code: ExitCode,
    fragment: str,
) -> None:
    error = _error(tmp_path, response)
    assert type(error) is kind
    assert error.exit_code == code
    assert fragment in error.message
    assert "Traceback" not in error.message


def test_wait_hint_in_message_text_becomes_retry_after(tmp_path: Path) -> None:
    body = imgur_exception(
        429, "You are uploading too fast. Please wait 37 more minutes.", route=None, exception=False
    )
    error = _error(tmp_path, httpx.Response(400, json=body))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 37 * 60


def test_missing_client_id_is_an_auth_error(tmp_path: Path) -> None:
    config = parse_config('[providers.im]\nkind = "imgur"\n', tmp_path / "c.toml")
    with pytest.raises(AuthError) as info:
        ImgurProvider.resolve_credential(config.profile("im"), {})
    assert "no client_id" in info.value.message
    assert "UPLOADER_IM_CLIENT_ID" in (info.value.hint or "")


def test_the_secret_never_shows_in_the_credential_or_its_errors(tmp_path: Path) -> None:
    secret = "super-secret-token-5d41402abc4b2a76"
    profile = parse_config('[providers.im]\nkind = "imgur"\n', tmp_path / "c.toml").profile("im")
    credential = ImgurProvider.resolve_credential(profile, {"UPLOADER_IM_ACCESS_TOKEN": secret})
    assert credential.authorization() == f"Bearer {secret}"  # it is really there...
    for text in (repr(credential), str(credential), credential.identity, credential.source):
        assert secret not in text  # ...but never shown
        assert "5d41402a" not in text
    rejected = legacy_error("Unauthorized", status=403, route=None)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(403, json=rejected)

    with pytest.raises(AuthError) as info:
        _upload(tmp_path, handler, {"UPLOADER_IM_ACCESS_TOKEN": secret})
    assert seen == [f"Bearer {secret}"]
    for text in (info.value.message, info.value.hint or "", str(info.value), repr(info.value)):
        assert secret not in text


# -- 403: credentials or permission (reference 1.9) ------------------------------------------


def _legacy(message: str, status: int) -> dict[str, object]:
    return {"data": {"error": message, "request": "/3/image"}, "success": False, "status": status}


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (403, "Unauthorized", AuthError),
        (403, "Invalid client_id", AuthError),
        (403, "The access token provided is invalid", AuthError),
        (403, "Authentication required", AuthError),
        (401, "Authentication required", AuthError),
        (403, "Permission denied", ProviderError),
        (403, "Forbidden", ProviderError),
        (403, "These actions are forbidden.", ProviderError),
    ],
)
def test_a_403_is_about_credentials_only_when_it_says_so(
    tmp_path: Path, status: int, message: str, kind: type[UploaderError]
) -> None:
    error = _error(tmp_path, httpx.Response(status, json=_legacy(message, status)))
    assert type(error) is kind
    assert error.exit_code == (ExitCode.AUTH if kind is AuthError else ExitCode.PROVIDER)
    assert message in error.message


def test_deleting_someone_elses_image_is_a_permission_error_with_a_useful_hint(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    _store_token(hermetic_env)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return httpx.Response(403, json=_legacy("Permission denied", 403))

    provider = _signed_in(tmp_path, hermetic_env, handler)
    with pytest.raises(ProviderError) as info:
        provider.delete("AbCdEf1")
    error = info.value
    assert type(error) is ProviderError
    assert error.exit_code == ExitCode.PROVIDER
    assert error.message == "Imgur refused the delete: Permission denied (HTTP 403)"
    assert "deletehash" in (error.hint or "")
    assert "rejected the credentials" not in error.message
    assert seen == ["DELETE /imgur/3/image/AbCdEf1"]  # no token refresh, no repeat


def test_the_auth_hint_names_the_profiles_own_variable(tmp_path: Path) -> None:
    config = parse_config(
        '[providers.my-im]\nkind = "imgur"\nbase_url = "http://127.0.0.1:1/imgur"\n',
        tmp_path / "c.toml",
    )
    profile = config.profile("my-im")
    env = {"UPLOADER_MY_IM_ACCESS_TOKEN": "tok"}
    credential = ImgurProvider.resolve_credential(profile, env)
    http = httpx.Client(
        transport=httpx.MockTransport(
            lambda _r: httpx.Response(403, json=_legacy("Unauthorized", 403))
        )
    )
    provider = ImgurProvider(
        ProviderContext(profile, credential, http, clock=lambda: 1_000_000.0, env=env)
    )
    with pytest.raises(AuthError) as info:
        provider.info("AbCdEf1")
    hint = info.value.hint or ""
    assert "UPLOADER_MY_IM_ACCESS_TOKEN" in hint
    assert "uploader auth login my-im" in hint
    assert "<NAME>" not in hint


# -- size limits (reference 1.12) ------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(
            400,
            json={
                "data": {"error": {"code": 1002, "message": "File is over the size limit"}},
                "success": False,
                "status": 400,
            },
        ),
        httpx.Response(413, json={"id": "x", "code": 413, "detail": "file is over the size limit"}),
    ],
)
def test_the_size_hint_says_what_the_api_documents(
    tmp_path: Path, response: httpx.Response
) -> None:
    error = _error(tmp_path, response)
    hint = error.hint or ""
    assert "Imgur's API documents 10 MB per image" in hint
    assert "website allows 20 MB" in hint
    assert "200 MB" in hint
    assert "older accounts" not in hint


def test_a_417_says_it_is_a_gif_over_about_10_mb(tmp_path: Path) -> None:
    body = _legacy("Internal expectation failed", 417)
    error = _error(tmp_path, httpx.Response(417, json=body))
    assert error.message == "Imgur refused the upload: Internal expectation failed (HTTP 417)"
    assert "GIFs over about 10 MB" in (error.hint or "")
    assert "MP4" in (error.hint or "")


# -- numbers stay numbers (reference 1.4) ----------------------------------------------------


def test_width_and_height_stay_integers(tmp_path: Path) -> None:
    ok = {"data": {**IMAGE, "views": 3}, "success": True, "status": 200}
    result = _upload(tmp_path, lambda _r: httpx.Response(200, json=ok))
    assert dict(result.extra) == {"type": "image/png", "width": 8, "height": 8}  # type: ignore[attr-defined]
    info = _provider(lambda _r: httpx.Response(200, json=ok), tmp=tmp_path).info("AbCdEf1")
    extra = dict(info.extra)
    assert (extra["width"], extra["height"], extra["views"]) == (8, 8, 3)
    assert all(type(extra[k]) is int for k in ("width", "height", "views"))


# -- signing in ------------------------------------------------------------------------------


def _store_token(env: dict[str, str], *, refresh: str | None = "refresh-1") -> None:
    from uploader.auth.credentials import store_for

    store_for(env).update(
        "im",
        access_token="old-token",
        refresh_token=refresh,
        expires_at=1_000_000.0 + 86400,  # not due: only a rejection makes it refresh
        account_username="someone",
    )


def _signed_in(
    tmp_path: Path,
    env: dict[str, str],
    handler: Callable[[httpx.Request], httpx.Response],
    extra: str = "",
) -> ImgurProvider:
    config = parse_config(
        '[providers.im]\nkind = "imgur"\nclient_id = "cid-123"\n'
        f'base_url = "http://127.0.0.1:1/imgur"\n{extra}',
        tmp_path / "c.toml",
    )
    profile = config.profile("im")
    credential = ImgurProvider.resolve_credential(profile, env)
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return ImgurProvider(
        ProviderContext(profile, credential, http, clock=lambda: 1_000_000.0, env=env)
    )


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_stored_token_is_refreshed_once_then_the_call_repeated(
    tmp_path: Path, hermetic_env: dict[str, str], status: int
) -> None:
    _store_token(hermetic_env)
    env = {**hermetic_env, "UPLOADER_IM_CLIENT_SECRET": "app-secret"}
    seen: list[tuple[str, str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = request.read().decode()
        seen.append((request.method, request.url.path, request.headers.get("authorization", "")))
        if request.url.path == "/imgur/oauth2/token":
            assert "grant_type=refresh_token" in body
            assert "refresh_token=refresh-1" in body
            assert "client_secret=app-secret" in body
            fresh = {"access_token": "new-token", "refresh_token": "refresh-2", "expires_in": 3600}
            return httpx.Response(200, json=fresh)
        if request.headers["authorization"] == "Bearer old-token":
            return httpx.Response(status, json=_legacy("Unauthorized", status))
        return httpx.Response(200, json={"data": IMAGE, "success": True, "status": 200})

    info = _signed_in(tmp_path, env, handler).info("AbCdEf1")
    assert info.id == "AbCdEf1"
    assert seen == [
        ("GET", "/imgur/3/image/AbCdEf1", "Bearer old-token"),
        ("POST", "/imgur/oauth2/token", ""),
        ("GET", "/imgur/3/image/AbCdEf1", "Bearer new-token"),
    ]
    from uploader.auth.credentials import store_for

    stored = store_for(env).get("im")
    assert (stored["access_token"], stored["refresh_token"]) == ("new-token", "refresh-2")


def test_a_token_rejected_again_after_the_refresh_is_final(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    _store_token(hermetic_env)
    env = {**hermetic_env, "UPLOADER_IM_CLIENT_SECRET": "app-secret"}
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/imgur/oauth2/token":
            return httpx.Response(200, json={"access_token": "new-token", "expires_in": 3600})
        return httpx.Response(403, json=_legacy("Unauthorized", 403))

    with pytest.raises(AuthError) as info:
        _signed_in(tmp_path, env, handler).info("AbCdEf1")
    assert info.value.exit_code == ExitCode.AUTH
    assert seen == ["/imgur/3/image/AbCdEf1", "/imgur/oauth2/token", "/imgur/3/image/AbCdEf1"]


def test_refreshing_without_the_client_secret_is_an_auth_error(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    _store_token(hermetic_env)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(403, json=_legacy("Unauthorized", 403))

    with pytest.raises(AuthError) as info:
        _signed_in(tmp_path, hermetic_env, handler).info("AbCdEf1")
    assert info.value.exit_code == ExitCode.AUTH
    assert "client id or secret is missing" in info.value.message
    assert "UPLOADER_IM_CLIENT_SECRET" in (info.value.hint or "")
    assert seen == ["/imgur/3/image/AbCdEf1"]  # no refresh attempt without the secret


def test_auth_oauth_without_a_token_is_exit_3(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    config = parse_config(
        '[providers.im]\nkind = "imgur"\nclient_id = "cid-123"\nauth = "oauth"\n',
        tmp_path / "c.toml",
    )
    with pytest.raises(AuthError) as info:
        ImgurProvider.resolve_credential(config.profile("im"), hermetic_env)
    assert info.value.exit_code == ExitCode.AUTH
    assert 'needs a user token (auth = "oauth")' in info.value.message
    assert "uploader auth login im" in (info.value.hint or "")
    assert "UPLOADER_IM_ACCESS_TOKEN" in (info.value.hint or "")


def test_listing_uploads_anonymously_is_an_auth_error(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [], "success": True, "status": 200})

    with pytest.raises(AuthError) as info:
        _provider(handler, tmp=tmp_path).list_uploads(0)
    assert info.value.exit_code == ExitCode.AUTH
    assert "needs a signed-in Imgur account" in info.value.message
    assert "uploader auth login im" in (info.value.hint or "")
    assert seen == []


def test_a_token_another_process_stored_meanwhile_is_used_without_refreshing(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    """This process read token A; another refreshed to B before this one sent anything."""
    import httpx

    from uploader.auth.credentials import store_for
    from uploader.config.settings import parse_config
    from uploader.providers.imgur_auth import REFRESH_MARGIN, refresh_if_due, resolve_credential

    config = parse_config(
        '[providers.im]\nkind = "imgur"\nclient_id = "fake-id"\n', tmp_path / "c.toml"
    )
    profile = config.profile("im")
    store = store_for(hermetic_env)
    now = 1_800_000_000.0
    store.update("im", access_token="fake-token-a", refresh_token="fake-refresh", expires_at=now)
    credential = resolve_credential(profile, hermetic_env)
    assert credential.secret == "fake-token-a"
    later = now + 3600 + 2 * REFRESH_MARGIN
    store.update("im", access_token="fake-token-b", expires_at=later)

    def no_request(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request expected, got {request.method} {request.url}")

    with httpx.Client(transport=httpx.MockTransport(no_request)) as http:
        fresh = refresh_if_due(profile, hermetic_env, credential, http, lambda: now, force=False)
        assert fresh is not None
        assert (fresh.scheme, fresh.secret, fresh.refreshable) == ("Bearer", "fake-token-b", True)
        again = refresh_if_due(profile, hermetic_env, fresh, http, lambda: now, force=False)
        assert again is None  # up to date and not due: nothing to do


def test_a_refused_upload_hint_is_about_the_upload(tmp_path: Path) -> None:
    body = imgur_exception(403, "Forbidden", exception=False)
    error = _error(tmp_path, httpx.Response(400, json=body))
    assert type(error) is ProviderError
    assert error.message == "Imgur refused the upload: Forbidden (HTTP 400, code 403)"
    assert error.hint is not None
    assert "belongs to" not in error.hint  # there is no existing image on an upload
    assert "not the file" in error.hint


@pytest.mark.parametrize(
    ("user_reset", "reset_at"),
    [
        (1_800_001_800, 1_001_800.0),  # an epoch of the server's clock, corrected for skew
        (1_800_001_800_000, 1_001_800.0),  # the same in milliseconds
        (3600, 1_003_600.0),  # what live servers send: seconds from now (reference 1.10)
        (-5, None),
    ],
)
def test_live_limits_read_the_credits_reset_as_the_headers_are_read(
    user_reset: int, reset_at: float | None
) -> None:
    server_now = "Fri, 15 Jan 2027 08:00:00 GMT"  # 1_800_000_000: the server's clock
    data = {"UserLimit": 500, "UserRemaining": 321, "UserReset": user_reset}
    data |= {"ClientLimit": 12500, "ClientRemaining": 12000}
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"data": data, "success": True, "status": 200}
        return httpx.Response(200, json=body, headers={"Date": server_now})

    updates = _provider(handler).live_limits()
    assert [str(r.url) for r in seen] == ["http://127.0.0.1:1/imgur/3/credits"]
    assert updates == [
        BucketUpdate("user", 500, 321, reset_at),
        BucketUpdate("client", 12500, 12000, None),
    ]


@pytest.mark.parametrize(
    "raw",
    ["1e400", "-1e400", "NaN", "Infinity", "true", '"500"', "[1]", "1e300"],
)
def test_live_limits_survive_absurd_credits_figures(raw: str) -> None:
    body = (
        '{"data": {"UserLimit": %s, "UserRemaining": %s, "UserReset": %s, '
        '"ClientLimit": %s, "ClientRemaining": %s}, "success": true, "status": 200}'
    ) % ((raw,) * 5)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=body.encode(), headers={"Content-Type": "application/json"}
        )

    assert _provider(handler).live_limits() == [
        BucketUpdate("user", None, None, None),
        BucketUpdate("client", None, None, None),
    ]
