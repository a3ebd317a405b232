"""An upload whose answer was lost (README "Retries"): where the provider lists recent
uploads (a signed-in Imgur account, Gyazo) the tool looks for it before sending again.

- found (made after the attempt started, give or take 120 s of clock slack): reported, not
  re-sent;
- not found: nothing was created, so the file is re-sent like one that was never sent;
- several candidates (Gyazo cannot tell them apart): not re-sent unless
  ``--retry-ambiguous``; the file is reported as ambiguous (exit 5).

In process through ``commands.upload``; the transport loses the first answer (the body was
read, then the connection broke: ``httpx.ReadError``), time is injected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.http import Routes
from tests.support.images import png_bytes, write_png
from tests.support.imgur import uploaded
from tests.support.pipeline import Run, run_upload
from tests.support.providers import config_of, imgur_toml, make_provider
from uploader.errors import ExitCode
from uploader.http.retry import RetryPolicy
from uploader.imaging.inspect import inspect_path
from uploader.providers.gyazo import GyazoProvider
from uploader.providers.imgur import ImgurProvider

START = 1_785_000_000.0
LOST = httpx.ReadError("the connection broke while reading the answer")
IMGUR_POST = "POST /imgur/3/image"
IMGUR_RECENT = "GET /imgur/3/account/me/images"
GYAZO_POST = "POST /gyazo-upload/api/upload"
GYAZO_RECENT = "GET /gyazo/api/images"
GYAZO = (
    '[providers.gy]\nkind = "gyazo"\nbase_url = "http://127.0.0.1:1/gyazo"\n'
    'upload_url = "http://127.0.0.1:1/gyazo-upload"\n'
)
RETRY = RetryPolicy(attempts=3, base=0.5)


def _run(
    tmp_path: Path,
    env: dict[str, str],
    answers: dict[str, list[httpx.Response | Exception]],
    *,
    config_text: str,
    retry: RetryPolicy = RETRY,
) -> tuple[Routes, Run]:
    fake = FakeTime(START)
    routes = Routes(answers, clock=fake.clock)
    image = str(write_png(tmp_path / "a.png"))
    config = config_of(config_text, tmp_path)
    run = run_upload(config, [image], env, fake, transport=httpx.MockTransport(routes), retry=retry)
    return routes, run


def _route_order(routes: Routes) -> list[str]:
    # Not the limiter's free cold-start credits check (tested in test_ratelimit_coldstart).
    return [f"{r.method} {r.url.path}" for r in routes.seen if not r.url.path.endswith("/credits")]


# -- Imgur, signed in -------------------------------------------------------------------------


def _imgur_listed(when: float) -> httpx.Response:
    """The account's recent uploads: one with the name and size of a.png, made at ``when``."""
    item = {**uploaded()["data"], "id": "Old0001", "name": "a.png", "size": len(png_bytes())}
    item.update(datetime=int(when), link="https://i.imgur.com/Old0001.png")
    return httpx.Response(200, json={"data": [item], "success": True, "status": 200})


def _imgur(tmp_path: Path, env: dict[str, str], recent: httpx.Response) -> tuple[Routes, Run]:
    answers: dict[str, list[httpx.Response | Exception]] = {
        IMGUR_POST: [LOST, httpx.Response(200, json=uploaded())],
        IMGUR_RECENT: [recent],
    }
    signed_in = {**env, "UPLOADER_IM_ACCESS_TOKEN": "im-token"}
    return _run(tmp_path, signed_in, answers, config_text=imgur_toml("http://127.0.0.1:1/imgur"))


def test_a_lost_upload_not_found_is_re_sent_as_never_sent(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    empty = httpx.Response(200, json={"data": [], "success": True, "status": 200})
    routes, run = _imgur(tmp_path, hermetic_env, empty)
    # Not there: nothing was created; the retry looks once more, then sends the file again.
    assert _route_order(routes) == [IMGUR_POST, IMGUR_RECENT, IMGUR_RECENT, IMGUR_POST]
    (result,) = run.results
    assert (result.status, result.id, result.ambiguous, result.error) == (
        "uploaded",
        "AbCdEf1",
        False,
        None,
    )
    assert dict(result.extra).get("recovered") is None
    data = (tmp_path / "a.png").read_bytes()
    assert [data in r.content for r in routes.requests(IMGUR_POST)] == [True, True]


def test_a_lost_upload_is_found_among_uploads_made_since_the_attempt_began(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # Made 120 s before the attempt by the server's clock: within the clock slack.
    routes, run = _imgur(tmp_path, hermetic_env, _imgur_listed(START - 120))
    assert _route_order(routes) == [IMGUR_POST, IMGUR_RECENT]  # not sent again
    (result,) = run.results
    assert (result.status, result.id) == ("uploaded", "Old0001")
    assert dict(result.extra)["recovered"] == "found among recent uploads after a lost answer"


def test_an_identical_upload_from_before_the_attempt_is_not_taken_for_it(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # Same name and size, but made 121 s before the attempt began: an earlier upload.
    routes, run = _imgur(tmp_path, hermetic_env, _imgur_listed(START - 121))
    assert _route_order(routes) == [IMGUR_POST, IMGUR_RECENT, IMGUR_RECENT, IMGUR_POST]
    (result,) = run.results
    assert (result.status, result.id) == ("uploaded", "AbCdEf1")


# -- Gyazo: recognised by time alone ------------------------------------------------------------


def _gyazo_item(image_id: str, when: float) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    return {
        "image_id": image_id,
        "permalink_url": f"https://gyazo.com/{image_id}",
        "url": f"https://i.gyazo.com/{image_id}.png",
        "type": "png",
        "created_at": stamp,
    }


@pytest.mark.parametrize(("age", "found"), [(120, "a" * 32), (121, None)])
def test_gyazo_finds_only_images_made_since_the_attempt_began(
    tmp_path: Path, age: float, found: str | None
) -> None:
    listing = [_gyazo_item("a" * 32, START - age)]
    routes = Routes({"GET /gyazo/api/images": [httpx.Response(200, json=listing)]})
    provider = make_provider(
        GyazoProvider,
        GYAZO,
        "gy",
        routes,
        tmp_path,
        env={"UPLOADER_GY_ACCESS_TOKEN": "gy-token"},
        clock=lambda: START,
    )
    image = inspect_path(str(write_png(tmp_path / "a.png")))
    result = provider.find_upload(image, since=START)
    assert (result.id if result else None) == found


@pytest.mark.parametrize(("age", "found"), [(120, "Old0001"), (121, None)])
def test_imgur_finds_only_uploads_made_since_the_attempt_began(
    tmp_path: Path, age: float, found: str | None
) -> None:
    image = inspect_path(str(write_png(tmp_path / "a.png")))
    routes = Routes({IMGUR_RECENT: [_imgur_listed(START - age)]})
    provider = make_provider(
        ImgurProvider,
        imgur_toml("http://127.0.0.1:1/imgur"),
        "im",
        routes,
        tmp_path,
        env={"UPLOADER_IM_ACCESS_TOKEN": "im-token"},
        clock=lambda: START,
    )
    result = provider.find_upload(image, since=START)
    assert (result.id if result else None) == found


def _gyazo_two_candidates(
    tmp_path: Path, env: dict[str, str], retry: RetryPolicy
) -> tuple[Routes, Run]:
    two = [_gyazo_item("b" * 32, START + 1), _gyazo_item("c" * 32, START + 2)]
    answers: dict[str, list[httpx.Response | Exception]] = {
        GYAZO_POST: [LOST, httpx.Response(200, json=_gyazo_item("d" * 32, START + 3))],
        GYAZO_RECENT: [httpx.Response(200, json=two)],
    }
    signed_in = {**env, "UPLOADER_GY_ACCESS_TOKEN": "gy-token"}
    return _run(tmp_path, signed_in, answers, config_text=GYAZO, retry=retry)


def test_ambiguous_candidates_are_not_re_sent_without_retry_ambiguous(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    routes, run = _gyazo_two_candidates(tmp_path, hermetic_env, RETRY)
    assert _route_order(routes) == [GYAZO_POST, GYAZO_RECENT]
    (result,) = run.results
    assert (result.status, result.ambiguous) == ("failed", True)
    assert result.error == ("the upload's answer was lost and 2 recent Gyazo images could be it")
    assert run.exit_code == ExitCode.PROVIDER


def test_ambiguous_candidates_are_re_sent_with_retry_ambiguous(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    allowed = RetryPolicy(attempts=3, base=0.5, retry_ambiguous=True)
    routes, run = _gyazo_two_candidates(tmp_path, hermetic_env, allowed)
    assert _route_order(routes) == [GYAZO_POST, GYAZO_RECENT, GYAZO_RECENT, GYAZO_POST]
    (result,) = run.results
    assert (result.status, result.id) == ("uploaded", "d" * 32)
    assert run.exit_code == ExitCode.OK
