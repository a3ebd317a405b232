"""Hostile listings for lost-answer recovery (issue 11 section 1, re-audit): pages the
server cut shorter than asked, and lookups that fail in every way at the end-of-batch
look. Never a re-send of a file that may exist, never another file's object.

In process with scripted answers (set-up: tests/test_upload_recovery.py and
tests/test_upload_recheck.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.images import write_png
from tests.support.pipeline import run_upload
from tests.support.providers import config_of, imgur_toml
from tests.test_upload_recheck import _b_answer
from tests.test_upload_recovery import (
    IMGUR_POST,
    LOST,
    START,
    _item,
    _listing,
    _lost_then,
    _order,
    _run,
)
from uploader.errors import AmbiguousUploadError, ExitCode


@pytest.mark.parametrize("count", [50, 60, 99])
def test_an_imgur_page_cut_to_the_servers_default_proves_no_absence(
    tmp_path: Path, hermetic_env: dict[str, str], count: int
) -> None:
    # A server that ignores perPage=100 sends 50 (its default) or some other number: the
    # page need not reach back to the attempt, ours may be on the next page; the listed
    # objects are all newer and other files': nothing proves absence.
    newer = [
        _item(f"New{n:04}", START + 600 + n, name=f"n{n}.png", width=640) for n in range(count)
    ]
    routes, run, _ = _run(tmp_path, hermetic_env, _lost_then([_listing(*newer)]))
    assert _order(routes).count(IMGUR_POST) == 1  # not re-sent
    (result,) = run.results
    assert (result.status, result.ambiguous) == ("failed", True)
    # A short page (fewer than any server's page) holds everything: absence is proven.
    routes, run, _ = _run(tmp_path, hermetic_env, _lost_then([_listing(*newer[:49])]))
    assert _order(routes).count(IMGUR_POST) == 2
    assert run.results[0].status == "uploaded"


GYAZO = (
    '[providers.gz]\nkind = "gyazo"\nbase_url = "http://127.0.0.1:1/gyazo"\n'
    'upload_url = "http://127.0.0.1:1/gyazo-upload"\n'
)


def _gyazo_item(ident: str, when: float) -> dict[str, Any]:
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    return {"image_id": ident, "url": f"https://i.gyazo.com/{ident}.jpg", "type": "jpg"} | {
        "created_at": stamp
    }


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Per-Page": "20"}, {"X-Per-Page": "20", "X-Total-Count": "350"}],
)
def test_a_gyazo_page_cut_to_its_default_proves_no_absence(
    tmp_path: Path, hermetic_env: dict[str, str], headers: dict[str, str]
) -> None:
    # A full page of the server's default size (20) of newer objects of another type:
    # the page may hide ours, made before them; absence is not proven.
    newer = [_gyazo_item(f"{n:032x}", START + 600 + n) for n in range(20)]
    posts: list[httpx.Response | Exception] = [LOST]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            answer = posts.pop(0) if posts else httpx.Response(500)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return httpx.Response(200, json=newer, headers=headers)

    fake = FakeTime(START)
    config = config_of(GYAZO, tmp_path)
    run = run_upload(
        config,
        [str(write_png(tmp_path / "a.png"))],
        {**hermetic_env, "UPLOADER_GZ_ACCESS_TOKEN": "t"},
        fake,
        transport=httpx.MockTransport(handler),
        provider="gz",
    )
    assert seen.count("POST /gyazo-upload/api/upload") == 1  # not re-sent
    assert (run.results[0].status, run.results[0].ambiguous) == ("failed", True)
    assert run.exit_code == ExitCode.PROVIDER


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(404, text="<title>imgur: the simple 404 page</title>"),
        httpx.Response(500, json={"data": {"error": "boom"}, "success": False, "status": 500}),
        httpx.Response(429, json={"errors": [{"code": "429", "status": "Too Many Requests"}]}),
        httpx.Response(200, text="{not json"),
        httpx.Response(200, json={"data": "no list", "success": True, "status": 200}),
        httpx.ReadTimeout("the listing timed out"),
    ],
    ids=["404", "500", "429", "unreadable", "no-list", "timeout"],
)
def test_an_end_look_that_fails_in_any_way_leaves_the_file_ambiguous(
    tmp_path: Path, hermetic_env: dict[str, str], failure: httpx.Response | Exception
) -> None:
    fake = FakeTime(START)
    lookups: list[float] = []
    posts: list[httpx.Response | Exception] = [LOST, _b_answer()]

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        if request.url.path.endswith("/credits"):
            return httpx.Response(404)
        if request.method == "POST":
            answer = posts.pop(0)  # a third POST would fail the test here
            if isinstance(answer, Exception):
                raise answer
            return answer
        lookups.append(fake.clock())
        if len(lookups) <= 4:  # lagging during the first pass
            return _listing()
        if isinstance(failure, Exception):
            raise failure
        return httpx.Response(failure.status_code, headers=failure.headers, content=failure.content)

    config = config_of(imgur_toml("http://127.0.0.1:1/imgur"), tmp_path)
    files = [str(write_png(tmp_path / n, seed=i)) for i, n in enumerate(("a.png", "b.png"))]
    run = run_upload(
        config,
        files,
        {**hermetic_env, "UPLOADER_IM_ACCESS_TOKEN": "im-token"},
        fake,
        transport=httpx.MockTransport(handler),
    )
    a, b = run.results
    assert posts == []  # a sent once, b once
    assert len(lookups) >= 5  # the end look happened
    assert (a.status, a.ambiguous, b.status) == ("failed", True, "uploaded")
    assert isinstance(run.errors[0], AmbiguousUploadError)
    assert run.exit_code == ExitCode.PARTIAL


def _paged_run(
    tmp_path: Path, env: dict[str, str], pages: dict[str, list[dict[str, Any]]]
) -> tuple[list[str], Any]:
    """One file whose answer is lost; the listing answers by ``page``."""
    fake = FakeTime(START)
    posts: list[httpx.Response | Exception] = [LOST, _b_answer("Again01")]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        if request.url.path.endswith("/credits"):
            return httpx.Response(404)
        if request.method == "POST":
            seen.append("POST")
            answer = posts.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        page = request.url.params.get("page", "0")
        seen.append(f"page {page}")
        return _listing(*pages.get(page, []))

    config = config_of(imgur_toml("http://127.0.0.1:1/imgur"), tmp_path)
    run = run_upload(
        config,
        [str(write_png(tmp_path / "a.png"))],
        {**env, "UPLOADER_IM_ACCESS_TOKEN": "im-token"},
        fake,
        transport=httpx.MockTransport(handler),
    )
    return seen, run


@pytest.mark.parametrize("count", [50, 75, 99])
def test_a_page_that_may_be_cut_is_settled_by_the_next_one(
    tmp_path: Path, hermetic_env: dict[str, str], count: int
) -> None:
    newer = [
        _item(f"New{n:04}", START + 600 + n, name=f"n{n}.png", width=640) for n in range(count)
    ]
    # The next page is empty: the first held everything; nothing is ours: absent, re-sent.
    seen, run = _paged_run(tmp_path, hermetic_env, {"0": newer})
    assert seen == ["POST", "page 0", "page 1", "POST"]
    assert (run.results[0].status, run.results[0].id) == ("uploaded", "Again01")
    # The server had cut the page: the next one holds the rest, ours among it.
    mine = _item("Mine001", START)
    seen, run = _paged_run(tmp_path, hermetic_env, {"0": newer, "1": [mine]})
    assert seen == ["POST", "page 0", "page 1"]
    assert (run.results[0].status, run.results[0].id) == ("uploaded", "Mine001")
