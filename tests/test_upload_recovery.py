"""An upload whose answer was lost (README "Retries"): where the provider lists recent
uploads (a signed-in Imgur account, Gyazo) the listing must settle it.

- proven (every field the provider keeps agrees, made in the attempt's window, unique, not
  another file's): reported, not re-sent;
- proven absent (the listing has caught up past the attempt and nothing in it may be
  ours): re-sent like a file that was never sent;
- anything else, a failed lookup included: ambiguous (exit 5), not re-sent unless
  ``--retry-ambiguous``, and then the record says the file may exist twice.

In process through ``commands.upload``; the transport loses answers (the body was read,
then the connection broke: ``httpx.ReadError``), time is injected. No ``Date`` header in
these answers: the clocks are taken as equal, with 3 s of slack for proof and 120 s for
doubt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.http import HTML_404, Routes
from tests.support.images import png_bytes, write_png
from tests.support.imgur import uploaded
from tests.support.pipeline import Run, run_upload
from tests.support.providers import config_of, imgur_toml
from uploader.errors import ExitCode
from uploader.http.retry import RetryPolicy

START = 1_785_000_000.0
LOST = httpx.ReadError("the connection broke while reading the answer")
IMGUR_POST = "POST /imgur/3/image"
IMGUR_RECENT = "GET /imgur/3/account/me/images"
RETRY = RetryPolicy(attempts=3, base=0.5)
ALLOW = RetryPolicy(attempts=3, base=0.5, retry_ambiguous=True)
PNG_SIZE = len(png_bytes())
NOT_YET = (
    "the upload's answer was lost and Imgur's listing does not show it yet (listings lag "
    "behind uploads); the image may or may not exist"
)
Answers = dict[str, list[httpx.Response | Exception]]


def _order(routes: Routes) -> list[str]:
    # Not the limiter's free cold-start credits check (tested in test_ratelimit_coldstart).
    return [f"{r.method} {r.url.path}" for r in routes.seen if not r.url.path.endswith("/credits")]


def _item(ident: str, when: float, **fields: Any) -> dict[str, Any]:
    """A listed image object with every field of an 8x8 ``a.png`` (as write_png makes)."""
    item = {
        **uploaded()["data"],
        "id": ident,
        "link": f"https://i.imgur.com/{ident}.png",
        "name": "a.png",
        "size": PNG_SIZE,
        "datetime": int(when),
    }
    item.update(fields)
    return item


def _listing(*items: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"data": list(items), "success": True, "status": 200})


EMPTY = _listing()


def _run(
    tmp_path: Path,
    env: dict[str, str],
    answers: Answers,
    files: list[str] | None = None,
    *,
    retry: RetryPolicy = RETRY,
    stdin: bytes = b"",
) -> tuple[Routes, Run, FakeTime]:
    fake = FakeTime(START)
    routes = Routes(answers, clock=fake.clock)
    if files is None:
        files = [str(write_png(tmp_path / "a.png"))]
    config = config_of(imgur_toml("http://127.0.0.1:1/imgur"), tmp_path)
    signed_in = {**env, "UPLOADER_IM_ACCESS_TOKEN": "im-token"}
    transport = httpx.MockTransport(routes)
    run = run_upload(config, files, signed_in, fake, transport=transport, retry=retry, stdin=stdin)
    return routes, run, fake


def _lost_then(recent: list[httpx.Response | Exception], **kw: Any) -> Answers:
    return {IMGUR_POST: [LOST, httpx.Response(200, json=uploaded())], IMGUR_RECENT: recent}


# -- proof of identity ---------------------------------------------------------------------


def test_a_lost_upload_is_found_when_every_field_agrees(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    routes, run, _ = _run(tmp_path, hermetic_env, _lost_then([_listing(_item("Mine001", START))]))
    assert _order(routes) == [IMGUR_POST, IMGUR_RECENT]  # not sent again
    (result,) = run.results
    assert (result.status, result.id, result.ambiguous) == ("uploaded", "Mine001", False)
    assert dict(result.extra)["recovered"] == "found among recent uploads after a lost answer"
    assert run.exit_code == ExitCode.OK


@pytest.mark.parametrize(
    "fields",
    [{"width": 9}, {"height": 16}, {"name": "b.png"}],
    ids=["width", "height", "name"],
)
def test_an_object_that_differs_is_not_it_and_a_caught_up_listing_proves_absence(
    tmp_path: Path, hermetic_env: dict[str, str], fields: dict[str, Any]
) -> None:
    # The listing shows a later upload (made long after the attempt) and, in the window,
    # an object with the same name and size but other dimensions or name: not this file.
    newer = _item("Newer01", START + 600, name="later.png", width=640)
    other = _item("Other01", START, **fields)
    routes, run, _ = _run(tmp_path, hermetic_env, _lost_then([_listing(newer, other)]))
    assert _order(routes) == [IMGUR_POST, IMGUR_RECENT, IMGUR_POST]  # absent: re-sent
    (result,) = run.results
    assert (result.status, result.id, result.ambiguous, result.error) == (
        "uploaded",
        "AbCdEf1",
        False,
        None,
    )


@pytest.mark.parametrize("fields", [{"size": PNG_SIZE + 1}, {"type": "image/jpeg"}])
def test_same_name_and_dimensions_but_another_size_or_type_is_neither_proof_nor_absence(
    tmp_path: Path, hermetic_env: dict[str, str], fields: dict[str, Any]
) -> None:
    newer = _item("Newer01", START + 600, name="later.png", width=640)
    maybe = _item("Maybe01", START, **fields)  # a re-encoding of this file, perhaps
    routes, run, _ = _run(tmp_path, hermetic_env, _lost_then([_listing(newer, maybe)]))
    assert _order(routes) == [IMGUR_POST] + [IMGUR_RECENT] * 4
    (result,) = run.results
    assert (result.status, result.id, result.ambiguous) == ("failed", None, True)
    assert "1 recent upload(s) could be it but do not match all its fields" in str(result.error)


def test_two_files_with_the_same_name_and_size_are_never_reported_as_each_other(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    a = write_png(_dir(tmp_path, "a") / "shot.png", seed=1)
    b = write_png(_dir(tmp_path, "b") / "shot.png", seed=2)
    assert a.stat().st_size == b.stat().st_size
    assert a.read_bytes() != b.read_bytes()
    a_obj = _item("ObjOfA1", START, name="shot.png")
    answers: Answers = {
        IMGUR_POST: [httpx.Response(200, json=uploaded(id="ObjOfA1")), LOST],
        IMGUR_RECENT: [_listing(a_obj)],  # b was never stored
    }
    routes, run, fake = _run(tmp_path, hermetic_env, answers, [str(a), str(b)])
    first, second = run.results
    assert (first.status, first.id) == ("uploaded", "ObjOfA1")
    assert (second.status, second.id, second.url, second.ambiguous) == ("failed", None, None, True)
    assert second.error == NOT_YET
    assert _order(routes) == [IMGUR_POST, IMGUR_POST] + [IMGUR_RECENT] * 4  # never re-sent
    assert fake.sleeps == [1.0, 2.0, 4.0]  # the listing was given time to catch up
    assert run.exit_code == ExitCode.PARTIAL


def test_an_exact_copy_is_not_reported_with_the_object_of_the_earlier_file(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    a = write_png(_dir(tmp_path, "a") / "shot.png")
    b = _dir(tmp_path, "b") / "shot.png"
    b.write_bytes(a.read_bytes())
    answers: Answers = {
        IMGUR_POST: [httpx.Response(200, json=uploaded(id="ObjOfA1")), LOST],
        IMGUR_RECENT: [_listing(_item("ObjOfA1", START, name="shot.png"))],
    }
    _routes, run, _ = _run(tmp_path, hermetic_env, answers, [str(a), str(b)])
    assert [(r.status, r.id) for r in run.results] == [("uploaded", "ObjOfA1"), ("failed", None)]


def test_an_object_that_fits_two_unresolved_files_is_neither_ones(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    a = write_png(_dir(tmp_path, "a") / "shot.png", seed=1)
    b = write_png(_dir(tmp_path, "b") / "shot.png", seed=2)
    # a's answer is lost and the listing does not show it (yet); then b's answer is lost
    # and the listing shows one object that fits both: a's, or b's, nobody can tell.
    one = _listing(_item("Either1", START + 7, name="shot.png"))  # b's attempt began at +7
    answers: Answers = {IMGUR_POST: [LOST], IMGUR_RECENT: [EMPTY] * 4 + [one]}
    routes, run, _ = _run(tmp_path, hermetic_env, answers, [str(a), str(b)])
    assert [(r.status, r.id, r.ambiguous) for r in run.results] == [
        ("failed", None, True),
        ("failed", None, True),
    ]
    assert "Imgur's matching upload Either1 could as well be that of " in str(run.results[1].error)
    assert routes.count("POST") == 2
    assert run.exit_code == ExitCode.PROVIDER


def test_a_candidate_claimed_by_an_earlier_file_of_the_run_is_not_taken(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # a's answer was lost and a was recovered as Obj0001; b (same name and size) loses its
    # answer too: the listing still holds only Obj0001, now a's.
    a = write_png(_dir(tmp_path, "a") / "shot.png", seed=1)
    b = write_png(_dir(tmp_path, "b") / "shot.png", seed=2)
    listing = _listing(_item("Obj0001", START, name="shot.png"))
    answers: Answers = {IMGUR_POST: [LOST], IMGUR_RECENT: [listing]}
    _routes, run, _ = _run(tmp_path, hermetic_env, answers, [str(a), str(b)])
    first, second = run.results
    assert (first.status, first.id, dict(first.extra).get("recovered")) == (
        "uploaded",
        "Obj0001",
        "found among recent uploads after a lost answer",
    )
    assert (second.status, second.id, second.ambiguous) == ("failed", None, True)


def test_standard_input_twice_is_not_reported_as_the_earlier_upload(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # Every stdin upload is stdin.png: a second one (same size, other pixels) loses its
    # answer; the listing shows the first one, made 60 s before by the server's clock.
    first = png_bytes(seed=1)
    earlier = _item("Stdin01", START - 60, name="stdin.png")
    answers: Answers = {IMGUR_POST: [LOST], IMGUR_RECENT: [_listing(earlier)]}
    routes, run, _ = _run(tmp_path, hermetic_env, answers, ["-"], stdin=png_bytes(seed=2))
    assert len(first) == len(png_bytes(seed=2))
    (result,) = run.results
    assert (result.path, result.status, result.id, result.ambiguous) == ("-", "failed", None, True)
    assert "could be it" in str(result.error)
    assert routes.count("POST") == 1


# -- a lookup that fails leaves the file ambiguous ------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "lookups", "cause"),
    [
        (HTML_404, 1, "404"),
        (httpx.Response(500, text="oops"), 4, "500"),
        (httpx.Response(200, text='{"data": [{"id"'), 4, "JSON"),
        (httpx.ReadTimeout("no answer in time"), 4, "time"),
    ],
    ids=["404 (no listing)", "5xx", "unreadable", "timeout"],
)
def test_a_failed_lookup_leaves_the_file_ambiguous(
    tmp_path: Path,
    hermetic_env: dict[str, str],
    answer: httpx.Response | Exception,
    lookups: int,
    cause: str,
) -> None:
    routes, run, _ = _run(tmp_path, hermetic_env, _lost_then([answer]))
    assert _order(routes) == [IMGUR_POST] + [IMGUR_RECENT] * lookups  # never re-sent
    (result,) = run.results
    assert (result.status, result.ambiguous) == ("failed", True)
    assert "the lookup among recent uploads failed (" in str(result.error)
    assert cause in str(result.error)
    assert run.exit_code == ExitCode.PROVIDER


# -- "not in the listing" is not "not created" -------------------------------------------------


def test_a_lagging_listing_without_a_newer_object_leaves_it_ambiguous(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    older = _item("Older01", START - 3600, name="old.png")
    routes, run, fake = _run(tmp_path, hermetic_env, _lost_then([_listing(older)]))
    assert _order(routes) == [IMGUR_POST] + [IMGUR_RECENT] * 4
    assert fake.sleeps == [1.0, 2.0, 4.0]
    (result,) = run.results
    assert (result.status, result.ambiguous, result.error) == ("failed", True, NOT_YET)
    assert run.errors[0] is not None
    assert "--retry-ambiguous re-sends such uploads" in str(run.errors[0].hint)


def test_a_lagging_listing_that_catches_up_finds_the_upload(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    mine = _listing(_item("Mine001", START + 0.5))
    routes, run, fake = _run(tmp_path, hermetic_env, _lost_then([EMPTY, EMPTY, mine]))
    assert _order(routes) == [IMGUR_POST] + [IMGUR_RECENT] * 3
    assert fake.sleeps == [1.0, 2.0]
    (result,) = run.results
    assert (result.status, result.id, result.ambiguous) == ("uploaded", "Mine001", False)


def test_a_listing_that_shows_a_newer_object_and_not_ours_proves_absence(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    newer = _listing(_item("Newer01", START + 500, name="other.png", width=640, height=480))
    routes, run, fake = _run(tmp_path, hermetic_env, _lost_then([EMPTY, EMPTY, newer]))
    assert _order(routes) == [IMGUR_POST] + [IMGUR_RECENT] * 3 + [IMGUR_POST]
    assert fake.sleeps[:2] == [1.0, 2.0]
    (result,) = run.results
    assert (result.status, result.id, result.ambiguous, result.error) == (
        "uploaded",
        "AbCdEf1",
        False,
        None,
    )


def test_an_answer_that_named_its_object_is_never_proven_absent(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    """A 200 that names the image it stored but gives no link: a listing that has caught
    up without it is a lag, not an absence (the server said it exists): ambiguous, the
    named id kept in the record, not sent again."""
    named = {"data": {"id": "Named01", "deletehash": "dh1", "link": None}, "success": True}
    newer = _listing(_item("Newer01", START + 500, name="other.png", width=640, height=480))
    answers: Answers = {
        IMGUR_POST: [httpx.Response(200, json=named), httpx.Response(200, json=uploaded())],
        IMGUR_RECENT: [EMPTY, EMPTY, newer],
    }
    routes, run, _ = _run(tmp_path, hermetic_env, answers)
    assert _order(routes) == [IMGUR_POST] + [IMGUR_RECENT] * 3
    (result,) = run.results
    assert (result.status, result.id, result.delete_id, result.ambiguous) == (
        "failed",
        "Named01",
        "dh1",
        True,
    )
    assert run.exit_code == ExitCode.PROVIDER


def test_a_newer_object_that_looks_like_ours_is_no_proof_of_absence(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # Made long after the attempt with this file's name and size: maybe this very upload,
    # stored late by a server that went on after the answer was lost.
    late = _listing(_item("Late001", START + 500))
    routes, run, _ = _run(tmp_path, hermetic_env, _lost_then([late]))
    assert routes.count("POST") == 1
    assert (run.results[0].status, run.results[0].ambiguous) == ("failed", True)


def test_retry_ambiguous_re_sends_and_the_record_says_it_may_exist_twice(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    routes, run, _ = _run(tmp_path, hermetic_env, _lost_then([EMPTY]), retry=ALLOW)
    # Four looks while the listing may catch up, one more before sending again.
    assert _order(routes) == [IMGUR_POST] + [IMGUR_RECENT] * 5 + [IMGUR_POST]
    (result,) = run.results
    assert (result.status, result.id, result.ambiguous, result.error) == (
        "uploaded",
        "AbCdEf1",
        True,
        "uploaded, but an earlier attempt's answer was lost: it may exist twice",
    )


def test_retry_ambiguous_after_a_failed_lookup_says_it_may_exist_twice(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    routes, run, _ = _run(tmp_path, hermetic_env, _lost_then([HTML_404]), retry=ALLOW)
    assert _order(routes) == [IMGUR_POST, IMGUR_RECENT, IMGUR_RECENT, IMGUR_POST]
    (result,) = run.results
    assert (result.status, result.ambiguous) == ("uploaded", True)
    assert result.error == "uploaded, but an earlier attempt's answer was lost: it may exist twice"


def test_a_recovered_upload_is_not_flagged_when_nothing_was_re_sent(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # With --retry-ambiguous the listing is still asked first: found, nothing re-sent.
    mine = _listing(_item("Mine001", START))
    routes, run, _ = _run(tmp_path, hermetic_env, _lost_then([EMPTY, mine]), retry=ALLOW)
    assert routes.count("POST") == 1
    (result,) = run.results
    assert (result.status, result.id, result.ambiguous, result.error) == (
        "uploaded",
        "Mine001",
        False,
        None,
    )


def _dir(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir(exist_ok=True)
    return path


def test_an_unreadable_upload_answer_is_looked_for_like_a_lost_one(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    truncated = httpx.Response(200, text='{"data": {"id": "Mine001", "li')
    answers: Answers = {
        IMGUR_POST: [truncated],
        IMGUR_RECENT: [EMPTY, _listing(_item("Mine001", START))],
    }
    routes, run, fake = _run(tmp_path, hermetic_env, answers)
    assert _order(routes) == [IMGUR_POST, IMGUR_RECENT, IMGUR_RECENT]
    assert fake.sleeps == [1.0]
    (result,) = run.results
    assert (result.status, result.id, result.ambiguous) == ("uploaded", "Mine001", False)
