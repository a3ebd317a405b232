"""A post's link (``status_url`` of ``upload --post``) given to ``info`` and ``delete``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.test_mastodon_provider import BASE, MEDIA, MID, TOKEN, Server, _provider
from uploader.errors import ExitCode, ProviderError, UsageError

SID = "117020576894252000"
OTHER = "117020576894251993"
LINKS = [f"{BASE}/@me/{SID}", f"{BASE}/users/me/statuses/{SID}", f"{BASE}/@me/{SID}/"]


def _status(*media: dict[str, object]) -> dict[str, object]:
    return {"id": SID, "url": LINKS[0], "media_attachments": list(media)}


@pytest.mark.parametrize("link", LINKS)
def test_info_of_a_post_with_one_media_is_that_media(tmp_path: Path, link: str) -> None:
    server = Server({f"GET /api/v1/statuses/{SID}": [httpx.Response(200, json=_status(MEDIA))]})
    info = _provider(server, tmp_path).info(link)
    assert (info.id, info.delete_id, info.url) == (MID, MID, MEDIA["url"])
    assert ("dimensions", "8x8") in info.extra
    (lookup,) = server.seen[-1:]
    assert lookup.url.path == f"/mastodon/api/v1/statuses/{SID}"
    assert lookup.headers["authorization"] == f"Bearer {TOKEN}"
    assert not server.requests(f"GET /api/v1/media/{MID}")


def test_delete_of_a_post_with_one_media_deletes_the_post_and_its_media(tmp_path: Path) -> None:
    server = Server(
        {
            f"GET /api/v1/statuses/{SID}": [httpx.Response(200, json=_status(MEDIA))],
            f"DELETE /api/v1/statuses/{SID}": [httpx.Response(200, json=_status(MEDIA))],
        }
    )
    message = _provider(server, tmp_path).delete(LINKS[1])
    assert message == f"deleted Mastodon post {SID} and its media {MID}"
    (delete,) = server.requests(f"DELETE /api/v1/statuses/{SID}")
    assert delete.url.params["delete_media"] == "true"
    assert delete.headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("action", ["info", "delete"])
def test_a_post_with_no_media_is_a_usage_error(tmp_path: Path, action: str) -> None:
    for status in (_status(), {"id": SID, "media_attachments": None}):
        server = Server({f"GET /api/v1/statuses/{SID}": [httpx.Response(200, json=status)]})
        with pytest.raises(UsageError) as error:
            getattr(_provider(server, tmp_path), action)(LINKS[0])
        assert "post with no media" in error.value.message
        assert error.value.exit_code == ExitCode.USAGE
        assert not server.requests(f"DELETE /api/v1/statuses/{SID}")


@pytest.mark.parametrize("action", ["info", "delete"])
def test_a_post_with_several_media_names_them(tmp_path: Path, action: str) -> None:
    status = _status(MEDIA, {**MEDIA, "id": OTHER})
    server = Server({f"GET /api/v1/statuses/{SID}": [httpx.Response(200, json=status)]})
    with pytest.raises(UsageError) as error:
        getattr(_provider(server, tmp_path), action)(LINKS[2])
    assert f"post with 2 media: {MID}, {OTHER}" in error.value.message
    assert error.value.exit_code == ExitCode.USAGE
    assert "pass one of these media ids" in (error.value.hint or "")
    assert not server.requests(f"DELETE /api/v1/statuses/{SID}")


@pytest.mark.parametrize("action", ["info", "delete"])
def test_a_missing_post_is_the_usual_not_found(tmp_path: Path, action: str) -> None:
    server = Server({})  # every unknown route answers 404 Record not found
    with pytest.raises(ProviderError) as error:
        getattr(_provider(server, tmp_path), action)(LINKS[0])
    assert f"no such post {SID}: Record not found (HTTP 404)" in error.value.message
    assert error.value.exit_code == ExitCode.PROVIDER
    assert [r.method for r in server.seen if "statuses" in r.url.path] == ["GET"]


def test_a_post_deleted_meanwhile_is_the_usual_not_found(tmp_path: Path) -> None:
    server = Server({f"GET /api/v1/statuses/{SID}": [httpx.Response(200, json=_status(MEDIA))]})
    with pytest.raises(ProviderError) as error:
        _provider(server, tmp_path).delete(LINKS[0])
    assert f"no such post {SID}" in error.value.message
    assert error.value.exit_code == ExitCode.PROVIDER


def test_a_post_link_on_another_server_is_refused(tmp_path: Path) -> None:
    server = Server({})
    with pytest.raises(UsageError, match="not to this profile's server"):
        _provider(server, tmp_path).info(f"https://elsewhere.example/@me/{SID}")
    assert not [r for r in server.seen if "statuses" in r.url.path]


def test_a_posted_media_id_points_at_the_post_link(tmp_path: Path) -> None:
    with pytest.raises(ProviderError) as lookup:
        _provider(Server({}), tmp_path).info(MID)
    with pytest.raises(ProviderError) as delete:
        _provider(Server({}), tmp_path).delete(MID)
    for error in (lookup.value, delete.value):
        assert "give the post's link" in (error.hint or "")
        assert "status_url" in (error.hint or "")


def test_a_media_file_link_on_another_media_host_is_still_a_media(tmp_path: Path) -> None:
    link = "https://files.example/system/media_attachments/files/000/000/042/original/a.png"
    server = Server({"GET /api/v1/media/42": [httpx.Response(200, json={**MEDIA, "id": "42"})]})
    assert _provider(server, tmp_path).info(link).id == "42"
    assert not [r for r in server.seen if "statuses" in r.url.path]


def _delete_answer(path: str, limit: str, remaining: str, method: str = "DELETE") -> httpx.Response:
    headers = {
        "X-RateLimit-Limit": limit,
        "X-RateLimit-Remaining": remaining,
        "X-RateLimit-Reset": "2026-08-01T14:00:00.524560Z",
    }
    return httpx.Response(200, headers=headers, request=httpx.Request(method, BASE + path))


def test_a_post_deletes_rate_headers_of_the_delete_throttle_are_no_bucket(tmp_path: Path) -> None:
    """DELETE of a status is also counted by throttle_api_delete (30 per 30 min, reference
    3.7); when that is the closest throttle its headers are not the API bucket's."""
    provider = _provider(Server({}), tmp_path)
    for path in (f"/api/v1/statuses/{SID}", f"/api/v1/statuses/{SID}/"):
        assert provider.rate_updates(_delete_answer(path, "30", "29")) == []
        assert provider.rate_updates(_delete_answer(path, "", "29")) == []
    unreblog = f"/api/v1/statuses/{SID}/unreblog"
    assert provider.rate_updates(_delete_answer(unreblog, "30", "3", "POST")) == []
    # The per-token API throttle closer to exhaustion: its headers, as on any request.
    (update,) = provider.rate_updates(_delete_answer(f"/api/v1/statuses/{SID}", "300", "2"))
    assert (update.bucket, update.limit, update.remaining) == ("api", 300, 2)
    # Other requests with a low limit are untouched (a fork's own smaller API budget).
    (media_get,) = provider.rate_updates(_delete_answer(f"/api/v1/media/{MID}", "30", "29", "GET"))
    assert (media_get.bucket, media_get.limit) == ("api", 30)
    (media_delete,) = provider.rate_updates(_delete_answer(f"/api/v1/media/{MID}", "30", "9"))
    assert (media_delete.bucket, media_delete.remaining) == ("api", 9)
