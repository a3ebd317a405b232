"""The Mastodon emulator's GET and DELETE ``/api/v1/statuses/:id``, with plain httpx."""

from __future__ import annotations

import httpx

from tests.support.clock import FakeTime
from tests.support.images import png_bytes
from uploader.sandbox import Sandbox, SandboxConfig

MA = {"Authorization": "Bearer ma"}


def _post(sb: Sandbox, *seeds: int) -> dict[str, object]:
    ids = []
    for seed in seeds:
        media = httpx.post(
            f"{sb.base_url}/mastodon/api/v2/media",
            headers=MA,
            files={"file": ("a.png", png_bytes(seed=seed), "image/png")},
            trust_env=False,
        )
        ids.append(media.json()["id"])
    posted = httpx.post(
        f"{sb.base_url}/mastodon/api/v1/statuses",
        headers=MA,
        data={"media_ids[]": ids, "status": "hi"},
        trust_env=False,
    )
    assert posted.status_code == 200
    body: dict[str, object] = posted.json()
    return body


def _status(sb: Sandbox, sid: object, method: str = "GET", **kw: object) -> httpx.Response:
    url = f"{sb.base_url}/mastodon/api/v1/statuses/{sid}"
    return httpx.request(method, url, trust_env=False, **kw)  # type: ignore[arg-type]


def test_get_answers_the_stored_status_with_its_media() -> None:
    with Sandbox(SandboxConfig()) as sb:
        posted = _post(sb, 1, 2)
        got = _status(sb, posted["id"], headers=MA)
        assert got.status_code == 200
        assert got.headers["cache-control"] == "private, no-store"
        assert got.json() == posted
        assert [m["id"] for m in got.json()["media_attachments"]] == [
            m["id"]
            for m in posted["media_attachments"]  # type: ignore[attr-defined]
        ]
        assert _status(sb, "999", headers=MA).json() == {"error": "Record not found"}
        assert _status(sb, "999", headers=MA).status_code == 404


def test_delete_is_for_the_author_and_delete_media_removes_the_media() -> None:
    with Sandbox(SandboxConfig()) as sb:
        posted = _post(sb, 3)
        (media,) = posted["media_attachments"]  # type: ignore[misc]
        other = {"Authorization": "Bearer someone-else"}
        assert _status(sb, posted["id"], "DELETE", headers=other).status_code == 404
        gone = _status(sb, posted["id"], "DELETE", headers=MA, params={"delete_media": "true"})
        assert gone.status_code == 200
        assert _status(sb, posted["id"], headers=MA).status_code == 404
        assert [u["id"] for u in sb.uploads()] == []
        kept = _post(sb, 4)
        assert _status(sb, kept["id"], "DELETE", headers=MA).status_code == 200
        (left,) = sb.uploads()  # without delete_media the media is detached, kept for re-use
        lookup = httpx.get(
            f"{sb.base_url}/mastodon/api/v1/media/{left['id']}", headers=MA, trust_env=False
        )
        assert lookup.status_code == 200
        assert media["id"] != left["id"]


def _reset_epoch(response: httpx.Response) -> float:
    from datetime import datetime

    text = response.headers["x-ratelimit-reset"]
    assert text.endswith(".250000Z")  # 6 fractional digits: the request's own microseconds
    return datetime.fromisoformat(text[:-1] + "+00:00").timestamp()


def test_status_posts_and_deletes_carry_their_own_throttles_headers() -> None:
    """Reference 3.5/3.7: a status post's headers are the statuses family's (300 per 3 h),
    a status delete's are throttle_api_delete's (30 per 30 min), which refuses the 31st."""
    fake = FakeTime(1_785_592_219.25)  # mid-window for every throttle: no boundary crossed
    with Sandbox(SandboxConfig(), clock=fake.clock) as sb:
        url = f"{sb.base_url}/mastodon/api/v1/statuses"
        ids = []
        for n in range(31):
            posted = httpx.post(url, headers=MA, data={"status": f"n{n}"}, trust_env=False)
            assert posted.status_code == 200
            ids.append(posted.json()["id"])
        assert posted.headers["x-ratelimit-limit"] == "300"
        assert posted.headers["x-ratelimit-remaining"] == "269"
        assert _reset_epoch(posted) == 1_785_596_400.25  # the next 3-hour boundary
        for n, sid in enumerate(ids[:30]):
            gone = _status(sb, sid, "DELETE", headers=MA)
            assert gone.status_code == 200
            assert gone.headers["x-ratelimit-limit"] == "30"
            assert gone.headers["x-ratelimit-remaining"] == str(29 - n)
        assert _reset_epoch(gone) == 1_785_592_800.25  # the next 30-minute boundary
        refused = _status(sb, ids[30], "DELETE", headers=MA)
        assert refused.status_code == 429
        assert refused.json() == {"error": "Too many requests"}
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert "retry-after" not in refused.headers
        assert _status(sb, ids[30], headers=MA).status_code == 200  # not deleted
        # Other requests still answer with the per-token API throttle's headers.
        got = _status(sb, ids[30], headers=MA)
        assert got.headers["x-ratelimit-limit"] == "300"
        assert _reset_epoch(got) == 1_785_592_500.25  # the next 5-minute boundary
