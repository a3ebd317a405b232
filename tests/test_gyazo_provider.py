"""The Gyazo provider against httpx.MockTransport: requests sent, every answer mapped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.http import Routes
from tests.support.images import WHOLE, write_png, write_sized_png
from tests.support.pipeline import Run, run_upload
from tests.support.providers import config_of, make_provider
from uploader.commands.lookup import info_record, list_page, local_time
from uploader.config.options import KINDS
from uploader.config.settings import parse_config
from uploader.errors import (
    AmbiguousUploadError,
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
from uploader.models import ImageFile, UploadOptions, UploadResult
from uploader.providers.base import ProviderContext
from uploader.providers.gyazo import GyazoProvider
from uploader.providers.recovery import RunClaims, Window
from uploader.ratelimit.bucket import Refusal

API = "http://127.0.0.1:1/gyazo"
UPLOAD = "http://127.0.0.1:1/gyazo-upload"
TOKEN = "gyazo-token-123"
ID = "8980c52421e452ac3355ca3e5cfe7a0c"
NOW = 1_556_884_655.0  # 2019-05-03T11:57:35Z
UPLOADED = {
    "image_id": ID,
    "permalink_url": f"https://gyazo.com/{ID}",
    "thumb_url": "https://thumb.gyazo.com/thumb/200/abc.png",
    "url": f"https://i.gyazo.com/{ID}.png",
    "type": "png",
    "created_at": "2019-05-03T11:57:35+0000",
}
Handler = Callable[[httpx.Request], httpx.Response]


def _provider(
    handler: Handler,
    tmp_path: Path,
    extra: str = "",
    *,
    env: dict[str, str] | None = None,
    cache: EtagCache | None = None,
) -> GyazoProvider:
    return make_provider(
        GyazoProvider,
        f'[providers.gy]\nkind = "gyazo"\nbase_url = "{API}"\nupload_url = "{UPLOAD}"\n' + extra,
        "gy",
        handler,
        tmp_path,
        env={"UPLOADER_GY_ACCESS_TOKEN": TOKEN} if env is None else env,
        clock=lambda: NOW,
        cache=cache,
    )


def _image(tmp_path: Path) -> ImageFile:
    return inspect_path(str(write_png(tmp_path / "a.png")))


def _recorder(*responses: httpx.Response) -> tuple[list[httpx.Request], Handler]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return responses[min(len(seen), len(responses)) - 1]

    return seen, handler


def test_upload_request_fields_and_result(tmp_path: Path) -> None:
    seen, handler = _recorder(httpx.Response(200, json=UPLOADED))
    provider = _provider(
        handler,
        tmp_path,
        'access_policy = "anyone"\nmetadata_is_public = false\n'
        'referer_url = "https://example.org/page"\napp = "uploader"\ncollection_id = "col-9"\n',
    )
    result = provider.upload(
        _image(tmp_path), UploadOptions(title="T", description="D", access_policy="only_me")
    )
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == f"{UPLOAD}/api/upload"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    body = request.content
    assert b'name="imagedata"; filename="a.png"' in body
    assert b"Content-Type: image/png" in body
    assert (tmp_path / "a.png").read_bytes() in body
    for name, value in (
        ("title", "T"),
        ("desc", "D"),
        ("access_policy", "only_me"),  # the command line wins over the profile
        ("metadata_is_public", "false"),
        ("referer_url", "https://example.org/page"),
        ("app", "uploader"),
        ("collection_id", "col-9"),
    ):
        assert f'name="{name}"\r\n\r\n{value}\r\n'.encode() in body
    assert b'name="description"' not in body
    assert b'name="created_at"' not in body
    assert b"access_token" not in body
    assert result == UploadResult(
        path=str(tmp_path / "a.png"),
        provider="gy",
        status="uploaded",
        id=ID,
        url=f"https://i.gyazo.com/{ID}.png",
        delete_id=ID,
        extra=(
            ("permalink_url", f"https://gyazo.com/{ID}"),
            ("thumb_url", "https://thumb.gyazo.com/thumb/200/abc.png"),
        ),
    )


def test_profile_access_policy_and_minimal_fields(tmp_path: Path) -> None:
    seen, handler = _recorder(httpx.Response(200, json=UPLOADED))
    _provider(handler, tmp_path, 'access_policy = "only_me"\nmetadata_is_public = true\n').upload(
        _image(tmp_path), UploadOptions()
    )
    body = seen[0].content
    assert b'name="access_policy"\r\n\r\nonly_me\r\n' in body
    assert b'name="metadata_is_public"\r\n\r\ntrue\r\n' in body
    assert b'name="title"' not in body
    assert b'name="desc"' not in body


def test_default_upload_host(tmp_path: Path) -> None:
    config = parse_config('[providers.gy]\nkind = "gyazo"\n', tmp_path / "c.toml")
    profile = config.profile("gy")
    assert profile.base_url == KINDS["gyazo"].default_base_url == "https://api.gyazo.com"
    credential = GyazoProvider.resolve_credential(profile, {"UPLOADER_GY_ACCESS_TOKEN": "t"})
    provider = GyazoProvider(ProviderContext(profile, credential, httpx.Client()))
    assert provider.upload_url == "https://upload.gyazo.com"


def test_missing_token_is_an_auth_error(tmp_path: Path) -> None:
    profile = parse_config('[providers.gy]\nkind = "gyazo"\n', tmp_path / "c.toml").profile("gy")
    with pytest.raises(AuthError) as info:
        GyazoProvider.resolve_credential(profile, {})
    assert info.value.exit_code == ExitCode.AUTH
    assert "no Gyazo access token" in info.value.message
    assert "UPLOADER_GY_ACCESS_TOKEN" in (info.value.hint or "")
    assert "https://gyazo.com/oauth/applications" in (info.value.hint or "")


def _body(message: str, status_request: str = "/api/upload") -> dict[str, str]:
    return {"message": message, "request": status_request, "method": "POST"}


@pytest.mark.parametrize(
    ("response", "kind", "code", "fragment"),
    [
        (httpx.Response(400, json=_body("imagedata is required")), ProviderError, 5, "imagedata"),
        (
            httpx.Response(401, json=_body("This method requires authentication")),
            AuthError,
            3,
            "This method requires authentication",
        ),
        (httpx.Response(402, json=_body("Upgrade required")), ProviderError, 5, "Gyazo Pro"),
        # Reference 2.5: 403 is "no permission"; only one about the token is exit 3.
        (httpx.Response(403, json=_body("Forbidden")), ProviderError, 5, "Forbidden"),
        (
            httpx.Response(403, json=_body("You don't have permission")),
            ProviderError,
            5,
            "Gyazo refused the upload: You don't have permission (HTTP 403)",
        ),
        (
            httpx.Response(403, json=_body("The access token lacks the upload scope")),
            AuthError,
            3,
            "Gyazo refused the access token",
        ),
        (httpx.Response(404, json=_body("Not Found")), ProviderError, 5, "no such image"),
        (httpx.Response(422, json=_body("Invalid image")), ProviderError, 5, "Invalid image"),
        (httpx.Response(429, json=_body("Too many requests")), RateLimitError, 4, "rate limit"),
        (httpx.Response(429, text=""), RateLimitError, 4, "empty body"),
        (httpx.Response(500, json=_body("Internal error")), ServerError, 5, "Internal error"),
        (
            httpx.Response(
                502,
                text="<html><title>502 Bad Gateway</title>",
                headers={"content-type": "text/html"},
            ),
            ServerError,
            5,
            "502 Bad Gateway",
        ),
        (
            httpx.Response(400, text="\n", headers={"content-type": "text/plain"}),
            ProviderError,
            5,
            "not JSON",
        ),
        (httpx.Response(413, text="", headers={}), ProviderError, 5, "too large"),
        (
            httpx.Response(200, text="<html>ok</html>"),
            UnreadableAnswerError,
            5,
            "Gyazo answered the upload with HTTP 200 and a body that is not JSON",
        ),
        (httpx.Response(200, json={"type": "png"}), UnreadableAnswerError, 5, "no image id"),
        (httpx.Response(200, json=[UPLOADED]), ProviderError, 5, "not an object"),
    ],
)
def test_error_shapes(
    tmp_path: Path, response: httpx.Response, kind: type[UploaderError], code: int, fragment: str
) -> None:
    with pytest.raises(UploaderError) as info:
        _provider(lambda _r: response, tmp_path).upload(_image(tmp_path), UploadOptions())
    error = info.value
    assert type(error) is kind
    assert error.exit_code == code
    assert fragment in error.message
    assert "\n" not in error.message
    assert TOKEN not in error.message + (error.hint or "")


def test_auth_error_hints_name_the_variable(tmp_path: Path) -> None:
    response = httpx.Response(401, json=_body("This method requires authentication"))
    with pytest.raises(AuthError) as info:
        _provider(lambda _r: response, tmp_path).upload(_image(tmp_path), UploadOptions())
    assert "UPLOADER_GY_ACCESS_TOKEN" in (info.value.hint or "")


def test_429_retry_after_header_then_message_hint(tmp_path: Path) -> None:
    limited = httpx.Response(429, json=_body("slow down"), headers={"Retry-After": "30"})
    with pytest.raises(RateLimitError) as info:
        _provider(lambda _r: limited, tmp_path).upload(_image(tmp_path), UploadOptions())
    assert info.value.from_server is True
    assert info.value.retry_after == 30.0
    hinted = httpx.Response(429, json=_body("Please wait 2 minutes"))
    provider = _provider(lambda _r: hinted, tmp_path)
    with pytest.raises(RateLimitError) as info:
        provider.upload(_image(tmp_path), UploadOptions())
    assert info.value.retry_after == 120.0
    assert provider.rate_refusal(limited) == Refusal(retry_after=30.0)
    assert provider.rate_refusal(hinted) == Refusal(retry_after=120.0)
    assert provider.rate_refusal(httpx.Response(429)) == Refusal(retry_after=None)
    assert provider.rate_refusal(httpx.Response(503, headers={"Retry-After": "5"})) is None


def test_limits_refuse_before_any_request(tmp_path: Path) -> None:
    seen, handler = _recorder(httpx.Response(200, json=UPLOADED))
    provider = _provider(handler, tmp_path, "max_image_size = 1000\n")
    big = inspect_path(str(write_sized_png(tmp_path / "big.png", 2000)))
    with pytest.raises(InputFileError) as info:
        provider.upload(big, UploadOptions())
    assert "over Gyazo's" in info.value.message
    video = tmp_path / "clip.mp4"
    video.write_bytes(WHOLE["mp4"])
    with pytest.raises(InputFileError) as info:
        provider.upload(inspect_path(str(video)), UploadOptions())
    assert "video/mp4 files are not accepted by Gyazo" in info.value.message
    assert seen == []
    assert _provider(handler, tmp_path).limits().max_image_size == 10 * 1024 * 1024


class ImageServer:
    """A stateful fake API: one image with a weak ETag, 304 to a matching validator."""

    etag = 'W/"a7e412cdca22553f942685d4ee5e1faf"'

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if request.method == "DELETE":
            return httpx.Response(200, json={"image_id": ID, "type": "png"})
        if request.headers.get("if-none-match") == self.etag:
            return httpx.Response(304, headers={"etag": self.etag})
        image = {
            **UPLOADED,
            "metadata": {"app": "uploader", "title": "Shot", "url": None, "desc": "hello"},
            "ocr": {"locale": "en", "description": "text"},
        }
        return httpx.Response(200, json=image, headers={"etag": self.etag})


def test_info_revalidates_with_the_stored_weak_etag(tmp_path: Path) -> None:
    server = ImageServer()
    provider = _provider(server, tmp_path, cache=EtagCache(tmp_path / "cache"))
    first = provider.info(ID)
    second = provider.info(f"https://gyazo.com/{ID}")
    assert [str(r.url) for r in server.seen] == [f"{API}/api/images/{ID}"] * 2
    assert server.seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert "if-none-match" not in server.seen[0].headers
    assert server.seen[1].headers["if-none-match"] == 'W/"a7e412cdca22553f942685d4ee5e1faf"'
    assert first.id == second.id == ID
    assert second.url == f"https://i.gyazo.com/{ID}.png"
    assert (second.title, second.description, second.mime_type) == ("Shot", "hello", "image/png")
    assert second.created_at == NOW
    assert second.delete_id == ID
    assert ("app", "uploader") in second.extra
    assert ("cache", "revalidated (304)") in second.extra
    assert ("cache", "revalidated (304)") not in first.extra


def test_delete_by_link_and_invalidates_the_cache(tmp_path: Path) -> None:
    server = ImageServer()
    provider = _provider(server, tmp_path, cache=EtagCache(tmp_path / "cache"))
    provider.info(ID)
    message = provider.delete(f"https://i.gyazo.com/{ID}.png")
    assert message == f"deleted Gyazo image {ID}"
    assert server.seen[1].method == "DELETE"
    assert str(server.seen[1].url) == f"{API}/api/images/{ID}"
    assert server.seen[1].headers["authorization"] == f"Bearer {TOKEN}"
    provider.info(ID)
    assert "if-none-match" not in server.seen[2].headers


def test_delete_of_someone_elses_image(tmp_path: Path) -> None:
    response = httpx.Response(404, json={"message": "Not Found", "request": "/api/images/x"})
    with pytest.raises(ProviderError) as info:
        _provider(lambda _r: response, tmp_path).delete(ID)
    assert "no such image" in info.value.message


@pytest.mark.parametrize(
    "ref",
    [ID, f"https://gyazo.com/{ID}", f"https://i.gyazo.com/{ID}.png", f" http://gyazo.com/{ID}/ "],
)
def test_image_ids_from_links(ref: str, tmp_path: Path) -> None:
    seen, handler = _recorder(httpx.Response(200, json=UPLOADED))
    provider = _provider(handler, tmp_path)
    assert provider.info(ref).id == ID
    assert provider.delete(ref) == f"deleted Gyazo image {ID}"
    assert [(r.method, str(r.url)) for r in seen] == [
        ("GET", f"{API}/api/images/{ID}"),
        ("DELETE", f"{API}/api/images/{ID}"),
    ]


def test_bad_reference_is_a_usage_error(tmp_path: Path) -> None:
    seen, handler = _recorder(httpx.Response(200, json=UPLOADED))
    provider = _provider(handler, tmp_path)
    with pytest.raises(UsageError):
        provider.delete("https://gyazo.com/")
    with pytest.raises(UsageError):
        provider.info("https://gyazo.com/")
    assert seen == []


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2014-05-21 14:23:10+0900", 1400649790.0),
        ("2018-07-24T07:33:24.771Z", 1532417604.771),
        ("2019-05-03T11:57:35+0000", NOW),
        ("2019-05-03T11:57:35", NOW),
        (NOW, NOW),
        ("2019-05-03T11:57:35 UTC", NOW),
        ("yesterday", None),
        (None, None),
        # Times no date can show: never a crash of `info`, no date at all.
        ("nan", None),
        ("inf", None),
        ("1e400", None),
        (10**400, None),
        (1e30, None),
        (-1, None),
        ("9999-12-31T23:59:59-2359", None),
        ("0001-01-01T00:00:00+0100", None),
    ],
)
def test_timestamps_parse_loosely(text: object, epoch: float | None, tmp_path: Path) -> None:
    _seen, handler = _recorder(httpx.Response(200, json={**UPLOADED, "created_at": text}))
    info = _provider(handler, tmp_path).info(ID)
    assert info.created_at == epoch
    record = info_record(info)
    assert (record["created_at"] is None) == (epoch is None)


@pytest.mark.parametrize("epoch", [float("nan"), float("inf"), 1e300, -1e300, 253402300800.0])
def test_a_time_no_date_can_show_is_printed_as_none(epoch: float) -> None:
    assert local_time(epoch) is None
    assert local_time(None) is None
    assert local_time(NOW) is not None


LISTING = [
    UPLOADED,
    {"image_id": "", "url": None, "type": "png", "created_at": "2014-05-21 14:23:10+0900"},
    {"type": "jpg", "thumb_url": "https://i.gyazo.com/thumb/180/old.jpg"},
]
PAGING = {"X-Total-Count": "350", "X-Current-Page": "2", "X-Per-Page": "20", "X-User-Type": "lite"}


def test_list_uploads_page_and_totals(tmp_path: Path) -> None:
    seen, handler = _recorder(httpx.Response(200, json=LISTING, headers=PAGING))
    provider = _provider(handler, tmp_path)
    assert provider.last_page_info() is None
    items = provider.list_uploads(2)
    assert str(seen[0].url) == f"{API}/api/images?page=2&per_page=20"
    assert [(i.id, i.url) for i in items] == [(ID, UPLOADED["url"]), ("", None), ("", None)]
    assert items[1].created_at == 1400649790.0
    assert items[2].mime_type == "image/jpeg"
    page = provider.last_page_info()
    assert page is not None
    assert (page.total, page.page, page.per_page, page.user_type) == (350, 2, 20, "lite")
    provider.list_uploads(-1)  # "no --page": the first page
    assert seen[1].url.params["page"] == "1"


@pytest.mark.parametrize(
    "paging",
    [
        {"X-Total-Count": "-350", "X-Current-Page": "2", "X-Per-Page": "20"},
        {"X-Total-Count": "350", "X-Current-Page": "-2", "X-Per-Page": "20"},
        {"X-Total-Count": "350", "X-Current-Page": "2", "X-Per-Page": "-20"},
        {"X-Total-Count": "350", "X-Current-Page": "0", "X-Per-Page": "0"},
        {"X-Total-Count": "n/a", "X-Current-Page": "", "X-Per-Page": "twenty"},
    ],
)
def test_paging_headers_out_of_range_are_no_paging_line(
    paging: dict[str, str], tmp_path: Path
) -> None:
    """A negative total or a page (size) below 1 is not shown as "page 2 of 1 (-350
    uploads)": the listing is printed without a paging line."""
    _seen, handler = _recorder(httpx.Response(200, json=LISTING, headers=paging))
    items, line = list_page(_provider(handler, tmp_path), 2)
    assert len(items) == 3
    # A page size below 1 is unknown: the page's own length (3) stands in for it.
    assert line in (None, "page 2 of 117 (350 uploads)"), line
    _seen, handler = _recorder(httpx.Response(200, json=LISTING, headers=PAGING))
    assert list_page(_provider(handler, tmp_path), 2)[1] == "page 2 of 18 (350 uploads)"


def _find(provider: GyazoProvider, image: ImageFile, since: float, claimed: tuple[str, ...] = ()):
    return provider.find_upload(
        image, window=Window(since, since), claims=RunClaims(claimed=set(claimed))
    )


def test_find_upload_matches_on_type_and_time_only_when_unique(tmp_path: Path) -> None:
    older = {**UPLOADED, "image_id": "old", "created_at": "2019-05-03T11:50:00+0000"}
    seen, handler = _recorder(httpx.Response(200, json=[UPLOADED, older]))
    provider = _provider(handler, tmp_path)
    image = _image(tmp_path)
    found = _find(provider, image, NOW - 2)
    assert found is not None
    assert (found.id, found.url, found.delete_id) == (ID, UPLOADED["url"], ID)
    assert ("recovered", "found among recent uploads after a lost answer") in found.extra
    assert str(seen[0].url) == f"{API}/api/images?page=1&per_page=100"
    # Once reported, an image is never taken for another file's lost upload; made 10
    # minutes after the attempt, it is not this upload either (it may be a late copy).
    for again, since, claimed in (
        (provider, NOW - 2, ()),
        (_provider(handler, tmp_path), NOW - 2, (ID,)),
        (_provider(handler, tmp_path), NOW - 600, ()),
    ):
        with pytest.raises(AmbiguousUploadError):
            _find(again, image, since, claimed)


def test_find_upload_with_two_candidates_is_ambiguous(tmp_path: Path) -> None:
    twin = {**UPLOADED, "image_id": "twin", "url": "https://i.gyazo.com/twin.png"}
    provider = _provider(lambda _r: httpx.Response(200, json=[UPLOADED, twin]), tmp_path)
    with pytest.raises(AmbiguousUploadError) as info:
        _find(provider, _image(tmp_path), NOW)
    assert "2 recent Gyazo upload(s) could be it" in info.value.message
    assert provider.can_find_uploads() is True


def test_find_upload_of_another_type_is_not_this_file(tmp_path: Path) -> None:
    jpeg = {**UPLOADED, "type": "jpg"}
    provider = _provider(lambda _r: httpx.Response(200, json=[jpeg]), tmp_path)
    # Not this file, but maybe a re-encoding of it: no proof either way.
    with pytest.raises(AmbiguousUploadError, match="could be it but do not match all"):
        _find(provider, _image(tmp_path), NOW)


def test_own_uploads_are_not_recovered_for_other_files(tmp_path: Path) -> None:
    answers = iter([httpx.Response(200, json=UPLOADED), httpx.Response(200, json=[UPLOADED])])
    provider = _provider(lambda _r: next(answers), tmp_path)
    provider.upload(_image(tmp_path), UploadOptions())
    with pytest.raises(AmbiguousUploadError, match="does not show it yet"):
        _find(provider, _image(tmp_path), NOW)


def test_rate_limits_are_counted_locally(tmp_path: Path) -> None:
    seen, handler = _recorder(httpx.Response(200, json=UPLOADED))
    provider = _provider(handler, tmp_path)
    (spec,) = GyazoProvider.bucket_specs(provider.profile)
    assert (spec.name, spec.default_limit, spec.window, spec.counted) == (
        "daily",
        12500,
        86400.0,
        True,
    )
    assert provider.live_limits() == []
    assert provider.rate_updates(httpx.Response(200, headers={"X-RateLimit-Limit": "1"})) == []
    assert seen == []


def test_through_the_pipeline_the_daily_bucket_counts_and_429_stops(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    from uploader.commands import runtime as runtime_module

    config = config_of(
        f'[providers.gy]\nkind = "gyazo"\nbase_url = "{API}"\nupload_url = "{UPLOAD}"\n',
        tmp_path,
    )
    server = Routes({"POST /gyazo-upload/api/upload": [httpx.Response(200, json=UPLOADED)]})
    env = {**hermetic_env, "UPLOADER_GY_ACCESS_TOKEN": TOKEN}
    image = str(write_png(tmp_path / "a.png"))

    def upload() -> Run:
        transport = httpx.MockTransport(server)
        return run_upload(
            config,
            [image],
            env,
            FakeTime(NOW),
            transport=transport,
            provider="gy",
            on_limit="fail",
            max_wait=0,
        )

    run = upload()
    assert run.exit_code == ExitCode.OK
    assert run.results[0].url == UPLOADED["url"]
    (state,) = runtime_module.wire(config, "gy", run.runtime).limiter.states()
    assert (state.bucket, state.limit, state.remaining, state.source) == (
        "daily",
        12500,
        12499,
        "counted",
    )
    assert state.reset_at == NOW + 86400
    server.answers["POST /gyazo-upload/api/upload"].append(
        httpx.Response(429, json=_body("Too many requests"))
    )
    run = upload()
    assert run.exit_code == ExitCode.RATE_LIMITED
    assert len(server.seen) == 2  # after the 429 the limiter paused the bucket: no third request
    assert "paused after the server refused" in (run.results[-1].error or "")


def test_a_file_too_large_gets_a_hint_naming_what_shrinks_a_picture(tmp_path: Path) -> None:
    response = httpx.Response(413, text="", headers={})
    with pytest.raises(ProviderError) as info:
        _provider(lambda _r: response, tmp_path).upload(_image(tmp_path), UploadOptions())
    hint = info.value.hint or ""
    assert "--max-dimension PX" in hint
    assert "--convert jpeg" in hint
    assert "max_image_size" in hint
    assert "--fit" in hint


def _signed_in_upload(tmp_path: Path, env: dict[str, str], server: Routes) -> Run:
    """``a.png`` uploaded to a signed-in Gyazo profile served by ``server``."""
    config = config_of(
        f'[providers.gy]\nkind = "gyazo"\nbase_url = "{API}"\nupload_url = "{UPLOAD}"\n',
        tmp_path,
    )
    return run_upload(
        config,
        [str(write_png(tmp_path / "a.png"))],
        {**env, "UPLOADER_GY_ACCESS_TOKEN": TOKEN},
        FakeTime(NOW),
        transport=httpx.MockTransport(server),
        provider="gy",
        on_limit="fail",
        max_wait=0,
    )


@pytest.mark.parametrize(
    ("answer", "kept"),
    [
        ({**UPLOADED, "url": None}, ID),
        ({**UPLOADED, "url": ""}, ID),
        ({k: v for k, v in UPLOADED.items() if k != "url"}, ID),
        ({**UPLOADED, "image_id": None}, None),
        ({"message": "ok"}, None),
    ],
)
def test_a_success_without_a_url_is_failed_keeping_the_image_id(
    tmp_path: Path, hermetic_env: dict[str, str], answer: dict[str, object], kept: str | None
) -> None:
    """Not reported uploaded without a link; the 200 says the image was stored, so the file
    is ambiguous (never sent again silently); an id Gyazo did send is kept in the record
    (`uploader info`/`delete` can reach it), and nothing is sent twice."""
    server = Routes({"POST /gyazo-upload/api/upload": [httpx.Response(200, json=answer)]})
    run = _signed_in_upload(tmp_path, hermetic_env, server)
    assert run.exit_code == ExitCode.PROVIDER
    (result,) = run.results
    assert (result.status, result.id, result.delete_id, result.url) == ("failed", kept, kept, None)
    assert result.ambiguous
    assert "may or may not exist" in (result.error or "")
    assert len(server.requests("POST /gyazo-upload/api/upload")) == 1


@pytest.mark.parametrize("status", [504, 524])
def test_a_gateway_timeout_on_an_upload_is_ambiguous_and_not_resent(
    tmp_path: Path, hermetic_env: dict[str, str], status: int
) -> None:
    """The whole file went; the gateway in front of Gyazo stopped waiting: it may be
    stored. Ambiguous (exit 5), never sent a second time."""
    answer = httpx.Response(status, text="<html><title>Gateway Time-out</title></html>")
    server = Routes({"POST /gyazo-upload/api/upload": [answer]})
    run = _signed_in_upload(tmp_path, hermetic_env, server)
    assert run.exit_code == ExitCode.PROVIDER
    (result,) = run.results
    assert (result.status, result.ambiguous) == ("failed", True)
    assert len(server.requests("POST /gyazo-upload/api/upload")) == 1


def test_an_image_id_missing_from_the_listing_is_a_lag_not_an_absence(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    """The answer named the image it stored: a listing without it (yet) does not prove it
    absent, so the file is not sent again; it stays ambiguous with its id."""
    server = Routes(
        {
            "POST /gyazo-upload/api/upload": [httpx.Response(200, json={**UPLOADED, "url": None})],
            "GET /gyazo/api/images": [httpx.Response(200, json=[])],
        }
    )
    run = _signed_in_upload(tmp_path, hermetic_env, server)
    assert run.exit_code == ExitCode.PROVIDER
    (result,) = run.results
    assert (result.status, result.id, result.ambiguous) == ("failed", ID, True)
    assert server.requests("GET /gyazo/api/images")  # it did look
    assert len(server.requests("POST /gyazo-upload/api/upload")) == 1


@pytest.mark.parametrize(
    "url",
    [
        123,
        ["https://i.gyazo.com/x.png"],
        "javascript:alert(1)",
        "i.gyazo.com/x.png",
        "https://i.gyazo.com/a b.png",
    ],
)
def test_an_upload_url_that_is_no_link_is_not_reported(
    tmp_path: Path, hermetic_env: dict[str, str], url: object
) -> None:
    """Any value of a real answer may be a number, a list or a non-link: the file is not
    reported uploaded with it (the image id Gyazo sent is kept)."""
    answer = {**UPLOADED, "url": url}
    server = Routes({"POST /gyazo-upload/api/upload": [httpx.Response(200, json=answer)]})
    run = _signed_in_upload(tmp_path, hermetic_env, server)
    assert run.exit_code == ExitCode.PROVIDER
    (result,) = run.results
    assert (result.status, result.id, result.url, result.ambiguous) == ("failed", ID, None, True)
    assert len(server.requests("POST /gyazo-upload/api/upload")) == 1
    _seen, handler = _recorder(httpx.Response(200, json=answer))
    assert _provider(handler, tmp_path).info(ID).url is None
