"""The ETag cache: validators sent as received, 304 served from disk, no-store honoured."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from uploader.http.cache import CACHE_STATUS_HEADER, EtagCache, cached_get
from uploader.http.session import ApiSession

URL = "http://127.0.0.1:1/api/images/abc"


class EtagOrigin:
    """A stateful fake origin: one ETag per body, answers 304 to a matching validator."""

    def __init__(
        self,
        etag: str = 'W/"a7e412cdca22553f942685d4ee5e1faf"',
        cache_control: str | None = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.etag = etag
        self.body = b'{"id": "abc", "title": "first"}'
        self.cache_control = cache_control
        self.status = status
        self.headers = headers or {}
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if request.headers.get("if-none-match") == self.etag:
            return httpx.Response(304, headers={"etag": self.etag})
        headers = {"etag": self.etag, "content-type": "application/json", **self.headers}
        if self.cache_control:
            headers["cache-control"] = self.cache_control
        return httpx.Response(self.status, content=self.body, headers=headers)


def _get(server: EtagOrigin, cache: EtagCache, identity: str = "id-1") -> httpx.Response:
    session = ApiSession(httpx.Client(transport=httpx.MockTransport(server)), None, lambda _r: [])
    return cached_get(session, cache, URL, identity=identity, costs={}, headers={})


def test_second_lookup_sends_validator_verbatim_and_serves_stored_body(tmp_path: Path) -> None:
    server = EtagOrigin()
    cache = EtagCache(tmp_path / "etags")
    first = _get(server, cache)
    second = _get(server, cache)
    assert "if-none-match" not in server.seen[0].headers
    assert server.seen[1].headers["if-none-match"] == 'W/"a7e412cdca22553f942685d4ee5e1faf"'
    assert second.status_code == 200
    assert second.content == first.content == server.body
    assert second.headers[CACHE_STATUS_HEADER] == "revalidated"
    assert CACHE_STATUS_HEADER not in first.headers
    files = list((tmp_path / "etags").iterdir())
    assert len(files) == 1
    assert files[0].stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "etags").stat().st_mode & 0o777 == 0o700


def test_changed_object_replaces_entry(tmp_path: Path) -> None:
    server = EtagOrigin(etag='"1111"')
    cache = EtagCache(tmp_path)
    _get(server, cache)
    server.etag = '"2222"'
    server.body = b'{"id": "abc", "title": "second"}'
    assert _get(server, cache).content == server.body
    assert server.seen[1].headers["if-none-match"] == '"1111"'
    _get(server, cache)
    assert server.seen[2].headers["if-none-match"] == '"2222"'


def test_entries_are_per_credential_identity(tmp_path: Path) -> None:
    server = EtagOrigin()
    cache = EtagCache(tmp_path)
    _get(server, cache, identity="alice")
    _get(server, cache, identity="bob")
    assert "if-none-match" not in server.seen[1].headers


def test_corrupt_entry_is_discarded_not_fatal(tmp_path: Path) -> None:
    server = EtagOrigin()
    cache = EtagCache(tmp_path / "c")
    _get(server, cache)
    (entry,) = (tmp_path / "c").iterdir()
    entry.write_text("{not json")
    response = _get(server, cache)
    assert response.content == server.body
    assert "if-none-match" not in server.seen[1].headers


def test_no_store_bodies_are_not_written(tmp_path: Path) -> None:
    server = EtagOrigin(cache_control="private, no-store")
    cache = EtagCache(tmp_path / "c")
    _get(server, cache)
    _get(server, cache)
    assert "if-none-match" not in server.seen[1].headers
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").iterdir())


def test_disabled_cache_and_invalidate(tmp_path: Path) -> None:
    server = EtagOrigin()
    off = EtagCache(tmp_path, enabled=False)
    _get(server, off)
    _get(server, off)
    assert all("if-none-match" not in r.headers for r in server.seen)
    on = EtagCache(tmp_path)
    _get(server, on)
    on.invalidate(URL, "id-1")
    _get(server, on)
    assert "if-none-match" not in server.seen[-1].headers


@pytest.mark.parametrize("status", [203, 404, 410])
def test_answers_other_than_200_are_never_cached(tmp_path: Path, status: int) -> None:
    server = EtagOrigin(status=status)  # with an ETag all the same
    cache = EtagCache(tmp_path / "c")
    assert _get(server, cache).status_code == status
    again = _get(server, cache)
    assert again.status_code == status
    assert "if-none-match" not in server.seen[1].headers
    assert CACHE_STATUS_HEADER not in again.headers
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").iterdir())


def test_link_and_paging_headers_survive_a_304(tmp_path: Path) -> None:
    paging = {
        "link": '<http://127.0.0.1:1/api/images?page=2>; rel="next"',
        "x-total-count": "42",
        "x-current-page": "1",
        "x-per-page": "20",
        "x-user-type": "lite",
    }
    server = EtagOrigin(headers={**paging, "x-request-id": "not kept"})
    cache = EtagCache(tmp_path / "c")
    first = _get(server, cache)
    second = _get(server, cache)
    assert server.seen[1].headers["if-none-match"] == server.etag  # answered 304
    assert second.headers[CACHE_STATUS_HEADER] == "revalidated"
    for name, value in paging.items():
        assert (first.headers[name], second.headers[name]) == (value, value)
    assert "x-request-id" not in second.headers  # only what describes the body is kept
