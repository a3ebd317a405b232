"""The sandbox's seeded fault injection, latency and stop, driven with plain httpx."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.support.images import png_bytes
from tests.support.imgur import imgur_exception, legacy_error
from uploader.sandbox import Sandbox, SandboxConfig
from uploader.sandbox.server import SandboxRequest, SandboxResponse

AUTH = {"Authorization": "Client-ID abc"}
MIXED = {
    "fault_500": 0.1,
    "fault_502": 0.1,
    "fault_503": 0.1,
    "fault_429": 0.1,
    "fault_drop_before": 0.1,
    "fault_html": 0.1,
    "fault_bad_json": 0.1,
}

Outcome = tuple[object, ...]


@contextmanager
def imgur(**knobs: Any) -> Iterator[tuple[Sandbox, httpx.Client]]:
    with (
        Sandbox(SandboxConfig(**knobs)) as sb,
        httpx.Client(base_url=sb.base_url + "/imgur", headers=AUTH, trust_env=False) as client,
    ):
        yield sb, client


def outcome(send: Any) -> Outcome:
    """What a client saw: a disconnect, or the status with the fault-relevant details."""
    try:
        response: httpx.Response = send()
    except httpx.RemoteProtocolError:
        return ("dropped",)
    try:
        response.json()
        readable = True
    except json.JSONDecodeError:
        readable = False
    return (response.status_code, response.headers.get("retry-after"), readable)


def upload_outcomes(client: httpx.Client, count: int, *, with_gets: bool = False) -> list[Outcome]:
    seen = []
    for i in range(count):
        files = {"image": ("a.png", png_bytes(seed=i), "image/png")}
        seen.append(outcome(lambda files=files: client.post("/3/image", files=files)))
        if with_gets:  # not eligible with fault_routes=("upload",): must draw nothing
            assert client.get("/3/credits").status_code == 200
    return seen


def run(seed: int, count: int = 40, **knobs: Any) -> tuple[list[Outcome], dict[str, Any]]:
    with imgur(seed=seed, imgur_post_limit=10**6, **{**MIXED, **knobs}) as (sb, client):
        return upload_outcomes(client, count), sb.stats()


def test_same_seed_same_faults_in_the_same_order() -> None:
    first, stats = run(7)
    assert run(7)[0] == first
    assert run(8)[0] != first
    kinds = Counter(o[0] for o in first)
    assert {500, 502, 503, 429, "dropped", 200} <= set(kinds)
    assert (200, None, False) in first  # a truncated JSON body on a 200
    assert (503, "0", False) in first  # the Varnish page
    # Every draw is counted, per kind, and matches what the client saw.
    faults = stats["faults"]
    assert stats["faults_injected"] == sum(faults.values()) == 40 - first.count((200, None, True))
    assert faults.get("drop_before", 0) == kinds["dropped"]
    assert faults.get("bad_json", 0) == first.count((200, None, False))
    assert stats["responses_429"] == kinds[429] == faults.get("429", 0)
    assert stats["uploads_stored"] == kinds[200]  # bad_json stores too; the rest do not


def test_only_eligible_requests_draw() -> None:
    with imgur(seed=3, **MIXED) as (_, client):
        alone = upload_outcomes(client, 15)
    with imgur(seed=3, **MIXED) as (sb, client):
        mixed = upload_outcomes(client, 15, with_gets=True)
        assert sb.stats()["by_route"]["GET /imgur/3/credits"] == 15
    assert mixed == alone


def test_fault_routes_choose_gets_or_all() -> None:
    with imgur(fault_500=1.0, fault_routes=("get",)) as (_, client):
        image = client.post("/3/image", files={"image": ("a", png_bytes())})
        assert image.status_code == 200
        assert client.get(f"/3/image/{image.json()['data']['id']}").status_code == 500
        assert client.delete(f"/3/image/{image.json()['data']['deletehash']}").status_code == 200
    with imgur(fault_500=1.0, fault_routes=("all",)) as (sb, client):
        assert client.delete("/3/image/abc").status_code == 500
        assert client.post("/3/image", files={"image": ("a", png_bytes())}).status_code == 500
        # The control endpoints are never faulted nor counted.
        control = httpx.get(f"{sb.base_url}/_sandbox/stats", trust_env=False)
        assert control.status_code == 200
        assert control.json()["requests"] == 2


@pytest.mark.parametrize(("share", "expected"), [(1.0, {"1"}), (0.0, {None}), (0.5, {"1", None})])
def test_retry_after_on_a_share_of_injected_5xx(share: float, expected: set[str | None]) -> None:
    with imgur(seed=11, fault_502=1.0, fault_retry_after=share) as (_, client):
        seen = upload_outcomes(client, 20)
    assert {status for status, _, _ in seen} == {502}
    assert {hint for _, hint, _ in seen} == expected


def test_injected_5xx_and_429_keep_the_provider_shapes() -> None:
    with imgur(fault_503=1.0, fault_retry_after=1.0) as (_, client):
        response = client.post("/3/image", files={"image": ("a", png_bytes())})
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json()["data"]["request"] == "/3/image"
        assert response.headers["X-Post-Rate-Limit-Remaining"] == "1250"  # not charged
    with imgur(fault_429=1.0) as (sb, client):
        response = client.post("/3/image", files={"image": ("a", png_bytes())})
        assert response.status_code == 429
        assert response.headers["content-type"] == "application/vnd.imgur.v1+json"
        assert response.json()["errors"][0]["code"] == "429"
        assert response.headers["X-RateLimit-UserRemaining"] == "500"
        assert "retry-after" not in response.headers
        assert (sb.stats()["responses_429"], sb.uploads()) == (1, [])
    with imgur(fault_html=1.0) as (_, client):
        response = client.post("/3/image", files={"image": ("a", png_bytes())})
        assert response.status_code == 503
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["Retry-After"] == "0"
        assert b"Error 503 client read error" in response.content
    config = SandboxConfig(fault_503=1.0, fault_retry_after=1.0, fault_routes=("all",))
    with Sandbox(config) as sb:  # the server adds the hint for every emulator
        other = httpx.get(f"{sb.base_url}/mastodon/api/v2/instance", trust_env=False)
        assert (other.status_code, other.headers["Retry-After"]) == (503, "1")


def test_drop_after_stores_the_upload_but_the_client_sees_a_disconnect() -> None:
    data = png_bytes(seed=4)
    with imgur(fault_drop_after=1.0) as (sb, client):
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/3/image", files={"image": ("a.png", data)})
        (stored,) = sb.uploads()
        assert stored["sha256"] == hashlib.sha256(data).hexdigest()
        stats = sb.stats()
        assert (stats["faults"], stats["uploads_stored"], stats["by_status"]) == (
            {"drop_after": 1},
            1,
            {},
        )
        assert sb.requests()[0]["status"] is None
        assert sb.requests()[0]["file_field"] == "image"


def test_drop_before_reads_the_body_and_stores_nothing() -> None:
    with imgur(fault_drop_before=1.0) as (sb, client):
        with pytest.raises(httpx.RemoteProtocolError):  # not a reset while sending
            client.post("/3/image", files={"image": ("a.png", bytes(2 * 1024 * 1024))})
        assert sb.uploads() == []
        assert sb.stats()["faults"] == {"drop_before": 1}


def record_pauses(sb: Sandbox) -> list[float]:
    """Replace the server's waits by a record of them (no sleeping, no timing)."""
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        if seconds > 0:
            pauses.append(seconds)

    sb.server.pause = pause  # type: ignore[method-assign]
    return pauses


def test_slow_answers_after_slow_seconds_and_stores() -> None:
    with imgur(fault_slow=1.0, slow_seconds=7.5) as (sb, client):
        pauses = record_pauses(sb)
        response = client.post("/3/image", files={"image": ("a", png_bytes())})
        assert response.status_code == 200
        assert pauses == [7.5]  # once, the slow fault's wait before answering
        assert len(sb.uploads()) == 1
        assert sb.stats()["faults"] == {"slow": 1}


def test_latency_is_added_to_provider_answers_only() -> None:
    with imgur(latency=2.5) as (sb, client):
        pauses = record_pauses(sb)
        assert client.get("/3/credits").status_code == 200
        assert client.post("/3/image", files={"image": ("a", png_bytes())}).status_code == 200
        assert pauses == [2.5, 2.5]
        assert httpx.get(f"{sb.base_url}/_sandbox/stats", trust_env=False).status_code == 200
        assert httpx.post(f"{sb.base_url}/_sandbox/reset", trust_env=False).status_code == 200
        assert pauses == [2.5, 2.5]  # the control endpoints never wait


def test_a_real_pause_returns_at_once_when_the_server_stops() -> None:
    with Sandbox() as sb:
        server = sb.server
        paused = threading.Thread(target=server.pause, args=(120,))  # two minutes, unless
        paused.start()
        server.stopping.set()
        paused.join(60)  # a bound, not a timing: only catches a pause that ignores the stop
        assert not paused.is_alive()


def test_stop_interrupts_a_slow_answer() -> None:
    sb = Sandbox(SandboxConfig(fault_slow=1.0, slow_seconds=3600.0)).start()
    seen: list[Outcome] = []
    url = f"{sb.base_url}/imgur/3/image"

    def post() -> httpx.Response:
        files = {"image": png_bytes()}
        return httpx.post(url, headers=AUTH, files=files, timeout=120, trust_env=False)

    thread = threading.Thread(target=lambda: seen.append(outcome(post)))
    thread.start()
    deadline = time.monotonic() + 60  # generous bounds: they only catch a hang
    while not sb.uploads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sb.uploads()) == 1  # stored, and now waiting out its hour
    sb.stop()
    thread.join(60)
    assert not thread.is_alive()
    # Connections are cut before the wait ends, so the answer never goes out.
    assert seen == [("dropped",)]


def test_reset_restarts_the_fault_sequence() -> None:
    with imgur(seed=5, **MIXED) as (sb, client):
        first = upload_outcomes(client, 12)
        httpx.post(f"{sb.base_url}/_sandbox/reset", trust_env=False)
        assert sb.stats()["faults_injected"] == 0
        assert upload_outcomes(client, 12) == first


def test_imgur_cdn_forbidden_400() -> None:
    with imgur(fault_cdn_400=1.0) as (sb, client):  # reference 1.2 #1 [OBS S8 #8009]
        response = client.post("/3/image", files={"image": ("a", png_bytes())})
        assert response.status_code == 400
        assert response.json() == legacy_error(
            "These actions are forbidden.", status=400, route=None
        )
        assert response.headers["content-type"] == "application/json"
        assert (response.headers["CDN-Error"], response.headers["Retry-After"]) == ("yes", "0")
        assert "no-store" in response.headers["cache-control"]
        assert "x-ratelimit-userremaining" not in response.headers  # the CDN answered
        assert (sb.uploads(), sb.stats()["faults"]) == ([], {"cdn_400": 1})


def test_imgur_structured_forbidden_and_over_capacity() -> None:
    with imgur(fault_forbidden_400=1.0) as (_, client):  # reference 1.2 #2 [OBS S8 #3085]
        response = client.post("/3/upload", files={"image": ("a", png_bytes())})
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert response.json() == imgur_exception(403, "Forbidden", route="/3/upload")
        assert response.headers["X-RateLimit-UserRemaining"] == "500"
    with imgur(fault_over_capacity=1.0) as (sb, client):  # reference 1.2 #1 [3P S12, S16]
        response = client.post("/3/image", files={"image": ("a", png_bytes())})
        assert response.status_code == 500
        assert response.json() == legacy_error(
            "Imgur is over capacity. Please try again.", status=1203
        )
        assert "retry-after" not in response.headers
        assert sb.uploads() == []


def test_imgur_html_405() -> None:
    with imgur(fault_html_405=1.0, fault_routes=("all",)) as (sb, client):
        response = client.get("/3/image/abcdefg")  # reference 1.2 #5 [OBS S8 #2231]
        assert response.status_code == 405
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert b"<title>405 Not Allowed</title>" in response.content
        assert sb.stats()["by_status"] == {"405": 1}


def test_imgur_only_faults_spend_a_draw_but_leave_other_providers_alone() -> None:
    knobs = {"fault_cdn_400": 0.5, "fault_html_405": 0.5, "fault_routes": ("all",)}
    with Sandbox(SandboxConfig(seed=1, **knobs)) as sb:
        for _ in range(10):
            answer = httpx.get(f"{sb.base_url}/mastodon/api/v2/instance", trust_env=False)
            assert answer.status_code == 200
        assert sb.stats()["faults_injected"] == 0
        with httpx.Client(base_url=sb.base_url + "/imgur", headers=AUTH, trust_env=False) as c:
            statuses = {c.get("/3/credits").status_code for _ in range(10)}
        assert statuses == {400, 405}


def test_new_fault_kinds_leave_old_seeded_sequences_alone() -> None:
    first, _ = run(7)
    more, _ = run(7, fault_cdn_400=0.3)  # its interval comes after MIXED's 0.7
    changed = [(old, new) for old, new in zip(first, more, strict=True) if old != new]
    assert changed
    assert set(changed) == {((200, None, True), (400, "0", True))}


class Echo:
    """A minimal emulator: what slotting a new provider in takes."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def route_kind(self, method: str, path: str) -> str:
        return "upload" if method == "POST" else "get"

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.path == "/crash":
            raise RuntimeError("emulator bug")
        body = request.read(1 << 20)
        self.seen.append((request.method, request.path, request.query, body))
        return SandboxResponse(200, b'{"ok": true}')

    def fault_response(self, kind: str, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(int(kind) if kind.isdigit() else 503, b"{}")

    def uploads(self) -> list[dict[str, Any]]:
        return [{"provider": "echo"}] * len(self.seen)

    def reset(self) -> None:
        self.seen.clear()


def test_an_emulator_slots_in_by_prefix_and_its_crash_is_a_500() -> None:
    echo = Echo()
    with Sandbox(SandboxConfig(fault_500=1.0, fault_routes=("get",))) as sb:
        sb.server.emulators["/echo"] = echo
        base = sb.base_url
        answer = httpx.post(f"{base}/echo/a/b?x=1&y=", content=b"payload", trust_env=False)
        assert (answer.status_code, answer.json()) == (200, {"ok": True})
        assert answer.headers["content-type"] == "application/json"
        assert echo.seen == [("POST", "/a/b", {"x": "1", "y": ""}, b"payload")]
        assert httpx.get(f"{base}/echo/a", trust_env=False).status_code == 500  # faults apply
        segment = httpx.get(f"{base}/echoes", trust_env=False)  # a prefix is a whole segment
        assert segment.status_code == 404
        crash = httpx.post(f"{base}/echo/crash", content=b"x" * 100_000, trust_env=False)
        assert (crash.status_code, crash.content) == (500, b"sandbox emulator error\n")
        assert sb.stats()["uploads_stored"] == 1
        assert sb.stats()["by_status"] == {"200": 1, "500": 2, "404": 1}
