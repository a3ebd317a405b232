"""The Gyazo and Mastodon emulators' shapes, headers and throttles, with plain httpx."""

from __future__ import annotations

import re

import httpx

from tests.support.clock import FakeTime
from tests.support.images import png_bytes
from uploader.sandbox import Sandbox, SandboxConfig

MA = {"Authorization": "Bearer ma"}
GZ = {"Authorization": "Bearer gz"}


def _media(sb: Sandbox, data: bytes | None = None) -> httpx.Response:
    return httpx.post(
        f"{sb.base_url}/mastodon/api/v2/media",
        headers=MA,
        files={"file": ("a.png", data or png_bytes(), "image/png")},
        trust_env=False,
    )


def test_mastodon_media_bucket_headers_iso_and_429() -> None:
    with Sandbox(SandboxConfig(mastodon_media_limit=2)) as sb:
        first = _media(sb)
        assert first.status_code == 200
        assert first.headers["cache-control"] == "private, no-store"
        assert first.headers["etag"].startswith('W/"')
        assert first.headers["x-ratelimit-limit"] == "2"
        assert first.headers["x-ratelimit-remaining"] == "1"
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", first.headers["x-ratelimit-reset"]
        )
        assert _media(sb).status_code == 200
        third = _media(sb)
        assert third.status_code == 429
        assert third.json() == {"error": "Too many requests"}
        assert third.headers["x-ratelimit-remaining"] == "0"
        assert "retry-after" not in third.headers
        assert sb.stats()["responses_429"] == 1


def test_mastodon_epoch_and_headerless_forks() -> None:
    clock = FakeTime(1_700_000_100.5)
    with Sandbox(SandboxConfig(mastodon_reset_format="epoch"), clock=clock) as sb:
        reset = int(_media(sb).headers["x-ratelimit-reset"])
        assert reset == (int(clock.now) // 1800 + 1) * 1800  # the next 30-minute boundary
    with Sandbox(SandboxConfig(mastodon_reset_format="none")) as sb:
        assert "x-ratelimit-limit" not in _media(sb).headers


def test_mastodon_202_then_206_then_200_and_auth_errors() -> None:
    clock = FakeTime(1_700_000_100.5)
    config = SandboxConfig(mastodon_async_threshold=10, mastodon_processing_seconds=30.0)
    with Sandbox(config, clock=clock) as sb:
        queued = _media(sb)
        assert queued.status_code == 202
        assert queued.json()["url"] is None
        assert "etag" not in queued.headers
        url = f"{sb.base_url}/mastodon/api/v1/media/{queued.json()['id']}"
        clock.now += 29.9
        processing = httpx.get(url, headers=MA, trust_env=False)
        assert (processing.status_code, processing.json()["url"]) == (206, None)
        clock.now += 0.1
        done = httpx.get(url, headers=MA, trust_env=False)
        assert done.status_code == 200
        assert done.json()["url"].endswith(".png")
        denied = httpx.get(url, trust_env=False)
        assert denied.status_code == 401
        assert denied.json() == {"error": "The access token is invalid"}
        assert 'error="invalid_token"' in denied.headers["www-authenticate"]
        bad = _media(sb, b"plain text, not an image")
        assert bad.status_code == 422
        assert "File content type is invalid" in bad.json()["error"]


def test_gyazo_shapes_paging_and_daily_budget() -> None:
    with Sandbox(SandboxConfig(gyazo_daily_limit=3)) as sb:
        up = httpx.post(
            f"{sb.base_url}/gyazo-upload/api/upload",
            headers=GZ,
            files={"imagedata": ("a.png", png_bytes(), "image/png")},
            trust_env=False,
        )
        assert up.status_code == 200
        body = up.json()
        assert re.fullmatch(r"[0-9a-f]{32}", body["image_id"])
        assert body["permalink_url"] == f"{sb.base_url}/gyazo/{body['image_id']}"
        assert not any(k.lower().startswith("x-ratelimit") for k in up.headers)
        listed = httpx.get(f"{sb.base_url}/gyazo/api/images", headers=GZ, trust_env=False)
        assert (
            listed.headers["x-total-count"],
            listed.headers["x-current-page"],
            listed.headers["x-per-page"],
            listed.headers["x-user-type"],
        ) == ("1", "1", "20", "lite")
        missing = httpx.get(f"{sb.base_url}/gyazo/api/images/nope", headers=GZ, trust_env=False)
        assert missing.json() == {
            "message": "Not Found",
            "request": "/api/images/nope",
            "method": "GET",
        }
        spent = httpx.get(f"{sb.base_url}/gyazo/api/images", headers=GZ, trust_env=False)
        assert spent.status_code == 429
        # Reference 2.5: no 429 body is documented (a GAP); the error shape is Gyazo's.
        assert spent.json() == {
            "message": "Too many requests",
            "request": "/api/images",
            "method": "GET",
        }
        assert not any(k.lower().startswith(("x-ratelimit", "retry-after")) for k in spent.headers)
        anonymous = httpx.get(f"{sb.base_url}/gyazo/api/images", trust_env=False)
        assert anonymous.json()["message"] == "This method requires authentication"


def _media_with(sb: Sandbox, fields: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{sb.base_url}/mastodon/api/v2/media",
        headers=MA,
        data=fields,
        files={"file": ("a.png", png_bytes(), "image/png")},
        trust_env=False,
    )


def test_mastodon_alt_text_over_the_description_limit_is_a_422() -> None:
    """Reference 3.4/3.6: ``description`` is limited by the instance's description_limit
    (counted in characters, not bytes); over it the upload is refused and stores nothing."""
    with Sandbox(SandboxConfig()) as sb:
        instance = httpx.get(f"{sb.base_url}/mastodon/api/v2/instance", trust_env=False).json()
        limit = instance["configuration"]["media_attachments"]["description_limit"]
        assert limit == 1500
        at_limit = _media_with(sb, {"description": "é" * limit})  # 3000 bytes, 1500 characters
        assert at_limit.status_code == 200
        assert at_limit.json()["description"] == "é" * limit
        over = _media_with(sb, {"description": "a" * (limit + 1)})
        assert over.status_code == 422
        assert over.json() == {
            "error": "Validation failed: Description is too long (maximum is 1500 characters)"
        }
        assert len(sb.uploads()) == 1


def test_mastodon_focus_is_read_as_ruby_to_f_never_a_server_error() -> None:
    with Sandbox(SandboxConfig()) as sb:
        for focus, expected in [
            ("0.5,-0.25", {"x": 0.5, "y": -0.25}),
            ("abc", {"x": 0.0, "y": 0.0}),
            ("0.5abc,x", {"x": 0.5, "y": 0.0}),
            ("1e999,.5", {"x": 0.0, "y": 0.5}),
        ]:
            answer = _media_with(sb, {"focus": focus})
            assert answer.status_code == 200, focus
            assert answer.json()["meta"]["focus"] == expected
