"""The sandbox's Imgur emulator, driven with plain httpx: shapes, headers, buckets, faults."""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.images import png_bytes
from uploader.sandbox import Sandbox, SandboxConfig

AUTH = {"Authorization": "Client-ID abc"}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(imgur_post_limit=3, imgur_post_window=30)) as sb:
        yield sb


def _upload(sb: Sandbox, data: bytes | None = None, **fields: str) -> httpx.Response:
    content = png_bytes(seed=1) if data is None else data
    return httpx.post(
        f"{sb.base_url}/imgur/3/image",
        headers=AUTH,
        data=fields,
        files={"image": ("a.png", content, "image/png")},
    )


def test_upload_stores_exact_bytes_and_answers_the_envelope(sandbox: Sandbox) -> None:
    data = png_bytes(width=20, height=10, seed=5)
    response = _upload(sandbox, data, title="T", description="D")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["status"] == 200
    image = body["data"]
    assert len(image["id"]) == 7
    assert len(image["deletehash"]) == 15
    assert image["link"] == f"https://i.imgur.com/{image['id']}.png"
    assert (image["type"], image["width"], image["height"]) == ("image/png", 20, 10)
    assert (image["title"], image["description"], image["size"]) == ("T", "D", len(data))
    (stored,) = sandbox.uploads()
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()
    (logged,) = sandbox.requests()
    assert logged["auth_scheme"] == "Client-ID"
    assert logged["auth_sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert logged["fields"] == {"title": "T", "description": "D"}


def test_rate_limit_headers_use_the_real_spellings_and_formats(sandbox: Sandbox) -> None:
    headers = _upload(sandbox).headers
    assert headers["X-RateLimit-UserLimit"] == "500"
    assert headers["X-RateLimit-UserRemaining"] == "490"
    assert headers["X-RateLimit-UserReset"] == "3600"
    assert headers["X-RateLimit-ClientLimit"] == "12500"
    assert headers["X-RateLimit-ClientRemaining"] == "12490"
    assert headers["X-RateLimit-ClientReset"] == "86400"
    assert headers["X-Post-Rate-Limit-Limit"] == "3"
    assert headers["X-Post-Rate-Limit-Remaining"] == "2"
    assert headers["X-Post-Rate-Limit-Reset"] == "30"
    raw = [name for name, _ in _upload(sandbox).headers.raw]
    assert b"X-RateLimit-UserLimit" in raw
    assert b"X-Post-Rate-Limit-Reset" in raw


def test_spent_post_bucket_answers_the_gateway_429(sandbox: Sandbox) -> None:
    for _ in range(3):
        assert _upload(sandbox).status_code == 200
    response = _upload(sandbox)
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/vnd.imgur.v1+json"
    assert response.headers["imgur-media-type"] == "imgur.v1; param=full; format=json"
    (error,) = response.json()["errors"]
    assert (error["code"], error["status"]) == ("429", "Too Many Requests")
    assert error["id"].startswith("legacy-api-")
    assert response.headers["X-Post-Rate-Limit-Remaining"] == "0"
    assert "retry-after" not in response.headers
    assert sandbox.stats()["responses_429"] == 1
    assert sandbox.stats()["uploads_stored"] == 3


def test_legacy_429_and_epoch_user_reset() -> None:
    config = SandboxConfig(
        imgur_user_limit=10, imgur_429_shape="legacy", imgur_user_reset_format="epoch"
    )
    with Sandbox(config) as sb:
        first = _upload(sb)
        assert abs(int(first.headers["X-RateLimit-UserReset"]) - (time.time() + 3600)) < 5
        second = _upload(sb)
        assert second.status_code == 429
        assert second.json() == {
            "data": {
                "error": "User request limit exceeded",
                "request": "/3/image",
                "method": "POST",
            },
            "success": False,
            "status": 429,
        }


def test_etag_then_304_and_html_404(sandbox: Sandbox) -> None:
    image = _upload(sandbox).json()["data"]
    url = f"{sandbox.base_url}/imgur/3/image/{image['id']}"
    first = httpx.get(url, headers=AUTH)
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert len(etag) == 42
    second = httpx.get(url, headers={**AUTH, "If-None-Match": etag})
    assert second.status_code == 304
    assert second.content == b""
    assert second.headers["X-RateLimit-ClientRemaining"] == "12488"  # still counted
    missing = httpx.get(f"{sandbox.base_url}/imgur/3/image/nope123", headers=AUTH)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "text/html; charset=utf-8"
    assert b"<title>imgur: the simple 404 page</title>" in missing.content
    assert sandbox.stats()["not_modified"] == 1


def test_delete_by_deletehash_then_404(sandbox: Sandbox) -> None:
    image = _upload(sandbox).json()["data"]
    url = f"{sandbox.base_url}/imgur/3/image/{image['deletehash']}"
    deleted = httpx.delete(url, headers=AUTH)
    assert deleted.json() == {"data": True, "success": True, "status": 200}
    again = httpx.delete(url, headers=AUTH)
    assert again.status_code == 404
    assert b"simple 404 page" in again.content
    assert sandbox.uploads() == []


def test_wrong_content_and_oversize_shapes() -> None:
    with Sandbox(SandboxConfig(imgur_max_image_size=1000)) as sb:
        text = _upload(sb, b"hello, I am text")
        assert text.status_code == 400
        assert text.json()["data"]["error"] == {
            "code": 1003,
            "message": "File type invalid (1)",
            "type": "ImgurException",
            "exception": [],
        }
        big = _upload(sb, png_bytes(width=200, height=200, seed=3))
        assert big.status_code == 413
        assert big.headers["monorepo-upload"] == "true"
        assert big.json()["code"] == 413
        assert big.json()["detail"] == "file is over the size limit"
    with Sandbox(SandboxConfig(imgur_max_image_size=1000, imgur_oversize_shape="1002")) as sb:
        big = _upload(sb, png_bytes(width=200, height=200, seed=3))
        assert big.status_code == 400
        assert big.json()["data"]["error"]["code"] == 1002


def test_auth_checks() -> None:
    with Sandbox(SandboxConfig(imgur_client_ids=("good",), imgur_tokens=("tok",))) as sb:
        url = f"{sb.base_url}/imgur/3/image"
        files = {"image": ("a.png", png_bytes(), "image/png")}
        assert httpx.post(url, files=files).status_code == 401
        bad = httpx.post(url, files=files, headers={"Authorization": "Client-ID bad"})
        assert bad.status_code == 403
        assert bad.json()["data"]["error"] == "Invalid client_id"
        wrong = httpx.post(url, files=files, headers={"Authorization": "Bearer nope"})
        assert wrong.json()["data"]["error"] == "Unauthorized"
        ok = httpx.post(url, files=files, headers={"Authorization": "Bearer tok"})
        assert ok.status_code == 200


def test_credits_has_no_rate_headers(sandbox: Sandbox) -> None:
    _upload(sandbox)
    response = httpx.get(f"{sandbox.base_url}/imgur/3/credits", headers=AUTH)
    data = response.json()["data"]
    assert (data["ClientRemaining"], data["UserRemaining"]) == (12490, 490)
    assert "x-ratelimit-userlimit" not in response.headers


def _outcomes(seed: int) -> list[int | str]:
    config = SandboxConfig(seed=seed, fault_500=0.3, fault_drop_before=0.2)
    found: list[int | str] = []
    with Sandbox(config) as sb, httpx.Client() as client:
        for _ in range(20):
            try:
                found.append(
                    client.post(
                        f"{sb.base_url}/imgur/3/image",
                        headers=AUTH,
                        files={"image": ("a.png", png_bytes(), "image/png")},
                    ).status_code
                )
            except httpx.HTTPError:
                found.append("dropped")
    return found


def test_faults_are_reproducible_with_a_seed() -> None:
    first = _outcomes(7)
    assert first == _outcomes(7)
    assert first != _outcomes(8)
    assert {500, "dropped", 200} <= set(first)


def test_drop_after_stores_but_never_answers() -> None:
    with Sandbox(SandboxConfig(fault_drop_after=1.0)) as sb:
        with pytest.raises(httpx.RemoteProtocolError):
            _upload(sb)
        assert sb.stats()["uploads_stored"] == 1
        assert sb.stats()["faults"] == {"drop_after": 1}


def test_knobs_from_toml(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "knobs.toml"
    path.write_text("imgur_post_limit = 40\nimgur_post_window = 10\nfault_routes = ['all']\n")
    config = SandboxConfig.from_toml(path)
    assert dataclasses.astuple(config) == dataclasses.astuple(
        dataclasses.replace(
            SandboxConfig(), imgur_post_limit=40, imgur_post_window=10.0, fault_routes=("all",)
        )
    )
    path.write_text("imgur_post_limt = 40\n")
    with pytest.raises(ValueError, match="unknown knob 'imgur_post_limt'"):
        SandboxConfig.from_toml(path)
    path.write_text("latency = 'slow'\n")
    with pytest.raises(ValueError, match="knob 'latency' must be float"):
        SandboxConfig.from_toml(path)


def test_stop_leaves_nothing_listening() -> None:
    before = threading.active_count()
    sb = Sandbox(SandboxConfig()).start()
    port = int(sb.base_url.rsplit(":", 1)[1])
    sb.stop()
    assert threading.active_count() == before
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
