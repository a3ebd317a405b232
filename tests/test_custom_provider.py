"""The custom provider (``kind = "custom"``, ShareX definitions) against httpx.MockTransport:
the requests' bytes and headers, every answer mapped, secrets kept out of every record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http import Routes
from tests.support.images import png_bytes, write_png
from tests.support.providers import config_of, make_provider
from uploader.errors import (
    AuthError,
    ConfigError,
    ExitCode,
    InputFileError,
    ProviderError,
    RateLimitError,
    ServerError,
    UnreadableAnswerError,
    UsageError,
)
from uploader.imaging.content import fingerprint
from uploader.imaging.inspect import inspect_path
from uploader.models import ImageFile, UploadOptions
from uploader.providers.base import ProviderContext
from uploader.providers.custom import CustomProvider

HOST = "http://127.0.0.1:1"
KEY = "chev-key-0123456789"
TOKEN = "xbb-token-abcdef987"
ENV = {"UPLOADER_CHEV_API_KEY": KEY, "UPLOADER_XBB_TOKEN": TOKEN}
NOW = 1_900_000_000.0

CHEVERETO = f"""
[providers.chev]
kind = "custom"
Name = "Chevereto"
DestinationType = "ImageUploader, FileUploader"
RequestURL = "{HOST}/custom/chevereto/api/1/upload?format=json"
Body = "MultipartFormData"
FileFormName = "source"
URL = "{{json:image.url}}"
ThumbnailURL = "{{json:image.thumb.url}}"
DeletionURL = "{{json:image.delete_url}}"
ErrorMessage = "{{json:error.message}}"
[providers.chev.Headers]
X-API-Key = "{{secret:api_key}}"
[providers.chev.Arguments]
title = "{{filename}}"
"""

XBACKBONE = f"""
[providers.xbb]
kind = "custom"
Name = "XBackBone"
DestinationType = "ImageUploader, FileUploader"
RequestURL = "{HOST}/custom/xbackbone/upload"
Body = "MultipartFormData"
FileFormName = "upload"
URL = "{{json:url}}"
ThumbnailURL = "{{json:url}}/raw"
DeletionURL = "{{json:url}}/delete/{{secret:token}}"
[providers.xbb.Arguments]
token = "{{secret:token}}"
"""

BINARY = f"""
[providers.bin]
kind = "custom"
DestinationType = "ImageUploader"
RequestMethod = "PUT"
RequestURL = "{HOST}/put/{{filename}}"
Body = "Binary"
[providers.bin.Parameters]
expires = "7d"
"""


def _sized(size: int) -> str:
    """BINARY with ``max_file_size`` (in its table, before the Parameters sub-table)."""
    return BINARY.replace('Body = "Binary"', f'Body = "Binary"\nmax_file_size = {size}')


CHEV_ANSWER = {
    "status_code": 200,
    "image": {
        "url": f"{HOST}/custom/chevereto/images/Ab12.png",
        "thumb": {"url": f"{HOST}/custom/chevereto/images/Ab12.th.png"},
        "delete_url": f"{HOST}/custom/chevereto/delete/Ab12/hash99",
    },
}


def _provider(
    text: str, name: str, routes: Routes, tmp_path: Path, env: dict[str, str] | None = None
) -> CustomProvider:
    return make_provider(
        CustomProvider,
        text,
        name,
        routes,
        tmp_path,
        env=ENV if env is None else env,
        clock=lambda: NOW,
    )


def _image(tmp_path: Path, *, held: bool = False, seed: int = 1) -> ImageFile:
    path = write_png(tmp_path / "shot.png", seed=seed)
    image = inspect_path(str(path))
    return fingerprint(image) if held else image


# -- the request ------------------------------------------------------------------------------


@pytest.mark.parametrize("held", [False, True])
def test_multipart_upload_sends_the_file_the_secret_header_and_the_arguments(
    tmp_path: Path, held: bool
) -> None:
    routes = Routes(
        {"POST /custom/chevereto/api/1/upload": [httpx.Response(200, json=CHEV_ANSWER)]}
    )
    provider = _provider(CHEVERETO, "chev", routes, tmp_path)
    image = _image(tmp_path, held=held)
    result = provider.upload(image, UploadOptions())
    (request,) = routes.seen
    assert request.method == "POST"
    assert request.url.params["format"] == "json"  # the query of RequestURL, kept
    assert request.headers["X-API-Key"] == KEY
    body = request.content
    assert png_bytes(seed=1) in body
    assert b'name="source"; filename="shot.png"' in body
    assert b'name="title"\r\n\r\nshot.png' in body
    assert "content-length" in request.headers
    assert result.status == "uploaded"
    assert result.url == CHEV_ANSWER["image"]["url"]  # type: ignore[index]
    assert result.id == "Ab12.png"
    assert dict(result.extra) == {"thumbnail": f"{HOST}/custom/chevereto/images/Ab12.th.png"}
    assert result.delete_id == f"{HOST}/custom/chevereto/delete/Ab12/hash99"


@pytest.mark.parametrize("held", [False, True])
def test_binary_body_is_the_file_itself_with_its_type_and_length(
    tmp_path: Path, held: bool
) -> None:
    routes = Routes({"PUT /put/shot.png": [httpx.Response(200, text=f" {HOST}/f/xyz.png \n")]})
    provider = _provider(BINARY, "bin", routes, tmp_path, env={})
    result = provider.upload(_image(tmp_path, held=held), UploadOptions())
    (request,) = routes.seen
    assert request.method == "PUT"
    assert request.content == png_bytes(seed=1)
    assert request.headers["Content-Type"] == "image/png"
    assert request.headers["Content-Length"] == str(len(png_bytes(seed=1)))
    assert "transfer-encoding" not in request.headers
    assert request.url.params["expires"] == "7d"
    # No URL template: the whole answer, trimmed (ShareX).
    assert result.url == f"{HOST}/f/xyz.png"
    assert result.delete_id is None
    assert result.extra == ()


def test_the_deletion_url_keeps_a_reference_never_the_secret(tmp_path: Path) -> None:
    link = f"{HOST}/custom/xbackbone/alice/Qw3.png"
    routes = Routes({"POST /custom/xbackbone/upload": [httpx.Response(201, json={"url": link})]})
    provider = _provider(XBACKBONE, "xbb", routes, tmp_path)
    result = provider.upload(_image(tmp_path), UploadOptions())
    assert b'name="token"\r\n\r\n' + TOKEN.encode() in routes.seen[0].content
    assert result.delete_id == link + "/delete/{secret:token}"
    assert dict(result.extra) == {"thumbnail": link + "/raw"}
    assert TOKEN not in repr(result)


# -- the answer -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="File uploaded"),  # no URL at all
        httpx.Response(200, text="javascript:alert(1)"),
        httpx.Response(200, text=""),
    ],
)
def test_an_answer_that_is_no_http_url_is_a_failed_upload(
    tmp_path: Path, answer: httpx.Response
) -> None:
    routes = Routes({"PUT /put/shot.png": [answer]})
    provider = _provider(BINARY, "bin", routes, tmp_path, env={})
    with pytest.raises(UnreadableAnswerError) as caught:  # sent and stored, most likely
        provider.upload(_image(tmp_path), UploadOptions())
    assert caught.value.exit_code == ExitCode.PROVIDER
    assert "URL: the answer gave" in caught.value.message


def test_a_json_path_the_answer_lacks_names_the_source_and_key(tmp_path: Path) -> None:
    routes = Routes(
        {"POST /custom/chevereto/api/1/upload": [httpx.Response(200, json={"status_code": 200})]}
    )
    provider = _provider(CHEVERETO, "chev", routes, tmp_path)
    with pytest.raises(UnreadableAnswerError) as caught:
        provider.upload(_image(tmp_path), UploadOptions())
    assert caught.value.message.startswith(f"{tmp_path / 'c.toml'}: providers.chev: URL: ")
    assert caught.value.exit_code == ExitCode.PROVIDER


def test_missing_thumbnail_and_deletion_paths_leave_them_absent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    answer = {"image": {"url": f"{HOST}/custom/chevereto/images/Ab12.png"}}
    routes = Routes({"POST /custom/chevereto/api/1/upload": [httpx.Response(200, json=answer)]})
    provider = _provider(CHEVERETO, "chev", routes, tmp_path)
    with caplog.at_level("INFO", logger="uploader.providers.custom"):
        result = provider.upload(_image(tmp_path), UploadOptions())
    assert result.status == "uploaded"
    assert result.extra == ()
    assert result.delete_id is None
    assert "ThumbnailURL" in caplog.text
    assert "DeletionURL" in caplog.text


def _error(status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> object:
    return httpx.Response(status, json=body, headers=headers or {})


KEYED = "Invalid key {key}."  # the host quotes the key back: it must show masked


@pytest.mark.parametrize(
    ("status", "said", "kind", "code"),
    [
        (401, KEYED, AuthError, ExitCode.AUTH),
        (403, KEYED, AuthError, ExitCode.AUTH),
        (413, KEYED, InputFileError, ExitCode.USAGE),
        (500, KEYED, ServerError, ExitCode.PROVIDER),
        (502, KEYED, ServerError, ExitCode.PROVIDER),
        (400, "Invalid file type.", ProviderError, ExitCode.PROVIDER),
        (404, "File not found", ProviderError, ExitCode.PROVIDER),
        (400, "Empty upload source.", ProviderError, ExitCode.PROVIDER),
        # A bad key answered with another 4xx is a credential refusal all the same.
        (400, KEYED, AuthError, ExitCode.AUTH),
        (400, "Invalid API v1 key.", AuthError, ExitCode.AUTH),  # Chevereto
        (400, "No key provided", AuthError, ExitCode.AUTH),
        (404, "Token not found.", AuthError, ExitCode.AUTH),
        (400, "E2001: Invalid token", AuthError, ExitCode.AUTH),
        (422, "API key required", AuthError, ExitCode.AUTH),
    ],
)
def test_error_answers_map_to_their_class_with_the_hosts_message_and_no_secret(
    tmp_path: Path, status: int, said: str, kind: type[Exception], code: ExitCode
) -> None:
    body = {"status_code": status, "error": {"message": said.format(key=KEY), "code": 100}}
    routes = Routes({"POST /custom/chevereto/api/1/upload": [_error(status, body)]})  # type: ignore[list-item]
    provider = _provider(CHEVERETO, "chev", routes, tmp_path)
    with pytest.raises(kind) as caught:
        provider.upload(_image(tmp_path), UploadOptions())
    error = caught.value
    assert type(error) is kind
    assert error.exit_code == code  # type: ignore[attr-defined]
    text = f"{error.message} {error.hint}"  # type: ignore[attr-defined]
    assert KEY not in text
    if status != 413:
        assert said.format(key="****") in error.message  # type: ignore[attr-defined]
    if kind is AuthError:
        assert "api_key" in error.hint  # type: ignore[attr-defined]
        assert "UPLOADER_CHEV_API_KEY" in error.hint  # type: ignore[attr-defined]


def test_an_error_without_error_message_template_shows_a_short_excerpt(tmp_path: Path) -> None:
    routes = Routes({"PUT /put/shot.png": [httpx.Response(400, text="bad  \n request " * 40)]})
    provider = _provider(BINARY, "bin", routes, tmp_path, env={})
    with pytest.raises(ProviderError) as caught:
        provider.upload(_image(tmp_path), UploadOptions())
    assert "'bad request bad request" in caught.value.message
    assert "\n" not in caught.value.message
    assert len(caught.value.message) < 300


def test_a_429_is_a_refusal_with_the_hosts_wait(tmp_path: Path) -> None:
    routes = Routes({"PUT /put/shot.png": [httpx.Response(429, headers={"Retry-After": "17"})]})
    provider = _provider(BINARY, "bin", routes, tmp_path, env={})
    refusal = provider.rate_refusal(routes(httpx.Request("PUT", f"{HOST}/put/shot.png")))
    assert refusal is not None
    assert refusal.retry_after == 17
    with pytest.raises(RateLimitError) as caught:
        provider.upload(_image(tmp_path), UploadOptions())
    assert caught.value.from_server
    assert caught.value.retry_after == 17


# -- delete -----------------------------------------------------------------------------------


def test_delete_gets_the_deletion_url_with_the_secret_put_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = f"{HOST}/custom/xbackbone/alice/Qw3.png"
    routes = Routes({"GET /custom/xbackbone/alice/Qw3.png/delete/" + TOKEN: [httpx.Response(200)]})
    provider = _provider(XBACKBONE, "xbb", routes, tmp_path)
    with caplog.at_level("DEBUG", logger="uploader"):
        said = provider.delete(link + "/delete/{secret:token}")
    assert TOKEN not in caplog.text  # -vv shows the request, never the token in its path
    assert "/delete/{secret:token}" in caplog.text
    (request,) = routes.seen
    assert request.method == "GET"
    assert request.url.path.endswith("/delete/" + TOKEN)
    assert TOKEN not in said
    assert "deleted" in said


def test_delete_of_a_gone_upload_is_a_404_provider_error(tmp_path: Path) -> None:
    routes = Routes({})  # every path: 404
    provider = _provider(CHEVERETO, "chev", routes, tmp_path)
    with pytest.raises(ProviderError) as caught:
        provider.delete(f"{HOST}/custom/chevereto/delete/Ab12/hash99")
    assert caught.value.status == 404


@pytest.mark.parametrize(
    "ref",
    [
        "https://other.example/custom/chevereto/delete/Ab12/hash99",
        "Ab12",
        "ftp://127.0.0.1:1/x",
        "http://127.0.0.2:1/custom/chevereto/delete/Ab12/hash99",
    ],
)
def test_delete_refuses_what_is_no_url_on_the_profiles_host(tmp_path: Path, ref: str) -> None:
    routes = Routes({})
    provider = _provider(CHEVERETO, "chev", routes, tmp_path)
    with pytest.raises(UsageError, match=r"is not a deletion URL on 127\.0\.0\.1:1"):
        provider.delete(ref)
    assert routes.seen == []


def test_delete_without_a_deletion_url_in_the_definition_says_so(tmp_path: Path) -> None:
    routes = Routes({})
    provider = _provider(BINARY, "bin", routes, tmp_path, env={})
    with pytest.raises(UsageError, match="has no DeletionURL"):
        provider.delete(f"{HOST}/f/xyz.png")
    assert routes.seen == []


@pytest.mark.parametrize("status", [301, 302, 303, 307])
def test_delete_answered_with_a_redirect_is_neither_deleted_nor_refused(
    tmp_path: Path, status: int
) -> None:
    link = f"{HOST}/custom/xbackbone/alice/Qw3.png"
    where = f"{HOST}/login?next=/delete/{TOKEN}"
    answer = httpx.Response(status, headers={"Location": where}, text=f"go to {where}")
    routes = Routes({"GET /custom/xbackbone/alice/Qw3.png/delete/" + TOKEN: [answer]})
    provider = _provider(XBACKBONE, "xbb", routes, tmp_path)
    with pytest.raises(ProviderError) as caught:
        provider.delete(link + "/delete/{secret:token}")
    said = str(caught.value)
    assert f"with a redirect (HTTP {status}), not followed" in said
    assert "whether it is deleted is not known" in said
    assert "refused" not in said
    assert TOKEN not in said + (caught.value.hint or "")
    assert caught.value.status == status
    assert len(routes.seen) == 1  # the redirect is not followed


def test_delete_rejected_credentials_is_an_auth_error(tmp_path: Path) -> None:
    link = f"{HOST}/custom/xbackbone/alice/Qw3.png"
    routes = Routes({"GET /custom/xbackbone/alice/Qw3.png/delete/" + TOKEN: [httpx.Response(403)]})
    provider = _provider(XBACKBONE, "xbb", routes, tmp_path)
    with pytest.raises(AuthError):
        provider.delete(link + "/delete/{secret:token}")


# -- credentials, limits ----------------------------------------------------------------------


def test_a_missing_secret_names_it_and_how_to_set_it(tmp_path: Path) -> None:
    profile = config_of(CHEVERETO, tmp_path).profile("chev")
    with pytest.raises(AuthError) as caught:
        CustomProvider.resolve_credential(profile, {})
    assert "'api_key'" in caught.value.message
    assert "UPLOADER_CHEV_API_KEY" in (caught.value.hint or "")
    assert "uploader auth set-token chev --secret api_key" in (caught.value.hint or "")


def test_the_credential_identity_is_per_host_and_secrets_and_shows_none(tmp_path: Path) -> None:
    profile = config_of(CHEVERETO, tmp_path).profile("chev")
    one = CustomProvider.resolve_credential(profile, ENV)
    same = CustomProvider.resolve_credential(profile, dict(ENV))
    other = CustomProvider.resolve_credential(profile, {"UPLOADER_CHEV_API_KEY": "another-key"})
    assert one.identity == same.identity != other.identity
    elsewhere = config_of(CHEVERETO.replace("127.0.0.1:1", "127.0.0.1:2"), tmp_path)
    moved = CustomProvider.resolve_credential(elsewhere.profile("chev"), ENV)
    assert moved.identity != one.identity
    assert KEY not in repr(one)
    assert KEY not in one.identity
    anonymous = CustomProvider.resolve_credential(config_of(BINARY, tmp_path).profile("bin"), {})
    assert anonymous.source == "none (anonymous)"


def test_limits_follow_the_destination_type_and_max_file_size(tmp_path: Path) -> None:
    files = _provider(CHEVERETO, "chev", Routes({}), tmp_path)
    assert "video/mp4" in files.limits().mime_types
    assert files.limits().max_image_size == 100 * 1024 * 1024
    images = _provider(_sized(1000), "bin", Routes({}), tmp_path, env={})
    assert "video/mp4" not in images.limits().mime_types
    assert "image/png" in images.limits().mime_types
    assert images.limits().max_image_size == 1000


def test_a_file_over_max_file_size_is_refused_before_any_request(tmp_path: Path) -> None:
    routes = Routes({})
    provider = _provider(_sized(10), "bin", routes, tmp_path, env={})
    with pytest.raises(InputFileError, match="over"):
        provider.upload(_image(tmp_path), UploadOptions())
    assert routes.seen == []


@pytest.mark.parametrize("method", ["live_limits", "list_uploads", "info"])
def test_what_custom_hosts_do_not_have_is_a_usage_error(tmp_path: Path, method: str) -> None:
    provider = _provider(BINARY, "bin", Routes({}), tmp_path, env={})
    args = () if method == "live_limits" else ((1,) if method == "list_uploads" else ("x",))
    with pytest.raises(UsageError, match="custom hosts have no"):
        getattr(provider, method)(*args)
    assert provider.can_find_uploads() is False


# -- the profile in the config ----------------------------------------------------------------


def test_a_profile_from_an_sxcu_file_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "defs").mkdir()
    definition = {
        "Version": "16.0.4",
        "DestinationType": "ImageUploader",
        "RequestURL": "https://img.example.org/api/1/upload",
        "Body": "MultipartFormData",
        "FileFormName": "source",
        "URL": "{json:image.url}",
    }
    (tmp_path / "defs" / "host.sxcu").write_text(json.dumps(definition))
    config = config_of('[providers.h]\nkind = "custom"\nsxcu = "defs/host.sxcu"\n', tmp_path)
    profile = config.profile("h")
    assert profile.base_url == "https://img.example.org"
    assert profile.option("sxcu") == str(tmp_path / "defs" / "host.sxcu")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "host.sxcu: not JSON"),
        ("[1, 2]", "host.sxcu: not a ShareX definition"),
        ('{"RequestURL": "http://img.example.org/up"}', "uses plain http to a non-loopback host"),
        ('{"RequestURL": "https://{input}/up"}', "host.sxcu: RequestURL: its scheme and host"),
    ],
)
def test_a_broken_sxcu_file_is_that_profiles_error_only(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "host.sxcu").write_text(content)
    text = (
        '[providers.h]\nkind = "custom"\nsxcu = "host.sxcu"\n'
        '[providers.im]\nkind = "imgur"\nclient_id = "cid"\n'
    )
    config = config_of(text, tmp_path)
    assert config.profile("im").kind == "imgur"  # the other profiles still work
    with pytest.raises(ConfigError, match=message) as caught:
        config.profile("h")
    assert caught.value.exit_code == ExitCode.USAGE


def test_a_custom_profile_takes_no_base_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="base_url' is not used by a custom profile"):
        config_of(BINARY.replace('Body = "Binary"', f'base_url = "{HOST}"'), tmp_path)


def test_a_binary_body_is_streamed_from_disk_not_read_whole(tmp_path: Path) -> None:
    kinds: list[str] = []

    class Recording(httpx.Client):
        def build_request(self, *args: Any, **kwargs: Any) -> httpx.Request:
            request = super().build_request(*args, **kwargs)
            kinds.append(type(request.stream).__name__)  # how httpx was handed the body
            return request

    routes = Routes({"PUT /put/shot.png": [httpx.Response(200, text=f"{HOST}/f/xyz.png")]})
    profile = config_of(BINARY, tmp_path).profile("bin")
    credential = CustomProvider.resolve_credential(profile, {})
    http = Recording(transport=httpx.MockTransport(routes))
    provider = CustomProvider(ProviderContext(profile, credential, http))
    provider.upload(_image(tmp_path), UploadOptions())  # not held: read from the file
    assert kinds == ["IteratorByteStream"]
    assert routes.seen[0].content == png_bytes(seed=1)
    assert routes.seen[0].headers["Content-Length"] == str(len(png_bytes(seed=1)))


def test_a_profile_with_both_an_sxcu_file_and_inline_keys_is_refused(tmp_path: Path) -> None:
    (tmp_path / "h.sxcu").write_text("{}")
    config = config_of(
        BINARY.replace('Body = "Binary"', 'Body = "Binary"\nsxcu = "h.sxcu"'), tmp_path
    )
    with pytest.raises(ConfigError, match="has both sxcu and inline ShareX keys"):
        config.profile("bin")


def test_a_profile_with_neither_says_how_to_make_one(tmp_path: Path) -> None:
    config = config_of('[providers.e]\nkind = "custom"\n', tmp_path)
    with pytest.raises(ConfigError) as caught:
        config.profile("e")
    assert "needs sxcu" in caught.value.message
    assert "import-sxcu" in (caught.value.hint or "")


def test_a_definitions_content_type_never_replaces_the_multipart_boundary(
    tmp_path: Path,
) -> None:
    text = CHEVERETO.replace(
        "[providers.chev.Headers]\n",
        '[providers.chev.Headers]\nContent-Type = "multipart/form-data"\n',
    )
    routes = Routes(
        {"POST /custom/chevereto/api/1/upload": [httpx.Response(200, json=CHEV_ANSWER)]}
    )
    provider = _provider(text, "chev", routes, tmp_path)
    provider.upload(_image(tmp_path), UploadOptions())
    (request,) = routes.seen
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert request.headers.get_list("Content-Type") == [request.headers["Content-Type"]]


def test_a_secret_in_the_request_urls_path_stays_out_of_the_debug_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = BINARY.replace("/put/{filename}", "/put/{secret:path_key}/{filename}")
    routes = Routes({f"PUT /put/{KEY}/shot.png": [httpx.Response(200, text=f"{HOST}/f/x.png")]})
    env = {"UPLOADER_BIN_PATH_KEY": KEY}
    provider = _provider(text, "bin", routes, tmp_path, env=env)
    with caplog.at_level("DEBUG", logger="uploader"):
        provider.upload(_image(tmp_path), UploadOptions())
    assert routes.seen[0].url.path == f"/put/{KEY}/shot.png"
    assert KEY not in caplog.text
    assert "PUT http://127.0.0.1:1/put/****/shot.png" in caplog.text


def test_what_the_definition_file_has_that_is_not_used_is_said_once_per_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An unknown key or a newer version in an ``sxcu = path`` file is reported when the
    profile is used, not only at import (it may have been edited since)."""
    from uploader.providers.custom import spec_of

    definition = {
        "Version": "99.0",
        "DestinationType": "ImageUploader",
        "RequestURL": "http://127.0.0.1:9/up",
        "FileFormName": "f",
        "Foo": 1,
    }
    (tmp_path / "d.sxcu").write_text(json.dumps(definition))
    config = config_of('[providers.d]\nkind = "custom"\nsxcu = "d.sxcu"\n', tmp_path)
    profile = config.profile("d")
    with caplog.at_level("WARNING", logger="uploader.providers.custom"):
        spec_of(profile)
        spec_of(profile)  # the same profile again: checked once, said once
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        f"{tmp_path / 'd.sxcu'}: unknown key 'Foo' (ignored)",
        f"{tmp_path / 'd.sxcu'}: Version: 99.0 is newer than ShareX 19, the newest format "
        "known (read as that)",
    ]


# -- an upload answered with a redirect ---------------------------------------------------------

REDIRECTED = f"""
[providers.redir]
kind = "custom"
DestinationType = "ImageUploader"
RequestURL = "{HOST}/custom/chevereto/api/1/upload?format=redirect"
FileFormName = "source"
URL = "{{responseurl}}"
"""


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirect_answer_is_read_with_its_location_as_the_response_url(
    tmp_path: Path, status: int
) -> None:
    answer = httpx.Response(status, headers={"Location": "/custom/chevereto/image/Ab12"})
    routes = Routes({"POST /custom/chevereto/api/1/upload": [answer]})
    provider = _provider(REDIRECTED, "redir", routes, tmp_path, env={})
    result = provider.upload(_image(tmp_path), UploadOptions())
    assert result.status == "uploaded"
    assert result.url == f"{HOST}/custom/chevereto/image/Ab12"
    assert len(routes.requests("POST /custom/chevereto/api/1/upload")) == 1  # not followed


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        # The host took the file (most likely) and the URL template finds no link in the
        # redirect: the file may exist, never "refused" (a refusal is sent again).
        (httpx.Response(302, headers={"Location": f"{HOST}/img/1"}), "URL: "),
        (httpx.Response(303, headers={"Location": "javascript:alert(1)"}), "to no link"),
        (httpx.Response(302), "to no link"),
        (httpx.Response(307, headers={"Location": f"{HOST}/other"}), "re-sends the file"),
        (httpx.Response(308, headers={"Location": f"{HOST}/other"}), "re-sends the file"),
        (httpx.Response(300, text="choose"), "to no link"),
    ],
)
def test_a_redirect_without_a_readable_link_is_an_unreadable_answer_never_a_refusal(
    tmp_path: Path, answer: httpx.Response, said: str
) -> None:
    routes = Routes({"POST /custom/chevereto/api/1/upload": [answer]})
    provider = _provider(CHEVERETO, "chev", routes, tmp_path)
    with pytest.raises(UnreadableAnswerError) as caught:
        provider.upload(_image(tmp_path), UploadOptions())
    assert said in caught.value.message
    assert caught.value.status == answer.status_code
    assert KEY not in caught.value.message


def test_the_providers_rate_updates_leave_out_a_count_without_a_reset(tmp_path: Path) -> None:
    provider = _provider(BINARY, "bin", Routes({}), tmp_path, env={})
    counted = {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0"}
    assert provider.rate_updates(httpx.Response(200, headers=counted)) == []
    reset = {**counted, "X-RateLimit-Reset": "30"}
    (update,) = provider.rate_updates(httpx.Response(200, headers=reset))
    assert (update.limit, update.remaining, update.reset_at) == (60, 0, NOW + 30)


# -- a key written in the definition itself -------------------------------------------------------

LITERAL_KEY = "literal-key-24680"
LITERAL = f"""
[providers.lit]
kind = "custom"
DestinationType = "ImageUploader"
RequestURL = "{HOST}/up"
FileFormName = "file"
URL = "{{json:url}}"
DeletionURL = "{{json:delete}}"
ErrorMessage = "{{json:error}}"
[providers.lit.Headers]
X-Api-Key = "{LITERAL_KEY}"
X-Other = "Bearer {LITERAL_KEY}-b"
"""


@pytest.mark.parametrize("status", [400, 401, 403, 500])
def test_a_key_written_in_the_definition_is_masked_in_every_message(
    tmp_path: Path, status: int
) -> None:
    said = {"error": f"Invalid key {LITERAL_KEY} or {LITERAL_KEY}-b"}
    routes = Routes({"POST /up": [httpx.Response(status, json=said)] * 4})
    provider = _provider(LITERAL, "lit", routes, tmp_path, env={})
    with pytest.raises((ProviderError, AuthError)) as caught:
        provider.upload(_image(tmp_path), UploadOptions())
    shown = f"{caught.value.message} {caught.value.hint}"
    assert LITERAL_KEY not in shown
    assert "Invalid key ****" in shown
    if isinstance(caught.value, AuthError):
        assert "c.toml: providers.lit" in (caught.value.hint or "")
        assert "UPLOADER_" not in (caught.value.hint or "")


def test_a_key_written_in_the_definition_never_reaches_the_record(tmp_path: Path) -> None:
    answer = {"url": f"{HOST}/f/1.png", "delete": f"{HOST}/del/1/{LITERAL_KEY}"}
    routes = Routes({"POST /up": [httpx.Response(200, json=answer)], "GET /del/1/": []})
    provider = _provider(LITERAL, "lit", routes, tmp_path, env={})
    result = provider.upload(_image(tmp_path), UploadOptions())
    assert result.delete_id == f"{HOST}/del/1/{{secret:literal_x_api_key}}"
    assert routes.requests("POST /up")[0].headers["X-Api-Key"] == LITERAL_KEY


LOGIN_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in &amp; upload</title>"
    "<style>body { color: red }</style><script>track()</script></head>"
    f"<body><h1>Sign in</h1><p>Your key {KEY} has expired.</p></body></html>"
)


@pytest.mark.parametrize(
    ("status", "text", "shown"),
    [
        (
            502,
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>",
            "an HTML page '502 Bad Gateway nginx' (HTTP 502)",
        ),
        (404, LOGIN_PAGE, "an HTML page 'Sign in & upload: Sign in Your key **** has expired.'"),
        (400, "<html><body></body></html>", "refused the upload: an HTML page (HTTP 400)"),
        (400, "<not html>", "refused the upload: '<not html>' (HTTP 400)"),
    ],
)
def test_an_html_error_page_is_shown_by_its_words_not_its_markup(
    tmp_path: Path, status: int, text: str, shown: str
) -> None:
    answers = [httpx.Response(status, text=text, headers={"Content-Type": "text/html"})] * 4
    routes = Routes({"PUT /put/shot.png": answers})
    provider = _provider(BINARY, "bin", routes, tmp_path, env={"UPLOADER_BIN_K": KEY})
    provider.secrets.values["k"] = KEY  # as if the definition sent it
    with pytest.raises((ProviderError, AuthError)) as caught:
        provider.upload(_image(tmp_path), UploadOptions())
    assert shown in caught.value.message
    assert KEY not in caught.value.message
    assert "track()" not in caught.value.message


def test_an_html_page_in_a_2xx_is_named_so_in_the_unreadable_answer(tmp_path: Path) -> None:
    routes = Routes({"PUT /put/shot.png": [httpx.Response(200, text=LOGIN_PAGE)]})
    provider = _provider(BINARY, "bin", routes, tmp_path, env={})
    provider.secrets.values["k"] = KEY
    with pytest.raises(UnreadableAnswerError) as caught:
        provider.upload(_image(tmp_path), UploadOptions())
    assert "URL: the answer gave an HTML page 'Sign in & upload: Sign in Your key ****" in (
        caught.value.message
    )


@pytest.mark.parametrize("status", [504, 524])
def test_a_gateway_timeout_is_an_unreadable_answer_never_retried(
    tmp_path: Path, status: int
) -> None:
    """The proxy gave up waiting, the host had the whole file: it may exist. A retry (as
    for another 5xx) would re-send it silently."""
    answer = httpx.Response(status, text="<html><head><title>504 Gateway Time-out</title>")
    routes = Routes({"PUT /put/shot.png": [answer]})
    provider = _provider(BINARY, "bin", routes, tmp_path, env={})
    with pytest.raises(UnreadableAnswerError) as caught:
        provider.upload(_image(tmp_path), UploadOptions())
    assert f"stopped waiting for its answer (HTTP {status})" in caught.value.message
    assert "an HTML page '504 Gateway Time-out'" in caught.value.message
    assert len(routes.requests("PUT /put/shot.png")) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_other_server_errors_stay_server_errors(tmp_path: Path, status: int) -> None:
    routes = Routes({"PUT /put/shot.png": [httpx.Response(status, text="down")] * 4})
    provider = _provider(BINARY, "bin", routes, tmp_path, env={})
    with pytest.raises(ServerError):
        provider.upload(_image(tmp_path), UploadOptions())


# -- a profile's sxcu = "FILE" is read as import-sxcu reads it ------------------------------------

NAMED = (
    '{"RequestURL": "https://img.example.org/up", "FileFormName": "f",'
    ' "DestinationType": "ImageUploader", "URL": "{json:url}"'
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # It took the last of two URLs silently, and crashed (exit 1) on a long number.
        (NAMED + ', "URL": "{json:other}"}', "host.sxcu: key 'URL' appears twice$"),
        (NAMED + ', "Headers": {"X-N": ' + "9" * 5000 + "}}", None),
        (NAMED + ', "Headers": {"X-N": NaN}}', r"not JSON \(NaN and Infinity"),
        ("// ShareX reads comments\n" + NAMED + ", /* and */ }", None),
        ("\ufeff" + NAMED + "}", None),
        (NAMED + ', "Headers": {"K": "a", "K": "b"}}', "host.sxcu: key 'K' appears twice$"),
    ],
)
def test_a_named_sxcu_file_is_read_as_import_reads_it(
    tmp_path: Path, content: str, message: str | None
) -> None:
    (tmp_path / "host.sxcu").write_text(content, encoding="utf-8")
    config = config_of('[providers.h]\nkind = "custom"\nsxcu = "host.sxcu"\n', tmp_path)
    if message is None:
        provider = _provider(
            '[providers.h]\nkind = "custom"\nsxcu = "host.sxcu"\n', "h", Routes({}), tmp_path
        )
        assert provider.spec.url == "{json:url}"
        if "9999" in content:
            assert provider.spec.headers == (("X-N", "9" * 5000),)
        return
    with pytest.raises(ConfigError, match=message) as caught:
        config.profile("h")
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_named_sxcu_that_is_no_regular_file_is_refused_without_waiting(
    tmp_path: Path, kind: str
) -> None:
    import os

    path = tmp_path / "host.sxcu"
    if kind == "fifo":
        os.mkfifo(path)  # opened for reading, it would wait for a writer forever
    else:
        path.mkdir()
    config = config_of('[providers.h]\nkind = "custom"\nsxcu = "host.sxcu"\n', tmp_path)
    what = "is not a regular file" if kind == "fifo" else "is a directory"
    with pytest.raises(ConfigError, match=f"host.sxcu: {what}"):
        config.profile("h")


def test_short_or_plain_values_under_secret_looking_names_are_no_literal_secrets(
    tmp_path: Path,
) -> None:
    """Masking "3600" or "true" would refuse every link holding those characters."""
    text = LITERAL.replace(
        'X-Other = "Bearer',
        'X-Session-Expire = "3600"\nX-Auth-Redirect = "true"\nX-Key-Mode = "short"\n'
        'X-Other = "Bearer',
    )
    answer = {"url": f"{HOST}/f/3600-true-short.png"}
    routes = Routes({"POST /up": [httpx.Response(200, json=answer)]})
    provider = _provider(text, "lit", routes, tmp_path, env={})
    assert sorted(provider.secrets.values) == ["literal_x_api_key", "literal_x_other"]
    result = provider.upload(_image(tmp_path), UploadOptions())
    assert result.url == f"{HOST}/f/3600-true-short.png"
