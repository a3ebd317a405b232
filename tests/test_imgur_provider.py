"""The Imgur provider against httpx.MockTransport: requests sent, every error shape mapped."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.images import write_png
from uploader.config import parse_config
from uploader.errors import (
    AuthError,
    ExitCode,
    ProviderError,
    RateLimitError,
    ServerError,
    UnreadableAnswerError,
    UploaderError,
)
from uploader.media import inspect_path
from uploader.models import UploadOptions
from uploader.providers.imgur import ImgurProvider

IMAGE = {
    "id": "AbCdEf1",
    "deletehash": "hdYnH1gKz9YTHfS",
    "link": "https://i.imgur.com/AbCdEf1.png",
    "type": "image/png",
    "width": 8,
    "height": 8,
}


def _provider(
    handler: Callable[[httpx.Request], httpx.Response],
    env: dict[str, str] | None = None,
    tmp: Path = Path("/tmp"),
) -> ImgurProvider:
    config = parse_config(
        '[providers.im]\nkind = "imgur"\nclient_id = "cid-123"\n'
        'base_url = "http://127.0.0.1:1/imgur"\n',
        tmp / "c.toml",
    )
    profile = config.profile("im")
    credential = ImgurProvider.resolve_credential(profile, env or {})
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return ImgurProvider(profile, credential, http, None, clock=lambda: 1_000_000.0)


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


LEGACY = {
    "data": {"error": "Invalid client_id", "request": "/3/image", "method": "POST"},
    "success": False,
    "status": 403,
}


@pytest.mark.parametrize(
    ("response", "kind", "code", "fragment"),
    [
        (httpx.Response(403, json=LEGACY), AuthError, ExitCode.AUTH, "Invalid client_id"),
        (
            httpx.Response(
                401,
                json={
                    "data": {"error": "Authentication required"},
                    "success": False,
                    "status": 401,
                },
            ),
            AuthError,
            ExitCode.AUTH,
            "Authentication required",
        ),
        (
            httpx.Response(
                400,
                json={
                    "data": {
                        "error": {
                            "code": 1002,
                            "message": "File is over the size limit",
                            "type": "ImgurException",
                            "exception": [],
                        },
                        "request": "/3/image",
                        "method": "POST",
                    },
                    "success": False,
                    "status": 400,
                },
            ),
            ProviderError,
            ExitCode.PROVIDER,
            "File is over the size limit",
        ),
        (
            httpx.Response(
                400,
                json={
                    "data": {
                        "error": {
                            "code": 1003,
                            "message": "File type invalid (1)",
                            "type": "ImgurException",
                            "exception": [],
                        }
                    },
                    "success": False,
                    "status": 400,
                },
            ),
            ProviderError,
            ExitCode.PROVIDER,
            "File type invalid (1)",
        ),
        (
            httpx.Response(
                429,
                json={
                    "errors": [
                        {
                            "id": "legacy-api-1",
                            "code": "429",
                            "status": "Too Many Requests",
                            "detail": "Too Many Requests",
                        }
                    ]
                },
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
            httpx.Response(
                200, json={"data": {"error": "Something odd"}, "success": False, "status": 200}
            ),
            ProviderError,
            ExitCode.PROVIDER,
            "Something odd",
        ),
        (
            httpx.Response(
                400,
                json={
                    "data": {"error": "These actions are forbidden."},
                    "success": False,
                    "status": 400,
                },
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
    body = {
        "data": {
            "error": {
                "code": 429,
                "message": "You are uploading too fast. Please wait 37 more minutes.",
                "type": "ImgurException",
            }
        },
        "success": False,
        "status": 400,
    }
    error = _error(tmp_path, httpx.Response(400, json=body))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 37 * 60


def test_missing_client_id_is_an_auth_error(tmp_path: Path) -> None:
    config = parse_config('[providers.im]\nkind = "imgur"\n', tmp_path / "c.toml")
    with pytest.raises(AuthError) as info:
        ImgurProvider.resolve_credential(config.profile("im"), {})
    assert "no client_id" in info.value.message
    assert "UPLOADER_IM_CLIENT_ID" in (info.value.hint or "")


def test_credential_repr_hides_secret() -> None:
    credential = ImgurProvider.resolve_credential(
        parse_config('[providers.im]\nkind = "imgur"\n', Path("c.toml")).profile("im"),
        {"UPLOADER_IM_ACCESS_TOKEN": "super-secret-token"},
    )
    assert "super-secret-token" not in repr(credential)
    assert json.dumps(credential.identity).count("super") == 0
