"""The sandbox's Imgur emulator against reference section 1, driven with plain httpx."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.e2e import first_line
from tests.support.images import png_bytes, write_sized_png
from tests.support.imgur import imgur_exception, legacy_error
from uploader.sandbox import Sandbox, SandboxConfig

AUTH = {"Authorization": "Client-ID abc"}
RATE_HEADERS = (
    "X-RateLimit-UserLimit",
    "X-RateLimit-UserRemaining",
    "X-RateLimit-UserReset",
    "X-RateLimit-ClientLimit",
    "X-RateLimit-ClientRemaining",
    "X-RateLimit-ClientReset",
)
POST_HEADERS = ("X-Post-Rate-Limit-Limit", "X-Post-Rate-Limit-Remaining", "X-Post-Rate-Limit-Reset")
IMAGE_KEYS = {  # reference 1.4: documented keys and those seen on live responses
    "id", "title", "description", "datetime", "type", "animated", "width", "height", "size",
    "views", "bandwidth", "vote", "favorite", "nsfw", "section", "account_url", "account_id",
    "is_ad", "in_most_viral", "has_sound", "tags", "ad_type", "ad_url", "edited",
    "in_gallery", "link",
}  # fmt: skip
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def sandbox_threads() -> list[str]:
    """The names of the threads the sandbox started (they all share a prefix)."""
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("uploader-sandbox"))


@contextmanager
def imgur(clock: FakeTime | None = None, **knobs: Any) -> Iterator[tuple[Sandbox, httpx.Client]]:
    """A sandbox with these knobs (and clock) and a client whose base URL is its Imgur
    prefix."""
    with (
        Sandbox(SandboxConfig(**knobs), clock=clock or time.time) as sb,
        httpx.Client(base_url=sb.base_url + "/imgur", headers=AUTH, trust_env=False) as client,
    ):
        yield sb, client


def upload(
    client: httpx.Client,
    data: bytes | None = None,
    *,
    field: str = "image",
    filename: str = "shot.png",
    headers: dict[str, str] | None = None,
    **fields: str,
) -> httpx.Response:
    content = png_bytes(seed=1) if data is None else data
    return client.post(
        "/3/image",
        data=fields,
        files={field: (filename, content, "image/png")},
        headers=headers,
    )


def raw_names(response: httpx.Response) -> set[bytes]:
    return {name for name, _ in response.headers.raw}


def test_upload_stores_the_exact_bytes_and_answers_the_image_model(tmp_path: Path) -> None:
    data = png_bytes(width=20, height=10, seed=5)
    clock = FakeTime(1_700_000_000.25)
    with imgur(clock, storage_dir=str(tmp_path)) as (sb, client):
        before = time.time()
        response = upload(client, data, title="T", description="D")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        body = response.json()
        assert (body["success"], body["status"]) == (True, 200)
        image = body["data"]
        assert IMAGE_KEYS | {"deletehash", "name"} <= set(image)
        assert re.fullmatch(r"[A-Za-z0-9]{7}", image["id"])
        assert re.fullmatch(r"[A-Za-z0-9]{15}", image["deletehash"])
        assert image["link"] == f"{sb.base_url}/imgur/i/{image['id']}.png"
        assert (image["type"], image["width"], image["height"]) == ("image/png", 20, 10)
        assert (image["size"], image["name"], image["title"]) == (len(data), "shot.png", "T")
        assert (image["account_id"], image["account_url"], image["animated"]) == (0, None, False)
        assert image["datetime"] == int(clock.now)
        assert sb.uploads() == [
            {
                "id": image["id"],
                "deletehash": image["deletehash"],
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "name": "shot.png",
                "type": "image/png",
                "title": "T",
                "description": "D",
                "auth": "Client-ID",
                "provider": "imgur",
                "metadata": [],
            }
        ]
        assert (tmp_path / "imgur" / image["id"]).read_bytes() == data
        (entry,) = sb.requests()
        sent = response.request.headers
        assert entry["content_type"] == sent["content-type"]
        assert entry["content_length"] == int(sent["content-length"])
        assert entry["at"] >= before
        del entry["content_type"], entry["content_length"], entry["at"]
        assert entry == {
            "method": "POST",
            "path": "/imgur/3/image",
            "query": "",
            "status": 200,
            "auth_scheme": "Client-ID",
            "auth_sha256": hashlib.sha256(b"abc").hexdigest(),
            "if_none_match": None,
            "fields": {"title": "T", "description": "D"},
            "file_field": "image",
            "file_name": "shot.png",
        }
    assert list((tmp_path / "incoming").iterdir()) == []


def test_large_video_streams_through_and_chunked_bodies_work(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    with video.open("wb") as out:
        out.write(MP4_HEAD)
        for i in range(48):  # 3 MiB
            out.write(bytes([i]) * 65536)
    digest = hashlib.sha256(video.read_bytes()).hexdigest()
    with imgur() as (sb, client):
        with video.open("rb") as fh:
            response = client.post("/3/upload", files={"video": ("clip.mp4", fh, "video/mp4")})
        image = response.json()["data"]
        assert (image["type"], image["link"]) == (
            "video/mp4",
            f"{sb.base_url}/imgur/i/{image['id']}.mp4",
        )
        assert image["size"] == video.stat().st_size
        assert (image["animated"], image["processing"]) == (True, {"status": "completed"})
        data = png_bytes(seed=9)
        body = (
            b'--XyZ\r\nContent-Disposition: form-data; name="title"\r\n\r\nchunked\r\n'
            b'--XyZ\r\nContent-Disposition: form-data; name="image"; filename="c.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + data + b"\r\n--XyZ--\r\n"
        )
        chunked = client.post(
            "/3/image.json",
            headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
            content=iter([body[i : i + 7] for i in range(0, len(body), 7)]),
        )
        assert chunked.request.headers["transfer-encoding"] == "chunked"
        assert chunked.json()["data"]["title"] == "chunked"
        stored = {u["sha256"]: u for u in sb.uploads()}
        assert set(stored) == {digest, hashlib.sha256(data).hexdigest()}
        assert sb.requests()[0]["file_field"] == "video"


def test_base64_uploads_by_form_and_multipart_string() -> None:
    data = png_bytes(width=3, height=4, seed=2)
    text = base64.b64encode(data).decode()
    with imgur() as (sb, client):
        by_form = client.post("/3/upload.json", data={"type": "base64", "image": text, "name": "n"})
        assert by_form.status_code == 200
        assert (by_form.json()["data"]["width"], by_form.json()["data"]["name"]) == (3, "n")
        by_part = client.post("/3/image", files={"image": (None, "data:image/png;base64," + text)})
        assert by_part.status_code == 200
        assert [u["sha256"] for u in sb.uploads()] == [hashlib.sha256(data).hexdigest()] * 2
        bad = client.post("/3/image", data={"type": "base64", "image": "!!not base64!!"})
        assert bad.status_code == 400
        assert bad.json()["data"]["error"]["code"] == 1003
        assert sb.requests()[0]["fields"] == {"type": "base64", "name": "n"}


def test_rate_headers_have_the_real_spellings_costs_and_formats() -> None:
    with imgur() as (_, client):
        first = upload(client)
        assert {n.encode() for n in (*RATE_HEADERS, *POST_HEADERS)} <= raw_names(first)
        assert {name: first.headers[name] for name in (*RATE_HEADERS, *POST_HEADERS)} == {
            "X-RateLimit-UserLimit": "500",
            "X-RateLimit-UserRemaining": "490",
            "X-RateLimit-UserReset": "3600",
            "X-RateLimit-ClientLimit": "12500",
            "X-RateLimit-ClientRemaining": "12490",
            "X-RateLimit-ClientReset": "86400",
            "X-Post-Rate-Limit-Limit": "1250",
            "X-Post-Rate-Limit-Remaining": "1249",
            "X-Post-Rate-Limit-Reset": "3600",
        }
        assert first.headers["Server"] == "cat factory 1.0"
        assert first.headers["Access-Control-Allow-Origin"] == "*"
        assert "retry-after" not in first.headers
        image = first.json()["data"]
        got = client.get(f"/3/image/{image['id']}")
        assert (
            got.headers["X-RateLimit-UserRemaining"],
            got.headers["X-RateLimit-ClientRemaining"],
        ) == ("489", "12489")
        assert not {n.lower() for n in POST_HEADERS} & set(got.headers)
        edit = client.post(f"/3/image/{image['deletehash']}", data={"title": "x"})
        assert edit.headers["X-RateLimit-UserRemaining"] == "488"  # non-upload POST: 1 credit
        assert edit.headers["X-Post-Rate-Limit-Remaining"] == "1248"  # ... and 1 POST credit
        other_app = upload(client, headers={"Authorization": "Client-ID other"})
        assert other_app.headers["X-RateLimit-ClientRemaining"] == "12490"  # per client id
        assert other_app.headers["X-Post-Rate-Limit-Remaining"] == "1247"  # per IP
        for token in ("token-1", "token-2"):  # Bearer tokens all count against one app
            bearer = upload(client, headers={"Authorization": f"Bearer {token}"})
        assert bearer.headers["X-RateLimit-ClientRemaining"] == "12480"


def test_epoch_user_reset_knob() -> None:
    clock = FakeTime(1_700_000_000.25)
    with imgur(clock, imgur_user_reset_format="epoch") as (_, client):
        reset = int(upload(client).headers["X-RateLimit-UserReset"])
        assert reset == int(clock.now + 3600)
        clock.now += 100
        assert upload(client).headers["X-RateLimit-UserReset"] == str(reset)  # fixed window


def test_spent_post_bucket_answers_the_gateway_429_without_processing() -> None:
    with imgur(imgur_post_limit=3) as (sb, client):
        for _ in range(3):
            assert upload(client).status_code == 200
        big = png_bytes(width=400, height=400, seed=3)  # read to the end, yet not stored
        response = upload(client, big)
        assert response.status_code == 429
        assert response.headers["content-type"] == "application/vnd.imgur.v1+json"
        assert response.headers["imgur-media-type"] == "imgur.v1; param=full; format=json"
        (error,) = response.json()["errors"]
        assert (error["code"], error["status"], error["detail"]) == (
            "429",
            "Too Many Requests",
            "Too Many Requests",
        )
        assert re.fullmatch(r"legacy-api-[0-9a-f]{10}-[0-9a-z]{5}/[A-Za-z0-9]{10}-\d+", error["id"])
        assert response.headers["X-Post-Rate-Limit-Remaining"] == "0"
        assert response.headers["X-RateLimit-UserRemaining"] == "470"  # nothing spent
        assert "retry-after" not in response.headers
        stats = sb.stats()
        assert (stats["responses_429"], stats["uploads_stored"]) == (1, 3)
        assert sb.requests()[-1]["file_field"] is None
        assert client.get("/3/credits").status_code == 200  # the connection survived


def test_post_reset_counts_down_rounded_up_and_the_window_restarts() -> None:
    clock = FakeTime(1_700_000_000.25)
    start = clock.now
    with imgur(clock, imgur_post_limit=1, imgur_post_window=2.0) as (_, client):
        first = upload(client)
        assert (first.status_code, first.headers["X-Post-Rate-Limit-Reset"]) == (200, "2")
        clock.now = start + 0.3
        refused = upload(client)
        assert (refused.status_code, refused.headers["X-Post-Rate-Limit-Reset"]) == (429, "2")
        clock.now = start + 1.2
        assert upload(client).headers["X-Post-Rate-Limit-Reset"] == "1"
        clock.now = start + 2.3
        again = upload(client)
        assert again.status_code == 200
        assert again.headers["X-Post-Rate-Limit-Reset"] == "2"  # a new window from now
        assert again.headers["X-Post-Rate-Limit-Remaining"] == "0"


TOO_FAST = "You are uploading too fast. Please wait 60 more minutes."


@pytest.mark.parametrize(
    ("knobs", "allowed", "message"),
    [
        ({"imgur_client_limit": 25}, 2, "Daily client requests exceeded"),
        ({"imgur_user_limit": 10}, 1, "User request limit exceeded"),
        ({"imgur_post_limit": 1, "imgur_throttle_shape": "legacy429"}, 1, TOO_FAST),
    ],
)
def test_legacy_429_names_the_bucket(knobs: dict[str, Any], allowed: int, message: str) -> None:
    with imgur(imgur_429_shape="legacy", **knobs) as (_, client):
        for _ in range(allowed):
            assert upload(client).status_code == 200
        response = upload(client)
        assert response.status_code == 429
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert response.json() == legacy_error(message, status=429)


def test_etag_then_304_still_counts_and_sends_no_body() -> None:
    with imgur() as (sb, client):
        image = upload(client).json()["data"]
        url = f"/3/image/{image['id']}"
        first = client.get(url)
        etag = first.headers["ETag"]
        assert etag == '"' + hashlib.sha1(first.content, usedforsecurity=False).hexdigest() + '"'
        assert "deletehash" not in first.json()["data"]  # only the owner sees it
        assert first.json()["data"]["account_id"] is None  # anonymous, on a GET
        sent_before = sb.stats()["bytes_sent"]
        for tag in (etag, f"W/{etag}", f'"nope", {etag}'):
            again = client.get(url, headers={"If-None-Match": tag})
            assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", etag)
        assert again.headers["X-RateLimit-ClientRemaining"] == "12486"  # still counted
        stats = sb.stats()
        assert (stats["not_modified"], stats["bytes_sent"]) == (3, sent_before)
        assert sb.requests()[-1]["if_none_match"] == f'"nope", {etag}'
        client.post(f"/3/image/{image['deletehash']}", data={"description": "new"})
        changed = client.get(url, headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.json()["data"]["description"] == "new"
        assert changed.headers["ETag"] != etag
        assert sb.stats()["bytes_sent"] > sent_before + len(changed.content)


def test_html_404_for_unknown_ids_and_a_second_delete(tmp_path: Path) -> None:
    with imgur(storage_dir=str(tmp_path)) as (sb, client):
        image = upload(client).json()["data"]
        missing = client.get("/3/image/nope123")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "text/html; charset=utf-8"
        assert b"<title>imgur: the simple 404 page</title>" in missing.content
        by_id = client.delete(f"/3/image/{image['id']}")  # Client-ID needs the deletehash
        assert by_id.status_code == 403
        assert by_id.json()["data"]["error"] == "Permission denied"
        deleted = client.delete(f"/3/image/{image['deletehash']}.json")
        assert deleted.json() == {"data": True, "success": True, "status": 200}
        assert not (tmp_path / "imgur" / image["id"]).exists()
        again = client.delete(f"/3/image/{image['deletehash']}")
        assert again.status_code == 404
        assert b"imgur: the simple 404 page" in again.content
        assert client.get(f"/3/image/{image['id']}").status_code == 404
        assert sb.uploads() == []


def test_bearer_owner_sees_and_deletes_by_id() -> None:
    owner = {"Authorization": "Bearer owner-token"}
    stranger = {"Authorization": "Bearer someone-else"}
    with imgur() as (sb, client):
        emulator: Any = sb.server.emulators["/imgur"]
        account = emulator.valid_token("owner-token")
        image = upload(client, headers=owner).json()["data"]
        assert (image["account_url"], image["deletehash"] != "") == (account, True)
        assert client.get(f"/3/image/{image['id']}", headers=owner).json()["data"]["deletehash"]
        seen = client.get(f"/3/image/{image['id']}", headers=stranger).json()["data"]
        assert "deletehash" not in seen
        assert client.delete(f"/3/image/{image['id']}", headers=stranger).status_code == 403
        done = client.delete(f"/3/image/{image['id']}", headers=owner)
        assert done.json() == {"data": True, "success": True, "status": 200}
        assert sb.uploads() == []


def test_refusals_in_imgur_shapes_leave_nothing_stored(tmp_path: Path) -> None:
    with imgur(storage_dir=str(tmp_path), imgur_max_image_size=1000) as (sb, client):
        text = upload(client, b"hello, I am text", filename="a.txt")
        assert text.status_code == 400
        assert text.json() == imgur_exception(1003, "File type invalid (1)")
        big = upload(client, png_bytes(width=200, height=200, seed=3))
        assert big.status_code == 413
        assert big.headers["content-type"] == "application/json; charset=utf-8"
        assert big.headers["monorepo-upload"] == "true"
        assert big.headers["X-Post-Rate-Limit-Remaining"] == "1248"  # charged all the same
        body = big.json()
        assert body["id"].startswith("legacy-api-")
        del body["id"]
        assert body == {
            "code": 413,
            "detail": "file is over the size limit",
            "status": "Request Entity Too Large",
        }
        no_data = legacy_error("No image data was sent to the upload api", status=400)
        assert upload(client, b"").json() == no_data
        assert client.post("/3/image", data={"title": "no file"}).json() == no_data
        assert sb.uploads() == []
        assert list((tmp_path / "incoming").iterdir()) == []
        assert list((tmp_path / "imgur").iterdir()) == []
    with imgur(imgur_max_image_size=1000, imgur_oversize_shape="1002") as (_, client):
        big = upload(client, png_bytes(width=200, height=200, seed=3))
        assert big.status_code == 400
        error = big.json()["data"]["error"]
        assert (error["code"], error["message"]) == (1002, "File is over the size limit")


def test_auth_is_checked_after_reading_the_whole_body() -> None:
    config = SandboxConfig(imgur_client_ids=("good",), imgur_tokens=("tok",))
    with (
        Sandbox(config) as sb,
        httpx.Client(base_url=sb.base_url + "/imgur", trust_env=False) as client,
    ):
        big = bytes(4 * 1024 * 1024)
        missing = client.post("/3/image", files={"image": ("a.png", big, "image/png")})
        assert missing.status_code == 401
        assert missing.json() == legacy_error("Authentication required", status=401)
        for header, status, message in (
            ("Client-ID bad", 403, "Invalid client_id"),
            ("Bearer nope", 403, "Unauthorized"),
            ("Basic dXNlcjpwYXNz", 401, "Authentication required"),
        ):
            refused = client.post(
                "/3/image", files={"image": ("a", big)}, headers={"Authorization": header}
            )
            assert (refused.status_code, refused.json()["data"]["error"]) == (status, message)
        ok = upload(client, headers={"Authorization": "Bearer tok"})
        assert ok.status_code == 200
        assert upload(client, headers={"Authorization": "Client-ID good"}).status_code == 200
        emulator: Any = sb.server.emulators["/imgur"]
        assert emulator.valid_token("nope") is None
        assert emulator.valid_token("tok") == ok.json()["data"]["account_url"]
        logged = json.dumps(sb.requests())
        assert "dXNlcjpwYXNz" not in logged
        assert '"tok"' not in logged


def test_account_images_are_paged_newest_first() -> None:
    bearer = {"Authorization": "Bearer lister"}
    with imgur() as (sb, client):
        ids = [
            upload(client, png_bytes(seed=i), headers=bearer).json()["data"]["id"] for i in range(5)
        ]
        upload(client)  # anonymous: not listed
        newest = ids[::-1]

        def listed(path: str, **params: Any) -> list[Any]:
            response = client.get(path, params=params, headers=bearer)
            assert response.status_code == 200
            data: list[Any] = response.json()["data"]
            return data

        assert [i["id"] for i in listed("/3/account/me/images")] == newest
        assert [i["id"] for i in listed("/3/account/me/images", page=0, perPage=2)] == newest[:2]
        assert [i["id"] for i in listed("/3/account/me/images/1", perPage=2)] == newest[2:4]
        assert [i["id"] for i in listed("/3/account/me/images.json", page=2, perPage=2)] == newest[
            4:
        ]
        assert listed("/3/account/me/images/3", perPage=2) == []
        assert listed("/3/account/me/images/ids/0", perPage=3) == newest[:3]
        assert all(i["deletehash"] for i in listed("/3/account/me/images"))
        count = client.get("/3/account/me/images/count", headers=bearer).json()["data"]
        assert count == 5
        name = listed("/3/account/me/images")[0]["account_url"]
        assert [i["id"] for i in listed(f"/3/account/{name}/images/0")] == newest
        assert client.get("/3/account/me/images").status_code == 403  # Client-ID
        other = client.get("/3/account/someone/images", headers=bearer)
        assert other.status_code == 403
        listing = client.get("/3/account/me/images", headers=bearer)
        etag = listing.headers["ETag"]
        cached = client.get("/3/account/me/images", headers={**bearer, "If-None-Match": etag})
        assert (cached.status_code, cached.content) == (304, b"")
        assert sb.stats()["uploads_stored"] == 6


def test_credits_cost_nothing_and_carry_no_rate_headers() -> None:
    clock = FakeTime(1_700_000_000.25)
    with imgur(clock) as (_, client):
        upload(client)
        opened = clock.now  # the user window opened with the upload
        for _ in range(2):
            clock.now += 10
            response = client.get("/3/credits")
            data = response.json()["data"]
            assert set(data) == {
                "UserLimit",
                "UserRemaining",
                "UserReset",
                "ClientLimit",
                "ClientRemaining",
            }
            assert (data["ClientLimit"], data["ClientRemaining"]) == (12500, 12490)
            assert (data["UserLimit"], data["UserRemaining"]) == (500, 490)
            assert data["UserReset"] == int(opened + 3600)  # an epoch here (reference 1.8)
            assert not {n.lower() for n in RATE_HEADERS} & set(response.headers)


def test_control_endpoints_are_not_counted_and_reset_clears() -> None:
    with imgur() as (sb, client):
        upload(client)
        client.get("/3/image/nope123")
        control = httpx.Client(base_url=sb.base_url, trust_env=False)
        stats = control.get("/_sandbox/stats").json()
        assert stats == sb.stats()
        assert stats["requests"] == 2
        assert stats["by_status"] == {"200": 1, "404": 1}
        assert stats["by_route"] == {"POST /imgur/3/image": 1, "GET /imgur/3/image/nope123": 1}
        assert (stats["faults_injected"], stats["faults"]) == (0, {})
        assert control.get("/_sandbox/uploads").json() == sb.uploads()
        assert control.get("/_sandbox/requests").json() == sb.requests()
        assert control.get("/_sandbox/nothing").status_code == 404
        assert control.post("/_sandbox/reset").json() == {"reset": True}
        assert (sb.uploads(), sb.requests()) == ([], [])
        assert sb.stats()["requests"] == 0
        assert upload(client).headers["X-RateLimit-UserRemaining"] == "490"  # buckets refilled
        control.close()


def test_stop_leaves_no_thread_port_or_files(tmp_path: Path) -> None:
    assert sandbox_threads() == []
    sb = Sandbox(SandboxConfig()).start()
    storage = sb._storage
    port = int(sb.base_url.rsplit(":", 1)[1])
    idle = httpx.Client(trust_env=False)  # a kept-alive connection must not keep a thread alive
    idle.post(f"{sb.base_url}/imgur/3/image", headers=AUTH, files={"image": ("a", png_bytes())})
    assert sandbox_threads() == ["uploader-sandbox", "uploader-sandbox-connection"]
    sb.stop()
    sb.stop()  # harmless twice
    idle.close()
    assert sandbox_threads() == []
    assert storage is not None
    assert not storage.exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    kept = tmp_path / "kept"
    with Sandbox(SandboxConfig(storage_dir=str(kept))) as sb:
        image = write_sized_png(tmp_path / "p.png", 5000)
        httpx.post(
            f"{sb.base_url}/imgur/3/image",
            headers=AUTH,
            files={"image": image.read_bytes()},
            trust_env=False,
        )
    assert len(list((kept / "imgur").iterdir())) == 1  # a given storage_dir is kept


def test_serve_forever_announces_then_stops_cleanly_on_sigterm() -> None:
    code = (
        "from uploader.sandbox import Sandbox, SandboxConfig\n"
        "def ready(url): print(url, flush=True)\n"
        "Sandbox.serve_forever(SandboxConfig(), '127.0.0.1', 0, ready)\n"
        "print('stopped', flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    url = first_line(proc)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    assert httpx.get(f"{url}/_sandbox/stats", trust_env=False).json()["requests"] == 0
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    assert (proc.returncode, out) == (0, "stopped\n")


def test_knobs_from_toml_name_the_bad_key(tmp_path: Path) -> None:
    path = tmp_path / "knobs.toml"
    path.write_text(
        'imgur_post_limit = 40\nimgur_post_window = 10\nfault_routes = ["all"]\n'
        'imgur_429_shape = "legacy"\nstorage_dir = "/tmp/x"\n'
    )
    config = SandboxConfig.from_toml(path)
    assert config == SandboxConfig(
        imgur_post_limit=40,
        imgur_post_window=10.0,
        fault_routes=("all",),
        imgur_429_shape="legacy",
        storage_dir="/tmp/x",
    )
    assert isinstance(config.imgur_post_window, float)
    for text, message in (
        ("imgur_post_limt = 40", "unknown knob 'imgur_post_limt'"),
        ("latency = 'slow'", "knob latency must be a number, got 'slow'"),
        ("imgur_post_limit = 1.5", "knob imgur_post_limit must be an integer, got 1.5"),
        ("imgur_post_limit = true", "knob imgur_post_limit must be an integer, got true"),
        ("fault_500 = 1.5", "knob fault_500 must be between 0 and 1, got 1.5"),
        ("imgur_user_window = 0", "knob imgur_user_window must be more than 0, got 0"),
        (
            "imgur_429_shape = 'modern'",
            "knob imgur_429_shape must be one of gateway, legacy, concatenated, got 'modern'",
        ),
        ("fault_routes = 'upload'", "knob fault_routes must be a list of strings, got 'upload'"),
        (
            "fault_routes = ['post']",
            "knob fault_routes must be a list of upload, get, all, got ['post']",
        ),
        ("imgur_tokens = [1]", "knob imgur_tokens must be a list of strings, got [1]"),
        ("oauth_auto_approve = 1", "knob oauth_auto_approve must be true or false, got 1"),
        ("latency = ", "invalid TOML"),
    ):
        path.write_text(text + "\n")
        with pytest.raises(ValueError, match=re.escape(message)) as caught:
            SandboxConfig.from_toml(path)
        assert "\n" not in str(caught.value)


def test_the_date_header_follows_the_sandbox_clock() -> None:
    """Clients correct clock skew with ``Date``: it must be the clock the resets use."""
    from email.utils import parsedate_to_datetime

    from uploader.sandbox import Sandbox

    fake = FakeTime(1_900_000_123.0)
    with Sandbox(clock=fake) as sb:
        answer = httpx.get(
            f"{sb.base_url}/imgur/3/credits",
            headers={"Authorization": "Client-ID cid-123"},
            trust_env=False,
        )
    assert parsedate_to_datetime(answer.headers["date"]).timestamp() == 1_900_000_123.0
    reset = json.loads(answer.content)["data"]["UserReset"]
    assert reset == 1_900_000_123 + 3600
