"""The Mastodon provider against httpx.MockTransport: media, polling, posts, limits, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.http import Routes
from tests.support.images import WHOLE, write_png, write_sized_png
from tests.support.pipeline import Run, run_upload
from tests.support.providers import config_of, make_provider
from uploader.config.settings import parse_config
from uploader.errors import (
    AuthError,
    ExitCode,
    InputFileError,
    ProviderError,
    RateLimitError,
    ServerError,
    UnreadableAnswerError,
    UploaderError,
    UsageError,
)
from uploader.http.cache import EtagCache
from uploader.imaging.inspect import inspect_path
from uploader.models import ImageFile, UploadOptions
from uploader.providers.base import check_limits
from uploader.providers.mastodon import MAX_POLLS, MastodonProvider
from uploader.providers.mastodon_media import MIME_TYPES, media_ref
from uploader.providers.recovery import RunClaims, Window
from uploader.ratelimit.bucket import Refusal

BASE = "http://127.0.0.1:1/mastodon"
TOKEN = "masto-token-456"
MID = "117020576894251992"
NOW = datetime(2026, 8, 1, 13, 50, tzinfo=UTC).timestamp()
MiB = 1024 * 1024
FILE_URL = (
    "http://localhost:3000/system/media_attachments/files/117/020/576/894/251/992/original/"
    "7d7d7696bb9ee509.png"
)
MEDIA = {
    "id": MID,
    "type": "image",
    "url": FILE_URL,
    "preview_url": FILE_URL.replace("original", "small"),
    "meta": {"original": {"width": 8, "height": 8, "size": "8x8", "aspect": 1.0}},
    "description": "alt",
    "blurhash": "UGC~-#M{0JfkNFofR%M{IURj%Mt7E0oM%MR*",
}
PENDING = {**MEDIA, "type": "video", "url": None}
INSTANCE = {
    "domain": "mastodon.example",
    "configuration": {
        "media_attachments": {
            "supported_mime_types": ["image/jpeg", "image/png", "video/mp4"],
            "image_size_limit": 16777216,
            "video_size_limit": 103809024,
            "description_limit": 1500,
        }
    },
}
Handler = Callable[[httpx.Request], httpx.Response]


def Server(routes: dict[str, list[httpx.Response]]) -> Routes:
    """Routes by method and path (``/mastodon`` stripped), the instance answered already."""
    return Routes(
        {"GET /api/v2/instance": [httpx.Response(200, json=INSTANCE)], **routes},
        prefix="/mastodon",
        missing=httpx.Response(404, json={"error": "Record not found"}),
    )


def _social_upload(
    tmp_path: Path,
    env: dict[str, str],
    config: Path,
    server: Routes,
    *,
    clock: FakeTime | None = None,
    patient: bool = False,
    options: UploadOptions | None = None,
) -> Run:
    """``a.png`` uploaded to the signed-in profile ``social`` served by ``server``; it
    fails at once on a spent budget unless ``patient``."""
    more: dict[str, Any] = {} if patient else {"on_limit": "fail", "max_wait": 0}
    if options is not None:
        more["options"] = options
    return run_upload(
        config,
        [str(write_png(tmp_path / "a.png"))],
        {**env, "UPLOADER_SOCIAL_ACCESS_TOKEN": TOKEN},
        clock or FakeTime(NOW),
        transport=httpx.MockTransport(server),
        provider="social",
        **more,
    )


def _provider(
    handler: Handler,
    tmp_path: Path,
    extra: str = "",
    *,
    sleeps: list[float] | None = None,
    cache: EtagCache | None = None,
) -> MastodonProvider:
    log = sleeps if sleeps is not None else []
    return make_provider(
        MastodonProvider,
        f'[providers.social]\nkind = "mastodon"\nbase_url = "{BASE}"\n' + extra,
        "social",
        handler,
        tmp_path,
        env={"UPLOADER_SOCIAL_ACCESS_TOKEN": TOKEN},
        clock=lambda: NOW,
        cache=cache,
        sleep=log.append,
    )


def _image(tmp_path: Path) -> ImageFile:
    return inspect_path(str(write_png(tmp_path / "a.png")))


def test_upload_request_and_result(tmp_path: Path) -> None:
    server = Server({"POST /api/v2/media": [httpx.Response(200, json=MEDIA)]})
    provider = _provider(server, tmp_path)
    result = provider.upload(
        _image(tmp_path), UploadOptions(title="T", description="Alt text", focus="0.5,-0.25")
    )
    (request,) = server.requests("POST /api/v2/media")
    assert str(request.url) == f"{BASE}/api/v2/media"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    body = request.content
    assert b'name="file"; filename="a.png"' in body
    assert b"Content-Type: image/png" in body
    assert (tmp_path / "a.png").read_bytes() in body
    assert b'name="description"\r\n\r\nAlt text\r\n' in body
    assert b'name="focus"\r\n\r\n0.5,-0.25\r\n' in body
    assert (result.id, result.url, result.delete_id) == (MID, FILE_URL, MID)
    assert result.extra == (
        ("type", "image/png"),
        ("media_type", "image"),
        ("preview_url", MEDIA["preview_url"]),
    )
    assert [str(r.url) for r in server.seen] == [f"{BASE}/api/v2/instance", f"{BASE}/api/v2/media"]


def test_title_is_the_alt_text_when_no_description(tmp_path: Path) -> None:
    server = Server({"POST /api/v2/media": [httpx.Response(200, json=MEDIA)]})
    _provider(server, tmp_path).upload(_image(tmp_path), UploadOptions(title="Title"))
    body = server.requests("POST /api/v2/media")[0].content
    assert b'name="description"\r\n\r\nTitle\r\n' in body
    assert b'name="focus"' not in body


def test_202_is_polled_until_processed(tmp_path: Path) -> None:
    done = {**MEDIA, "type": "video", "url": "https://files.example/v.mp4"}
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(202, json=PENDING)],
            f"GET /api/v1/media/{MID}": [
                httpx.Response(206, json=PENDING),
                httpx.Response(206, json=PENDING),
                httpx.Response(200, json=done),
            ],
        }
    )
    sleeps: list[float] = []
    result = _provider(server, tmp_path, sleeps=sleeps).upload(_image(tmp_path), UploadOptions())
    assert sleeps == [0.5, 1.0, 2.0]
    polls = server.requests(f"GET /api/v1/media/{MID}")
    assert len(polls) == 3
    assert all(p.headers["authorization"] == f"Bearer {TOKEN}" for p in polls)
    assert result.url == "https://files.example/v.mp4"
    assert ("type", "video/mp4") in result.extra  # a MIME type, as in `info`
    assert ("media_type", "video") in result.extra


def test_polling_gives_up_at_poll_timeout(tmp_path: Path) -> None:
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(202, json=PENDING)],
            f"GET /api/v1/media/{MID}": [httpx.Response(206, json=PENDING)],
        }
    )
    sleeps: list[float] = []
    provider = _provider(server, tmp_path, "poll_timeout = 3\n", sleeps=sleeps)
    with pytest.raises(ProviderError) as info:
        provider.upload(_image(tmp_path), UploadOptions())
    assert sleeps == [0.5, 1.0, 1.5]  # the last wait is cut short: one last poll at 3 s
    assert len(server.requests(f"GET /api/v1/media/{MID}")) == 3
    assert f"still processing media {MID}" in info.value.message
    assert type(info.value) is ProviderError  # final: retrying would upload it again


def test_polling_is_bounded_in_count_and_backoff_is_capped(tmp_path: Path) -> None:
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(202, json=PENDING)],
            f"GET /api/v1/media/{MID}": [
                httpx.Response(503, text="busy"),
                httpx.Response(429, json={"error": "Too many requests"}),
                httpx.Response(206, json=PENDING),
            ],
        }
    )
    sleeps: list[float] = []
    provider = _provider(server, tmp_path, "poll_timeout = 1000000\n", sleeps=sleeps)
    with pytest.raises(ProviderError, match="still processing"):
        provider.upload(_image(tmp_path), UploadOptions())
    assert len(server.requests(f"GET /api/v1/media/{MID}")) == MAX_POLLS
    assert sleeps[:5] == [0.5, 1.0, 2.0, 4.0, 5.0]
    assert max(sleeps) == 5.0


def test_processing_failure_is_reported_with_the_media_id(tmp_path: Path) -> None:
    failed = {"error": "Error processing thumbnail for uploaded media"}
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(202, json=PENDING)],
            f"GET /api/v1/media/{MID}": [httpx.Response(422, json=failed)],
        }
    )
    with pytest.raises(ProviderError) as info:
        _provider(server, tmp_path).upload(_image(tmp_path), UploadOptions())
    assert MID in info.value.message
    assert "Error processing thumbnail" in info.value.message
    assert info.value.exit_code == ExitCode.PROVIDER


STATUS = {"id": "1", "url": "https://mastodon.example/@me/1", "uri": "https://x/1"}


def test_post_publishes_a_status_with_a_stable_idempotency_key(tmp_path: Path) -> None:
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(200, json=MEDIA)],
            "POST /api/v1/statuses": [httpx.Response(200, json=STATUS)],
        }
    )
    provider = _provider(server, tmp_path, 'visibility = "unlisted"\n')
    options = UploadOptions(post=True, status="Look at this")
    result = provider.upload(_image(tmp_path), options)
    provider.upload(_image(tmp_path), options)
    provider.upload(_image(tmp_path), UploadOptions(post=True, status="Other", visibility="direct"))
    first, second, third = server.requests("POST /api/v1/statuses")
    assert first.headers["content-type"] == "application/x-www-form-urlencoded"
    form = httpx.QueryParams(first.content.decode())
    assert form.get_list("media_ids[]") == [MID]
    assert form["status"] == "Look at this"
    assert form["visibility"] == "unlisted"
    assert httpx.QueryParams(third.content.decode())["visibility"] == "direct"
    key = first.headers["idempotency-key"]
    assert key == second.headers["idempotency-key"]
    assert key != third.headers["idempotency-key"]
    assert ("status_url", "https://mastodon.example/@me/1") in result.extra
    assert result.url == FILE_URL


def test_post_without_text_sends_only_the_media(tmp_path: Path) -> None:
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(200, json=MEDIA)],
            "POST /api/v1/statuses": [httpx.Response(200, json=STATUS)],
        }
    )
    _provider(server, tmp_path).upload(_image(tmp_path), UploadOptions(post=True))
    form = httpx.QueryParams(server.requests("POST /api/v1/statuses")[0].content.decode())
    assert dict(form) == {"media_ids[]": MID}


def test_post_retried_with_the_same_key_then_final_error(tmp_path: Path) -> None:
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(200, json=MEDIA)],
            "POST /api/v1/statuses": [
                httpx.Response(503, json={"error": "Remote data could not be fetched"}),
                httpx.Response(200, json=STATUS),
            ],
        }
    )
    sleeps: list[float] = []
    _provider(server, tmp_path, sleeps=sleeps).upload(_image(tmp_path), UploadOptions(post=True))
    posts = server.requests("POST /api/v1/statuses")
    assert len(posts) == 2
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    assert sleeps == [0.5]
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(200, json=MEDIA)],
            "POST /api/v1/statuses": [httpx.Response(500, json={"error": "boom"})],
        }
    )
    with pytest.raises(ProviderError) as info:
        _provider(server, tmp_path).upload(_image(tmp_path), UploadOptions(post=True))
    assert type(info.value) is ProviderError  # not ServerError: no second media upload
    assert f"uploaded media {MID} but could not post it" in info.value.message
    assert len(server.requests("POST /api/v1/statuses")) == 3
    assert len(server.requests("POST /api/v2/media")) == 1


def test_post_refused_by_scope_is_an_auth_error(tmp_path: Path) -> None:
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(200, json=MEDIA)],
            "POST /api/v1/statuses": [
                httpx.Response(403, json={"error": "This action is outside the authorized scopes"})
            ],
        }
    )
    with pytest.raises(AuthError) as info:
        _provider(server, tmp_path).upload(_image(tmp_path), UploadOptions(post=True))
    assert "outside the authorized scopes" in info.value.message
    assert MID in info.value.message


INVALID = (
    'Bearer realm="Doorkeeper", error="invalid_token", '
    'error_description="The access token is invalid"'
)


@pytest.mark.parametrize(
    ("response", "kind", "fragment"),
    [
        (
            httpx.Response(
                401,
                json={"error": "The access token is invalid"},
                headers={"WWW-Authenticate": INVALID},
            ),
            AuthError,
            "The access token is invalid",
        ),
        (httpx.Response(401, text="", headers={"WWW-Authenticate": INVALID}), AuthError, "invalid"),
        (
            httpx.Response(
                400,
                json={"error": "invalid_grant", "error_description": "The provided grant is bad."},
            ),
            AuthError,
            "The provided grant is bad. (invalid_grant)",
        ),
        (
            httpx.Response(403, json={"error": "Your login is currently disabled"}),
            AuthError,
            "Your login is currently disabled",
        ),
        # Reference 3.8: "This action is not allowed" is permission, not the credentials.
        (
            httpx.Response(403, json={"error": "This action is not allowed"}),
            ProviderError,
            "Mastodon refused the upload: This action is not allowed (HTTP 403)",
        ),
        (
            httpx.Response(
                422,
                json={"error": "Validation failed: File content type is invalid, File is invalid"},
            ),
            ProviderError,
            "File content type is invalid",
        ),
        (
            httpx.Response(429, json={"error": "Too many requests"}),
            RateLimitError,
            "rate limit reached (Too many requests)",
        ),
        (
            httpx.Response(500, json={"error": "Error processing thumbnail for uploaded media"}),
            ServerError,
            "Error processing thumbnail",
        ),
        (
            httpx.Response(
                502,
                text="<html><title>502 Bad Gateway</title>",
                headers={"content-type": "text/html"},
            ),
            ServerError,
            "502 Bad Gateway",
        ),
        (
            httpx.Response(413, text="<html><title>413 Request Entity Too Large</title></html>"),
            ProviderError,
            "too large",
        ),
        (
            httpx.Response(400, text="oops", headers={"content-type": "text/plain"}),
            ProviderError,
            "not JSON",
        ),
        (
            httpx.Response(200, text="<html>hi</html>"),
            UnreadableAnswerError,
            "Mastodon answered the upload with HTTP 200 and a body that is not JSON",
        ),
        (httpx.Response(200, json={"type": "image"}), UnreadableAnswerError, "no media id"),
    ],
)
def test_error_shapes(
    tmp_path: Path, response: httpx.Response, kind: type[UploaderError], fragment: str
) -> None:
    server = Server({"POST /api/v2/media": [response]})
    with pytest.raises(UploaderError) as info:
        _provider(server, tmp_path).upload(_image(tmp_path), UploadOptions())
    error = info.value
    assert type(error) is kind
    assert fragment in error.message
    assert "\n" not in error.message
    assert TOKEN not in error.message + (error.hint or "")
    if kind is AuthError:
        assert error.exit_code == ExitCode.AUTH
        assert "UPLOADER_SOCIAL_ACCESS_TOKEN" in (error.hint or "")


def test_invalid_token_hint_says_sign_in_again(tmp_path: Path) -> None:
    response = httpx.Response(401, json={"error": "x"}, headers={"WWW-Authenticate": INVALID})
    server = Server({"POST /api/v2/media": [response]})
    with pytest.raises(AuthError) as info:
        _provider(server, tmp_path).upload(_image(tmp_path), UploadOptions())
    assert "sign in again" in (info.value.hint or "")


def test_429_is_from_the_server_with_the_reset_time(tmp_path: Path) -> None:
    response = httpx.Response(
        429,
        json={"error": "Too many requests"},
        headers={
            "X-RateLimit-Limit": "30",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "2026-08-01T14:00:00.524560Z",
        },
    )
    server = Server({"POST /api/v2/media": [response]})
    provider = _provider(server, tmp_path)
    with pytest.raises(RateLimitError) as info:
        provider.upload(_image(tmp_path), UploadOptions())
    assert info.value.from_server is True
    assert info.value.exit_code == ExitCode.RATE_LIMITED
    assert info.value.reset_at == pytest.approx(NOW + 600.52456)
    (update,) = provider.rate_updates(response)  # what the limiter records with the 429
    assert (update.bucket, update.limit, update.remaining) == ("media", 30, 0)
    assert update.reset_at == pytest.approx(NOW + 600.52456)


def test_instance_limits_refuse_oversize_and_unsupported_before_upload(tmp_path: Path) -> None:
    small = json.loads(json.dumps(INSTANCE))
    small["configuration"]["media_attachments"].update(
        {"image_size_limit": 1000, "supported_mime_types": ["image/png", "image/jpeg"]}
    )
    server = Server({"GET /api/v2/instance": [httpx.Response(200, json=small)]})
    provider = _provider(server, tmp_path)
    big = inspect_path(str(write_sized_png(tmp_path / "big.png", 2000)))
    limits = provider.limits()
    assert limits.max_image_size == 1000
    assert limits.max_video_size == 103809024
    with pytest.raises(InputFileError, match="over Mastodon's 1000 B image limit"):
        check_limits(big, limits, provider.display_name)
    gif = tmp_path / "a.gif"
    gif.write_bytes(WHOLE["gif"])
    with pytest.raises(InputFileError, match="image/gif files are not accepted by Mastodon"):
        provider.upload(inspect_path(str(gif)), UploadOptions())
    assert [r.url.path for r in server.seen] == ["/mastodon/api/v2/instance"]  # asked once


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(404, text="<html><title>The page you were looking for</title></html>"),
        httpx.Response(200, text="garbage{"),
        httpx.Response(200, json=["not", "an", "instance"]),
        httpx.Response(200, json={"configuration": {"statuses": {}}}),
    ],
)
def test_instance_limits_fall_back(tmp_path: Path, response: httpx.Response) -> None:
    server = Server({"GET /api/v2/instance": [response]})
    limits = _provider(server, tmp_path, "max_video_size = 5000\n").limits()
    assert limits.mime_types == MIME_TYPES
    assert (limits.max_image_size, limits.max_video_size) == (16 * MiB, 5000)


def test_instance_limits_fall_back_on_network_error_and_missing_keys(tmp_path: Path) -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    assert _provider(unreachable, tmp_path).limits().max_video_size == 99 * MiB
    partial = {"configuration": {"media_attachments": {"video_size_limit": 7}}}
    server = Server({"GET /api/v2/instance": [httpx.Response(200, json=partial)]})
    limits = _provider(server, tmp_path, "max_image_size = 1234\n").limits()
    assert (limits.mime_types, limits.max_image_size, limits.max_video_size) == (
        MIME_TYPES,
        1234,
        7,
    )


def test_public_instance_document_is_revalidated_with_its_etag(tmp_path: Path) -> None:
    etag = 'W/"6ae06fc1a2b3c4d5e6f708192a3b4c5d"'

    def instance(request: httpx.Request) -> httpx.Response:
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers={"etag": etag})
        headers = {"etag": etag, "cache-control": "max-age=300, public"}
        return httpx.Response(200, json=INSTANCE, headers=headers)

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return instance(request)

    cache = EtagCache(tmp_path / "cache")
    first = _provider(handler, tmp_path, cache=cache).limits()
    second = _provider(handler, tmp_path, cache=cache).limits()
    assert seen[1].headers["if-none-match"] == etag
    assert first == second
    assert second.max_image_size == 16777216


def test_info_no_store_answers_are_not_stored(tmp_path: Path) -> None:
    headers = {"etag": 'W/"a7e412cdca22553f942685d4ee5e1faf"', "cache-control": "private, no-store"}
    server = Server(
        {f"GET /api/v1/media/{MID}": [httpx.Response(200, json=MEDIA, headers=headers)]}
    )
    cache = EtagCache(tmp_path / "cache")
    provider = _provider(server, tmp_path, cache=cache)
    info = provider.info(MID)
    provider.info(MID)
    first, second = server.requests(f"GET /api/v1/media/{MID}")
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert "if-none-match" not in second.headers
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())
    assert (info.id, info.url, info.delete_id) == (MID, FILE_URL, MID)
    assert info.mime_type == "image/png"
    assert info.description == "alt"
    assert ("dimensions", "8x8") in info.extra


def test_info_of_processing_and_missing_media(tmp_path: Path) -> None:
    server = Server({f"GET /api/v1/media/{MID}": [httpx.Response(206, json=PENDING)]})
    info = _provider(server, tmp_path).info(MID)
    assert info.url is None
    assert ("state", "processing") in info.extra
    with pytest.raises(ProviderError) as error:
        _provider(Server({}), tmp_path).info("999")
    assert "no such media 999" in error.value.message
    assert error.value.exit_code == ExitCode.PROVIDER


def test_delete_invalidates_the_cached_lookup(tmp_path: Path) -> None:
    etag = 'W/"a7e412cdca22553f942685d4ee5e1faf"'
    server = Server(
        {
            f"GET /api/v1/media/{MID}": [httpx.Response(200, json=MEDIA, headers={"etag": etag})],
            f"DELETE /api/v1/media/{MID}": [httpx.Response(200, json=MEDIA)],
        }
    )
    provider = _provider(server, tmp_path, cache=EtagCache(tmp_path / "cache"))
    provider.info(MID)
    assert provider.delete(FILE_URL) == f"deleted Mastodon media {MID}"
    provider.info(MID)
    (delete,) = server.requests(f"DELETE /api/v1/media/{MID}")
    assert delete.headers["authorization"] == f"Bearer {TOKEN}"
    assert "if-none-match" not in server.requests(f"GET /api/v1/media/{MID}")[1].headers


@pytest.mark.parametrize(
    ("response", "fragment"),
    [
        (httpx.Response(404, json={"error": "Record not found"}), "Record not found (HTTP 404)"),
        (httpx.Response(422, json={"error": "Media is attached"}), "Media is attached (HTTP 422)"),
    ],
)
def test_delete_refusals(tmp_path: Path, response: httpx.Response, fragment: str) -> None:
    server = Server({f"DELETE /api/v1/media/{MID}": [response]})
    with pytest.raises(ProviderError) as info:
        _provider(server, tmp_path).delete(MID)
    assert f"cannot delete media {MID}: {fragment}" in info.value.message
    assert "not attached to a post" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (MID, MID),
        (f"https://mastodon.example/api/v1/media/{MID}", MID),
        (FILE_URL, MID),
        ("https://files.example/system/media_attachments/files/000/000/123/small/abc.png", "123"),
        ("https://gts.example/fileserver/01ACCT/attachment/original/01HMEDIA.jpeg", "01HMEDIA"),
        ("post-1a2b.png", "post-1a2b.png"),  # ids are opaque strings (a real server's)
    ],
)
def test_media_references(ref: str, expected: str) -> None:
    base = "https://gts.example" if "gts." in ref else "https://social.files.example"
    if "mastodon.example" in ref:
        base = "https://mastodon.example"
    assert media_ref(ref, base) == expected


@pytest.mark.parametrize(
    "ref",
    [
        "not an id",
        "",
        "a/b",
        "abc?x=1",
        "abc#f",
        "https://other.example/api/v1/media/123",
        "ftp://mastodon.example/1",
    ],
)
def test_bad_media_reference(ref: str) -> None:
    with pytest.raises(UsageError):
        media_ref(ref, "https://mastodon.example")


def test_no_upload_list(tmp_path: Path) -> None:
    provider = _provider(Server({}), tmp_path)
    with pytest.raises(UsageError) as info:
        provider.list_uploads(1)
    assert info.value.exit_code == ExitCode.USAGE
    assert "no list of uploaded media" in info.value.message
    assert provider.can_find_uploads() is False
    assert (
        provider.find_upload(_image(tmp_path), window=Window(NOW, NOW), claims=RunClaims()) is None
    )


def _answer(method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.Response(200, headers=headers, request=httpx.Request(method, BASE + path))


def test_rate_updates_by_endpoint(tmp_path: Path) -> None:
    provider = _provider(Server({}), tmp_path)
    media = {
        "X-RateLimit-Limit": "30",
        "X-RateLimit-Remaining": "29",
        "X-RateLimit-Reset": "2026-08-01T14:00:00.732549Z",
    }
    api = {**media, "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "299"}
    (update,) = provider.rate_updates(_answer("POST", "/api/v2/media", media))
    assert (update.bucket, update.limit, update.remaining) == ("media", 30, 29)
    assert update.reset_at == pytest.approx(NOW + 600.732549)
    assert provider.rate_updates(_answer("GET", f"/api/v1/media/{MID}", api))[0].bucket == "api"
    epoch = {
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Remaining": "5",
        "X-RateLimit-Reset": "1785592800",
    }
    assert provider.rate_updates(_answer("GET", "/api/v1/x", epoch))[0].reset_at == 1785592800.0
    assert provider.rate_updates(_answer("POST", "/api/v2/media", {})) == []
    statuses = {**api, "X-RateLimit-Reset": "2026-08-01T15:00:00.907749Z"}
    assert provider.rate_updates(_answer("POST", "/api/v1/statuses", statuses)) == []
    assert provider.rate_updates(httpx.Response(200, headers=api)) == []  # no request
    specs = {
        s.name: (s.default_limit, s.window) for s in MastodonProvider.bucket_specs(provider.profile)
    }
    assert specs == {"api": (300, 300.0), "media": (30, 1800.0)}


def test_live_limits_checks_the_token(tmp_path: Path) -> None:
    headers = {
        "x-ratelimit-limit": "300",
        "x-ratelimit-remaining": "299",
        "x-ratelimit-reset": "2026-08-01T13:55:00.400382Z",
    }
    server = Server(
        {
            "GET /api/v1/accounts/verify_credentials": [
                httpx.Response(200, json={"id": "1", "username": "me"}, headers=headers)
            ]
        }
    )
    (update,) = _provider(server, tmp_path).live_limits()
    assert (update.bucket, update.limit, update.remaining) == ("api", 300, 299)
    (request,) = server.seen
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    rejected = Server(
        {
            "GET /api/v1/accounts/verify_credentials": [
                httpx.Response(401, json={"error": "The access token is invalid"})
            ]
        }
    )
    with pytest.raises(AuthError):
        _provider(rejected, tmp_path).live_limits()


def test_missing_token_is_an_auth_error(tmp_path: Path) -> None:
    profile = parse_config('[providers.social]\nkind = "mastodon"\n', tmp_path / "c.toml").profile(
        "social"
    )
    assert profile.base_url == "https://mastodon.social"
    with pytest.raises(AuthError) as info:
        MastodonProvider.resolve_credential(profile, {})
    assert "UPLOADER_SOCIAL_ACCESS_TOKEN" in (info.value.hint or "")
    assert info.value.exit_code == ExitCode.AUTH


def test_retry_after_header_or_message_hint(tmp_path: Path) -> None:
    refusal = _provider(Server({}), tmp_path).rate_refusal
    assert refusal(httpx.Response(429, headers={"Retry-After": "12"})) == Refusal(12.0)
    assert refusal(httpx.Response(429, json={"error": "wait 3 minutes"})) == Refusal(180.0)
    assert refusal(httpx.Response(429, json={"error": "Too many requests"})) == Refusal(None)
    assert refusal(httpx.Response(500, headers={"Retry-After": "12"})) is None


def test_through_the_pipeline_headers_feed_the_buckets(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    from uploader.commands import runtime as runtime_module

    config = config_of(f'[providers.social]\nkind = "mastodon"\nbase_url = "{BASE}"\n', tmp_path)
    api = {
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Remaining": "299",
        "X-RateLimit-Reset": "2026-08-01T13:55:00.824007Z",
    }
    media = {
        "X-RateLimit-Limit": "30",
        "X-RateLimit-Remaining": "29",
        "X-RateLimit-Reset": "2026-08-01T14:00:00.732549Z",
    }
    server = Server(
        {
            "GET /api/v2/instance": [httpx.Response(200, json=INSTANCE, headers=api)],
            "POST /api/v2/media": [httpx.Response(200, json=MEDIA, headers=media)],
        }
    )
    run = _social_upload(
        tmp_path, hermetic_env, config, server, options=UploadOptions(description="alt")
    )
    assert run.exit_code == ExitCode.OK
    assert run.results[0].url == FILE_URL
    limiter = runtime_module.wire(config, "social", run.runtime).limiter
    states = {s.bucket: s for s in limiter.states()}
    # The upload's headers name the media bucket; its api credit is counted locally.
    assert (states["api"].remaining, states["media"].remaining) == (298, 29)
    assert states["api"].reset_at == pytest.approx(NOW + 300.824007)
    assert states["media"].reset_at == pytest.approx(NOW + 600.732549)
    assert len(server.requests("GET /api/v2/instance")) == 1


def test_through_the_pipeline_the_media_poll_waits_on_the_runtimes_sleep(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    config = config_of(f'[providers.social]\nkind = "mastodon"\nbase_url = "{BASE}"\n', tmp_path)
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(202, json=PENDING)],
            f"GET /api/v1/media/{MID}": [httpx.Response(200, json=MEDIA)],
        }
    )
    fake = FakeTime(NOW)
    run = _social_upload(tmp_path, hermetic_env, config, server, clock=fake)
    assert run.exit_code == ExitCode.OK
    assert run.results[0].url == FILE_URL
    assert fake.sleeps == [0.5]  # the first poll's wait, on the injected sleep
    assert len(server.requests(f"GET /api/v1/media/{MID}")) == 1


def test_a_file_too_large_gets_a_hint_naming_what_shrinks_a_picture(tmp_path: Path) -> None:
    response = httpx.Response(413, text="<html><title>413 Request Entity Too Large</title></html>")
    server = Server({"POST /api/v2/media": [response]})
    with pytest.raises(ProviderError) as info:
        _provider(server, tmp_path).upload(_image(tmp_path), UploadOptions())
    hint = info.value.hint or ""
    assert "--max-dimension PX" in hint
    assert "--fit" in hint


@pytest.mark.parametrize(
    ("poll_answer", "code", "said"),
    [
        (httpx.Response(206, json=PENDING), ExitCode.PROVIDER, "still processing media"),
        (
            httpx.Response(422, json={"error": "Error processing thumbnail for uploaded media"}),
            ExitCode.PROVIDER,
            "could not process media",
        ),
        (
            httpx.Response(401, json={"error": "The access token is invalid"}),
            ExitCode.AUTH,
            "The access token is invalid",
        ),
        (httpx.Response(200, json=[MEDIA]), ExitCode.PROVIDER, "not an object"),
    ],
)
def test_a_media_that_failed_after_it_was_created_keeps_its_id_in_the_record(
    tmp_path: Path,
    hermetic_env: dict[str, str],
    poll_answer: httpx.Response,
    code: ExitCode,
    said: str,
) -> None:
    """The 202 created the media: whatever ends the wait, the file's record names it (for
    `uploader info` and `uploader delete`), and it is not uploaded a second time."""
    config = config_of(
        f'[providers.social]\nkind = "mastodon"\nbase_url = "{BASE}"\npoll_timeout = 3\n',
        tmp_path,
    )
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(202, json=PENDING)],
            f"GET /api/v1/media/{MID}": [poll_answer],
        }
    )
    run = _social_upload(tmp_path, hermetic_env, config, server)
    assert run.exit_code == code
    (result,) = run.results
    assert (result.status, result.id, result.delete_id) == ("failed", MID, MID)
    assert said in (result.error or "")
    assert len(server.requests("POST /api/v2/media")) == 1


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (httpx.Response(504, text="<html>504 Gateway Time-out</html>"), "HTTP 504"),
        (httpx.Response(524, text="A timeout occurred"), "HTTP 524"),
        (httpx.Response(200, json={**MEDIA, "id": None}), "sent no media id"),
        (httpx.Response(202, json={"type": "image"}), "sent no media id"),
    ],
)
def test_an_upload_the_server_may_have_stored_is_ambiguous_and_not_resent(
    tmp_path: Path, hermetic_env: dict[str, str], answer: httpx.Response, said: str
) -> None:
    """A gateway's timeout after the whole file went, or a 2xx that names no media: the
    media may exist. Ambiguous (exit 5), never sent a second time."""
    config = config_of(f'[providers.social]\nkind = "mastodon"\nbase_url = "{BASE}"\n', tmp_path)
    server = Server({"POST /api/v2/media": [answer]})
    run = _social_upload(tmp_path, hermetic_env, config, server, patient=True)
    assert run.exit_code == ExitCode.PROVIDER
    (result,) = run.results
    assert (result.status, result.ambiguous) == ("failed", True)
    assert said in (result.error or "")
    assert len(server.requests("POST /api/v2/media")) == 1


def test_an_unreadable_processing_check_is_polled_through(tmp_path: Path) -> None:
    """A cut 200 from the poll is as transient as a 503: the media exists, so it is asked
    again, never sent again."""
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(202, json=PENDING)],
            f"GET /api/v1/media/{MID}": [
                httpx.Response(
                    200, text='{"id": "1170', headers={"Content-Type": "application/json"}
                ),
                httpx.Response(200, json=MEDIA),
            ],
        }
    )
    result = _provider(server, tmp_path).upload(_image(tmp_path), UploadOptions())
    assert (result.status, result.id, result.url) == ("uploaded", MID, FILE_URL)
    assert len(server.requests(f"GET /api/v1/media/{MID}")) == 2
    assert len(server.requests("POST /api/v2/media")) == 1


@pytest.mark.parametrize(
    ("limit", "alt", "refused"),
    [
        (1500, "a" * 1501, True),
        (1500, "é" * 1500, False),  # characters, not bytes
        (10000, "a" * 1501, False),  # 4.6.4's limit
        (None, "a" * 20000, False),  # not said: the server judges
        ("1500", "a" * 1501, False),  # not a number: not said
    ],
)
def test_alt_text_over_the_servers_description_limit_is_refused_before_sending(
    tmp_path: Path,
    hermetic_env: dict[str, str],
    limit: object,
    alt: str,
    refused: bool,
) -> None:
    """Reference 3.4/3.6: the server refuses a description over its description_limit with
    a 422 after the whole file was sent; the limit it announces is checked first."""
    media_config = {**INSTANCE["configuration"]["media_attachments"], "description_limit": limit}  # type: ignore[index]
    instance = {**INSTANCE, "configuration": {"media_attachments": media_config}}
    server = Server(
        {
            "GET /api/v2/instance": [httpx.Response(200, json=instance)],
            "POST /api/v2/media": [httpx.Response(200, json=MEDIA)],
        }
    )
    run = _social_upload(
        tmp_path,
        hermetic_env,
        config_of(f'[providers.social]\nkind = "mastodon"\nbase_url = "{BASE}"\n', tmp_path),
        server,
        options=UploadOptions(description=alt),
    )
    (result,) = run.results
    if refused:
        assert run.exit_code == ExitCode.USAGE
        assert result.status == "failed"
        assert f"has {len(alt)} characters; {BASE} accepts at most 1500" in (result.error or "")
        assert not server.requests("POST /api/v2/media")
    else:
        assert (run.exit_code, result.status) == (ExitCode.OK, "uploaded")
        (sent,) = server.requests("POST /api/v2/media")
        assert alt.encode() in sent.content


@pytest.mark.parametrize("media_id", [None, ""])
def test_info_of_an_answer_with_a_null_id_names_no_id(tmp_path: Path, media_id: object) -> None:
    """Any value of a real answer may be null: a null id is no id (not the text "None")."""
    from uploader.commands.lookup import info_record

    server = Server(
        {f"GET /api/v1/media/{MID}": [httpx.Response(200, json={**MEDIA, "id": media_id})]}
    )
    info = _provider(server, tmp_path).info(MID)
    assert (info.id, info.delete_id, info.url) == ("", None, FILE_URL)
    assert info_record(info)["id"] == ""


@pytest.mark.parametrize("url", [123, [FILE_URL], "javascript:alert(1)", "files/x.png"])
def test_a_media_url_that_is_no_link_is_waited_on_never_reported(
    tmp_path: Path, url: object
) -> None:
    """A 200 whose ``url`` is no link is not the media's link: it is polled like a
    queued one (reference 3.4), and reported only with the link the poll gives."""
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(200, json={**MEDIA, "url": url})],
            f"GET /api/v1/media/{MID}": [
                httpx.Response(200, json={**MEDIA, "url": url}),
                httpx.Response(200, json=MEDIA),
            ],
        }
    )
    result = _provider(server, tmp_path).upload(_image(tmp_path), UploadOptions())
    assert (result.id, result.url) == (MID, FILE_URL)
    assert len(server.requests(f"GET /api/v1/media/{MID}")) == 2
    assert len(server.requests("POST /api/v2/media")) == 1
    looked = Server({f"GET /api/v1/media/{MID}": [httpx.Response(200, json={**MEDIA, "url": url})]})
    info = _provider(looked, tmp_path).info(MID)
    assert info.url is None
    assert ("state", "processing") in info.extra
