"""Imgur's throttle shapes, the hidden upload throttle, the GIF 417, the concatenated 429
and the cost of /3/credits (reference 1.2, 1.8, 1.10), with a hand-moved clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.images import png_bytes
from tests.support.imgur import legacy_error, too_fast_body
from uploader.sandbox import Sandbox, SandboxConfig

AUTH = {"Authorization": "Client-ID abc"}
JSON_UTF8 = "application/json; charset=utf-8"
GIF = b"GIF89a\x02\x00\x03\x00\x00\x00\x00"


@contextmanager
def imgur(clock: FakeTime | None = None, **knobs: Any) -> Iterator[httpx.Client]:
    with (
        Sandbox(SandboxConfig(**knobs), clock=clock or FakeTime(1_700_000_000.0)) as sb,
        httpx.Client(base_url=sb.base_url + "/imgur", headers=AUTH, trust_env=False) as client,
    ):
        client.sandbox = sb  # type: ignore[attr-defined]
        yield client


def upload(client: httpx.Client, data: bytes | None = None, route: str = "/3/image") -> Any:
    content = png_bytes(seed=2) if data is None else data
    return client.post(route, files={"image": ("a", content)})


def too_fast(minutes: int) -> str:
    return f"You are uploading too fast. Please wait {minutes} more minutes."


def test_the_hidden_upload_throttle_refuses_with_credits_left() -> None:
    clock = FakeTime(1_700_000_000.0)
    with imgur(clock, imgur_upload_throttle=2, imgur_upload_throttle_window=600) as client:
        assert [upload(client).status_code for _ in range(2)] == [200, 200]
        refused = upload(client)
        # Reference 1.10 [OBS S8]: a gateway 429 while user/client credits and the POST
        # bucket are far from spent; nothing is charged for it.
        assert refused.status_code == 429
        assert refused.json()["errors"][0]["code"] == "429"
        assert refused.headers["content-type"] == "application/vnd.imgur.v1+json"
        assert refused.headers["X-RateLimit-UserRemaining"] == "480"
        assert refused.headers["X-RateLimit-ClientRemaining"] == "12480"
        assert refused.headers["X-Post-Rate-Limit-Remaining"] == "1248"
        assert "retry-after" not in refused.headers
        assert client.get("/3/credits").status_code == 200  # only uploads are throttled
        edit = client.post("/3/image/nope123", data={"title": "t"})  # a POST, not an upload
        assert edit.status_code == 404
        clock.now += 600  # the throttle's window is over
        assert upload(client).status_code == 200


def test_the_throttle_in_the_legacy_era_is_a_structured_400() -> None:
    clock = FakeTime(1_700_000_000.0)
    knobs = {"imgur_429_shape": "legacy", "imgur_upload_throttle": 1}
    with imgur(clock, **knobs) as client:
        assert upload(client).status_code == 200
        clock.now += 60.5
        refused = upload(client)
        # Reference 1.2 #2 [OBS S20, S16]: ImgurException code 429, HTTP and body 400.
        assert refused.status_code == 400
        assert refused.headers["content-type"] == JSON_UTF8
        # 3539.5 s left, rounded up to minutes
        assert refused.json() == too_fast_body(59)
        assert refused.headers["X-RateLimit-UserRemaining"] == "490"
    with imgur(imgur_throttle_shape="legacy429", **knobs) as client:
        upload(client)
        old = upload(client)
        assert old.status_code == 429
        assert old.json()["data"]["error"] == too_fast(60)
        assert old.json()["status"] == 429


def test_a_spent_post_bucket_in_the_legacy_era_defaults_to_the_structured_400() -> None:
    with imgur(imgur_429_shape="legacy", imgur_post_limit=1) as client:
        assert upload(client).status_code == 200
        refused = upload(client)
        assert refused.status_code == 400
        error = refused.json()["data"]["error"]
        assert (error["code"], error["message"]) == (429, too_fast(60))
        assert refused.headers["X-Post-Rate-Limit-Remaining"] == "0"
    with imgur(imgur_429_shape="legacy", fault_429=1.0) as client:  # a fault stays a 429
        injected = upload(client)
        assert injected.status_code == 429
        assert injected.json()["data"]["error"] == too_fast(60)


def test_the_concatenated_429_is_two_json_documents() -> None:
    with imgur(imgur_429_shape="concatenated", imgur_user_limit=10) as client:
        assert upload(client).status_code == 200
        refused = upload(client)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/vnd.imgur.v1+json"
        text = refused.text
        with pytest.raises(json.JSONDecodeError, match="Extra data"):
            json.loads(text)
        decoder = json.JSONDecoder()
        first, end = decoder.raw_decode(text)
        second, rest = decoder.raw_decode(text, end)
        assert first["errors"][0]["code"] == "429"
        assert second == legacy_error("Too Many Requests", status=429)
        assert rest == len(text)


def test_a_big_gif_gets_417_and_only_the_post_credit_is_spent() -> None:
    big = GIF + bytes(3000)
    with imgur(imgur_gif_417_size=2000) as client:
        refused = upload(client, big, "/3/upload")
        # Reference 1.2 #1 [OBS S8]: legacy body, and full user/client credits.
        assert refused.status_code == 417
        assert refused.headers["content-type"] == JSON_UTF8
        assert refused.json() == legacy_error(
            "Internal expectation failed", status=417, route="/3/upload"
        )
        assert refused.headers["X-RateLimit-UserRemaining"] == "500"
        assert refused.headers["X-RateLimit-ClientRemaining"] == "12500"
        assert refused.headers["X-Post-Rate-Limit-Remaining"] == "1249"
        assert client.sandbox.uploads() == []  # type: ignore[attr-defined]
        assert upload(client, GIF + bytes(1000)).status_code == 200  # under the threshold
        assert upload(client, png_bytes(width=300, height=300, seed=1)).status_code == 200
    with imgur() as client:  # off by default
        assert upload(client, big).status_code == 200


@pytest.mark.parametrize(("cost", "left"), [(0, 490), (1, 488)])
def test_credits_cost_is_a_knob(cost: int, left: int) -> None:
    with imgur(imgur_credits_cost=cost) as client:
        upload(client)
        client.get("/3/credits")
        response = client.get("/3/credits")
        assert response.headers["content-type"] == JSON_UTF8
        assert response.json()["data"]["UserRemaining"] == left
        assert "x-ratelimit-userremaining" not in response.headers  # reference 1.8 [3P S27]


def test_credits_refused_when_their_cost_cannot_be_paid() -> None:
    with imgur(imgur_credits_cost=5, imgur_user_limit=12) as client:
        assert upload(client).status_code == 200
        refused = client.get("/3/credits")
        assert refused.status_code == 429
        assert "x-ratelimit-userremaining" not in refused.headers


def test_every_imgur_json_answer_says_utf8() -> None:
    with imgur() as client:
        image = upload(client).json()["data"]
        for response in (
            client.get(f"/3/image/{image['id']}"),
            client.delete(f"/3/image/{image['deletehash']}"),
            client.get("/3/image/x", headers={"Authorization": ""}),  # 401
            client.post("/oauth2/token", data={"grant_type": "refresh_token"}),
        ):
            assert response.headers["content-type"] == JSON_UTF8, response.text
