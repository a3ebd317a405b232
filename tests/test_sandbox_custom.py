"""The sandbox's self-hosted hosts under /custom (issue 17): real HTTP to a real server.

Chevereto API v1, Zipline v4, XBackBone and a plain-text host: each route and error, each
rate-limit header style, 429s, deletes, and the bytes served equal to the bytes sent.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.e2e import sandbox_process
from tests.support.images import jpeg_bytes, png_bytes
from uploader.sandbox import Sandbox, SandboxConfig
from uploader.sandbox.knobs import KnobError

KEY = "sandbox-custom-key"
T0 = 1_800_000_000.25
PNG = png_bytes(seed=3)


@contextmanager
def custom(clock: FakeTime | None = None, **knobs: Any) -> Iterator[tuple[Sandbox, httpx.Client]]:
    with (
        Sandbox(SandboxConfig(**knobs), clock=clock or FakeTime(T0)) as sb,
        httpx.Client(base_url=f"{sb.base_url}/custom", trust_env=False) as client,
    ):
        yield sb, client


def chevereto(client: httpx.Client, data: bytes = PNG, **fields: str) -> httpx.Response:
    return client.post(
        "/chevereto/api/1/upload",
        headers={"X-API-Key": KEY},
        files={"source": ("shot.png", data, "image/png")},
        data=fields,
    )


def zipline(client: httpx.Client, *files: tuple[str, bytes], token: str = KEY) -> httpx.Response:
    parts = [("file", (name, data, "application/octet-stream")) for name, data in files]
    return client.post("/zipline/api/upload", headers={"Authorization": token}, files=parts)


def xbackbone(client: httpx.Client, token: str = KEY, data: bytes = PNG) -> httpx.Response:
    return client.post(
        "/xbackbone/upload", files={"upload": ("pic.png", data, "image/png")}, data={"token": token}
    )


def text(client: httpx.Client, **fields: str) -> httpx.Response:
    return client.post("/text/upload", files={"file": ("note.png", PNG, "image/png")}, data=fields)


def test_chevereto_upload_shape_bytes_thumb_viewer_and_delete() -> None:
    clock = FakeTime(T0)
    photo = jpeg_bytes(40, 30)
    with custom(clock) as (sb, client):
        answer = chevereto(client, photo, title="Title", description="Desc", album_id="Ab1")
        assert answer.status_code == 200
        body = answer.json()
        assert body["status_code"] == 200
        assert body["status_txt"] == "OK"
        assert body["success"] == {"message": "image uploaded", "code": 200}
        image = body["image"]
        image_id = image["id_encoded"]
        origin = f"{sb.base_url}/custom/chevereto"
        assert re.fullmatch(r"[A-Za-z0-9]{6}", image_id)
        assert image["url"] == f"{origin}/images/{image_id}.jpg"
        assert image["url_viewer"] == f"{origin}/image/{image_id}"
        assert image["thumb"]["url"] == f"{origin}/images/{image_id}.th.jpg"
        assert re.fullmatch(
            rf"{re.escape(origin)}/delete/{image_id}/[0-9a-f]{{32}}", image["delete_url"]
        )
        assert (image["width"], image["height"], image["size"]) == (40, 30, len(photo))
        assert (image["extension"], image["mime"], image["name"]) == ("jpg", "image/jpeg", "shot")
        assert (image["title"], image["description"], image["album_id"]) == ("Title", "Desc", "Ab1")
        assert image["md5"] == hashlib.md5(photo, usedforsecurity=False).hexdigest()
        assert client.get(image["url"]).content == photo
        assert client.get(image["thumb"]["url"]).content == photo
        assert "<img" in client.get(image["url_viewer"]).text
        (listed,) = sb.uploads()
        assert listed["provider"] == "custom/chevereto"
        assert listed["sha256"] == hashlib.sha256(photo).hexdigest()
        assert (listed["size"], listed["metadata"], listed["auth"]) == (
            len(photo),
            ["COM"],
            "X-API-Key",
        )
        wrong = client.get(
            image["delete_url"][:-1] + ("0" if image["delete_url"][-1] != "0" else "1")
        )
        assert wrong.status_code == 404
        assert client.get(f"{origin}/delete/nope/{'0' * 32}").status_code == 404
        deleted = client.get(image["delete_url"])
        assert deleted.status_code == 200
        assert "Image deleted" in deleted.text
        assert client.get(image["url"]).status_code == 404
        assert client.get(image["thumb"]["url"]).status_code == 404
        assert sb.uploads() == []


def test_chevereto_image_without_readable_size_omits_width_and_height() -> None:
    odd = b"\xff\xd8\xff\xe0" + bytes(30)  # a JPEG start with no frame header to read
    with custom() as (_sb, client):
        image = chevereto(client, odd).json()["image"]
        assert "width" not in image
        assert "height" not in image


def test_chevereto_key_in_field_or_query_base64_source_txt_and_redirect() -> None:
    with custom() as (sb, client):
        encoded = base64.b64encode(PNG).decode()
        as_text = client.post(
            "/chevereto/api/1/upload", data={"key": KEY, "source": encoded, "format": "txt"}
        )
        assert as_text.status_code == 200
        assert as_text.headers["content-type"].startswith("text/plain")
        assert re.fullmatch(
            rf"{re.escape(sb.base_url)}/custom/chevereto/images/\w+\.png", as_text.text
        )
        assert client.get(as_text.text).content == PNG
        redirect = client.post(
            f"/chevereto/api/1/upload/?key={KEY}&format=redirect",
            files={"source": ("a.png", PNG, "image/png")},
        )
        assert redirect.status_code == 302
        assert re.fullmatch(
            rf"{re.escape(sb.base_url)}/custom/chevereto/image/\w+", redirect.headers["location"]
        )
        assert [u["auth"] for u in sb.uploads()] == ["key", "key"]
        logged = " ".join(str(entry) for entry in sb.requests())
        assert KEY not in logged  # the key, sent in a field and a query, is never logged


def test_chevereto_refusals_in_its_error_shape_store_nothing() -> None:
    with custom() as (sb, client):
        anonymous = client.post("/chevereto/api/1/upload", files={"source": ("a.png", PNG)})
        assert anonymous.status_code == 400
        assert anonymous.json() == {
            "status_code": 400,
            "error": {"message": "No key provided", "code": 100},
            "status_txt": "Bad Request",
        }
        wrong = client.post(
            "/chevereto/api/1/upload",
            headers={"X-API-Key": "nope"},
            files={"source": ("a.png", PNG)},
        )
        assert wrong.status_code == 400
        assert wrong.json()["error"] == {"message": "Invalid API v1 key.", "code": 100}
        empty = client.post("/chevereto/api/1/upload", headers={"X-API-Key": KEY}, data={"a": "b"})
        assert empty.json()["error"] == {"message": "Empty upload source.", "code": 130}
        not_image = chevereto(client, b"just some text, not an image")
        assert not_image.status_code == 400
        assert not_image.json()["error"]["message"] == "Invalid file type."
        bad_base64 = client.post("/chevereto/api/1/upload", data={"key": KEY, "source": "@@@"})
        assert bad_base64.json()["error"] == {"message": "Invalid base64 string", "code": 120}
        as_text = client.post("/chevereto/api/1/upload?key=nope&format=txt", data={"x": "y"})
        assert (as_text.status_code, as_text.text) == (400, "Invalid API v1 key.\n")
        for answer in (anonymous, wrong, empty, not_image, bad_base64, as_text):
            assert "x-ratelimit-remaining" in answer.headers
        assert sb.uploads() == []
        assert list((sb.server.workdir).iterdir()) == []  # no part left behind


def test_chevereto_429_retry_after_in_seconds_then_the_window_resets() -> None:
    clock = FakeTime(T0)
    with custom(clock, custom_limit=2, custom_window=60.0) as (sb, client):
        first = chevereto(client)
        assert first.headers["x-ratelimit-limit"] == "2"
        assert first.headers["x-ratelimit-remaining"] == "1"
        assert first.headers["x-ratelimit-reset"] == str(math.ceil(T0 + 60))
        clock.now += 10
        assert chevereto(client).headers["x-ratelimit-remaining"] == "0"
        refused = chevereto(client)
        assert refused.status_code == 429
        assert refused.json() == {
            "status_code": 429,
            "error": {"message": "Too many requests", "code": 429},
            "status_txt": "Too Many Requests",
        }
        assert refused.headers["retry-after"] == "50"  # the window opened 10 s ago
        assert refused.headers["x-ratelimit-reset"] == str(math.ceil(T0 + 60))
        assert len(sb.uploads()) == 2
        clock.now = T0 + 60
        again = chevereto(client)
        assert again.status_code == 200
        assert again.headers["x-ratelimit-remaining"] == "1"
        assert sb.stats()["responses_429"] == 1
        assert sb.stats()["by_route"]["POST /custom/chevereto/api/1/upload"] == 4


def test_zipline_several_files_lowercase_fastify_headers_and_delete() -> None:
    clock = FakeTime(T0)
    with custom(clock) as (sb, client):
        answer = zipline(client, ("a.png", PNG), ("notes.txt", b"hello"))
        assert answer.status_code == 200
        first, second = answer.json()["files"]
        for entry, ext in ((first, "png"), (second, "txt")):
            assert set(entry) == {"id", "name", "type", "url"}
            assert re.fullmatch(rf"[A-Za-z0-9]{{6}}\.{ext}", entry["name"])
            assert entry["url"] == f"{sb.base_url}/custom/zipline/u/{entry['name']}"
        assert (first["type"], second["type"]) == ("image/png", "text/plain")
        raw = answer.headers.raw
        names = [name for name, _ in raw if name.lower().startswith(b"x-ratelimit")]
        assert names == [b"x-ratelimit-limit", b"x-ratelimit-remaining", b"x-ratelimit-reset"]
        assert answer.headers["x-ratelimit-reset"] == "60"
        assert client.get(first["url"]).content == PNG
        assert client.get(second["url"]).content == b"hello"
        assert sorted(u["provider"] for u in sb.uploads()) == ["custom/zipline"] * 2
        entry = next(r for r in sb.requests() if r["path"] == "/custom/zipline/api/upload")
        assert entry["auth_scheme"] is None  # a raw token: nothing of it but its hash
        assert entry["auth_sha256"] == hashlib.sha256(KEY.encode()).hexdigest()
        gone = client.delete(
            f"/zipline/api/user/files/{first['id']}", headers={"Authorization": KEY}
        )
        assert gone.status_code == 200
        assert (gone.json()["id"], gone.json()["name"]) == (first["id"], first["name"])
        assert client.get(first["url"]).status_code == 404
        by_name = client.delete(
            f"/zipline/api/user/files/{second['name']}", headers={"Authorization": KEY}
        )
        assert by_name.status_code == 200
        missing = client.delete(
            f"/zipline/api/user/files/{first['id']}", headers={"Authorization": KEY}
        )
        assert missing.status_code == 404
        assert missing.json() == {"error": "E4000: File not found", "code": 4000, "statusCode": 404}
        assert sb.uploads() == []


def test_zipline_refusals_and_its_429() -> None:
    clock = FakeTime(T0)
    with custom(clock, custom_limit=3) as (sb, client):
        bad = zipline(client, ("a.png", PNG), token="nope")
        assert bad.status_code == 401
        assert bad.json() == {"error": "E2001: Invalid token", "code": 2001, "statusCode": 401}
        none = client.post("/zipline/api/upload", files={"file": ("a.png", PNG)})
        assert none.status_code == 401
        assert none.json()["code"] == 2000
        nothing = client.post(
            "/zipline/api/upload", headers={"Authorization": KEY}, data={"a": "b"}
        )
        assert nothing.status_code == 400
        assert nothing.json()["statusCode"] == 400
        refused = zipline(client, ("a.png", PNG))
        assert refused.status_code == 429
        assert refused.json() == {
            "statusCode": 429,
            "error": "Too Many Requests",
            "message": "Rate limit exceeded, retry in 1 minute",
        }
        assert refused.headers["retry-after"] == "60"
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert sb.uploads() == []


def test_xbackbone_upload_page_raw_and_token_delete_without_rate_headers() -> None:
    with custom() as (sb, client):
        answer = xbackbone(client)
        assert answer.status_code == 201
        body = answer.json()
        assert (body["message"], body["version"]) == ("OK", "3.8.1")
        url = body["url"]
        assert re.fullmatch(rf"{re.escape(sb.base_url)}/custom/xbackbone/\w+/\w{{8}}\.png", url)
        assert not any("ratelimit" in name.lower() for name in answer.headers)
        assert client.get(f"{url}/raw").content == PNG
        assert "text/html" in client.get(url).headers["content-type"]
        assert sb.uploads()[0]["provider"] == "custom/xbackbone"
        assert client.get(f"{url}/delete/nope").status_code == 401
        assert client.get(f"{url}/delete/{KEY}").status_code == 200
        assert client.get(f"{url}/raw").status_code == 404
        assert client.get(f"{url}/delete/{KEY}").status_code == 404
        assert sb.uploads() == []
        # The token travels in a form field and in the delete link: neither is logged.
        assert KEY not in str(sb.requests())
        assert KEY not in str(sb.stats())
        assert sb.stats()["by_route"][f"GET {url[len(sb.base_url) :]}/delete/TOKEN"] == 3


def test_xbackbone_refusals_and_a_429_with_no_headers_at_all() -> None:
    with custom(custom_limit=3) as (sb, client):
        bad = xbackbone(client, token="nope")
        assert (bad.status_code, bad.json()) == (
            401,
            {"message": "Token not found.", "version": "3.8.1"},
        )
        no_file = client.post("/xbackbone/upload", data={"token": KEY})
        assert no_file.status_code == 400
        assert no_file.json()["message"] == "Request without file attached."
        assert xbackbone(client).status_code == 201
        refused = xbackbone(client)
        assert refused.status_code == 429
        assert refused.text == "Too Many Requests\n"
        assert not any(
            "ratelimit" in name.lower() or name.lower() == "retry-after" for name in refused.headers
        )
        assert len(sb.uploads()) == 1


def test_text_host_anonymous_or_secret_plain_answers_ietf_headers_and_delete() -> None:
    clock = FakeTime(T0)
    with custom(clock, custom_limit=5, custom_window=120.0) as (sb, client):
        answer = text(client)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        found = re.fullmatch(r"File uploaded: (\S+)\nDelete: (\S+)\n", answer.text)
        assert found is not None
        url, delete_url = found.groups()
        assert re.fullmatch(rf"{re.escape(sb.base_url)}/custom/text/f/\w{{6}}\.png", url)
        assert answer.headers["ratelimit-policy"] == '"default";q=5;w=120'
        assert answer.headers["ratelimit"] == '"default";r=4;t=120'
        assert client.get(url).content == PNG
        assert text(client, secret=KEY).status_code == 200
        wrong = text(client, secret="nope")
        assert (wrong.status_code, wrong.text) == (401, "error: invalid secret\n")
        assert [u["auth"] for u in sb.uploads()] == [None, "secret"]
        assert client.get(delete_url[:-1] + "x").status_code == 403
        assert client.get(delete_url).text == "deleted\n"
        assert client.get(url).status_code == 404
        refused = text(client)
        assert refused.status_code == 429
        assert refused.text == "error: too many requests\n"
        assert refused.headers["retry-after"] == formatdate(math.ceil(T0 + 120), usegmt=True)
        assert refused.headers["ratelimit"] == '"default";r=0;t=120'


def test_text_host_without_a_file_answers_one_line() -> None:
    with custom() as (sb, client):
        answer = client.post("/text/upload", data={"secret": KEY})
        assert (answer.status_code, answer.text) == (400, "error: no file\n")
        assert sb.uploads() == []


RESET = math.ceil(T0 + 60)


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (
            "ietf",
            {"ratelimit-policy": '"default";q=5;w=60', "ratelimit": '"default";r=4;t=60'},
        ),
        (
            "draft",
            {"ratelimit-limit": "5", "ratelimit-remaining": "4", "ratelimit-reset": "60"},
        ),
        ("x-epoch", {"x-ratelimit-limit": "5", "x-ratelimit-reset": str(RESET)}),
        ("x-seconds", {"x-ratelimit-remaining": "4", "x-ratelimit-reset": "60"}),
        ("x-iso", {"x-ratelimit-reset": "2027-01-15T08:01:01Z"}),
        ("x-ms", {"x-ratelimit-reset": str(math.ceil((T0 + 60) * 1000))}),  # ms: not rounded to s
        ("none", {}),
    ],
)
def test_every_header_style_is_forced_on_every_host(style: str, expected: dict[str, str]) -> None:
    known = ("ratelimit", "x-ratelimit", "retry-after")
    with custom(custom_limit=5, custom_headers=style) as (_sb, client):
        for answer in (
            chevereto(client),
            zipline(client, ("a.png", PNG)),
            xbackbone(client),
            text(client),
        ):
            assert answer.status_code in (200, 201)
            shown = {k.lower(): v for k, v in answer.headers.items() if k.lower().startswith(known)}
            assert {k: shown.get(k) for k in expected} == expected
            if style == "none":
                assert shown == {}


@pytest.mark.parametrize(
    ("form", "expected"),
    [("seconds", "60"), ("date", formatdate(RESET, usegmt=True)), ("none", None)],
)
def test_retry_after_forms_are_forced_on_every_host(form: str, expected: str | None) -> None:
    with custom(custom_limit=0, custom_retry_after=form) as (_sb, client):
        for answer in (
            chevereto(client),
            zipline(client, ("a.png", PNG)),
            xbackbone(client),
            text(client),
        ):
            assert answer.status_code == 429
            assert answer.headers.get("retry-after") == expected


def test_faults_apply_to_the_custom_hosts() -> None:
    with custom(fault_drop_after=1.0) as (sb, client):
        with pytest.raises(httpx.RemoteProtocolError):
            text(client)
        assert [u["provider"] for u in sb.uploads()] == ["custom/text"]  # stored, then dropped
    with custom(fault_429=1.0, custom_limit=7) as (sb, client):
        refused = zipline(client, ("a.png", PNG))
        assert refused.status_code == 429
        assert refused.json()["error"] == "Too Many Requests"
        assert refused.headers["x-ratelimit-limit"] == "7"
        assert refused.headers["retry-after"] == "60"
        assert sb.stats()["faults"] == {"429": 1}
        assert sb.uploads() == []


def test_reset_forgets_files_and_budgets() -> None:
    with custom(custom_limit=1) as (sb, client):
        url = xbackbone(client).json()["url"]
        assert xbackbone(client).status_code == 429
        sb.reset()
        assert sb.uploads() == []
        assert client.get(f"{url}/raw").status_code == 404
        assert xbackbone(client).status_code == 201


def test_custom_knobs_are_checked() -> None:
    with pytest.raises(KnobError, match="custom_key"):
        SandboxConfig(custom_key=" ")
    with pytest.raises(KnobError, match="custom_headers"):
        SandboxConfig(custom_headers="x-weird")  # type: ignore[arg-type]
    with pytest.raises(KnobError, match="custom_window"):
        SandboxConfig(custom_window=0.0)


def test_the_sandbox_process_takes_the_custom_knobs() -> None:
    with (
        sandbox_process("custom_key=other-key", "custom_headers=draft", "custom_limit=9") as base,
        httpx.Client(base_url=f"{base}/custom", trust_env=False) as client,
    ):
        assert xbackbone(client).status_code == 401
        answer = xbackbone(client, token="other-key")
        assert answer.status_code == 201
        assert answer.headers["ratelimit-limit"] == "9"
        assert answer.headers["ratelimit-remaining"] == "7"
        assert client.get(answer.json()["url"] + "/raw").content == PNG
