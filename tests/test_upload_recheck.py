"""The end-of-batch look (README "Retries"): a file whose lost answer a lagging listing
could not settle gets one more look at the listing once the batch is done, under the same
proof rules; its line and every later one are held until then, so line N is still the
Nth path's.

In process through ``commands.upload`` with scripted answers (tests/test_upload_recovery.py
explains the set-up). The listing answers carry a ``Date`` header on the fake clock, so
the slack is the measured 3 s.
"""

from __future__ import annotations

from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.images import write_png
from tests.support.imgur import uploaded
from tests.support.pipeline import Run, run_upload
from tests.support.providers import config_of, imgur_toml
from tests.test_upload_recovery import ALLOW, IMGUR_POST, IMGUR_RECENT, LOST, RETRY, START
from tests.test_upload_recovery import _item as item_of
from uploader.errors import AmbiguousUploadError, ExitCode
from uploader.http.retry import RetryPolicy

# The first file's lookups wait 1, 2 and 4 s: the rest of the batch starts 7 s later.
LATER = START + 7


class Listing:
    """``GET /3/account/me/images``: an empty page for the first ``lagging`` lookups, then
    ``items``; every page with a Date header from the fake clock."""

    def __init__(self, fake: FakeTime, lagging: int, items: list[dict[str, Any]]) -> None:
        self.fake, self.lagging, self.items, self.served = fake, lagging, items, 0

    def __call__(self) -> httpx.Response:
        self.served += 1
        shown = [] if self.served <= self.lagging else self.items
        return httpx.Response(
            200,
            json={"data": shown, "success": True, "status": 200},
            headers={"Date": formatdate(self.fake.clock(), usegmt=True)},
        )


def _batch(
    tmp_path: Path,
    env: dict[str, str],
    posts: list[httpx.Response | Exception],
    listing: list[dict[str, Any]],
    *,
    names: tuple[str, ...] = ("a.png", "b.png"),
    lagging: int = 4,
    retry: RetryPolicy = RETRY,
    broken_listing: bool = False,
) -> tuple[list[str], Run, Listing]:
    fake = FakeTime(START)
    pages = Listing(fake, lagging, listing)
    seen: list[str] = []
    queue = list(posts)

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        path = request.url.path
        if path.endswith("/credits"):
            return httpx.Response(404)
        seen.append(f"{request.method} {path}")
        if request.method == "POST":
            answer = queue.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        if broken_listing and pages.served >= lagging:
            pages.served += 1
            return httpx.Response(503, text="busy")
        return pages()

    files = [str(write_png(tmp_path / name, seed=n)) for n, name in enumerate(names)]
    config = config_of(imgur_toml("http://127.0.0.1:1/imgur"), tmp_path)
    signed_in = {**env, "UPLOADER_IM_ACCESS_TOKEN": "im-token"}
    run = run_upload(
        config, files, signed_in, fake, transport=httpx.MockTransport(handler), retry=retry
    )
    return seen, run, pages


def _b_answer(ident: str = "Bbbbbb1") -> httpx.Response:
    return httpx.Response(200, json=uploaded(id=ident, link=f"https://i.imgur.com/{ident}.png"))


def _b_listed(ident: str = "Bbbbbb1") -> dict[str, Any]:
    return item_of(ident, LATER, name="b.png")


def test_a_file_the_lagging_listing_left_ambiguous_is_found_at_the_end_of_the_batch(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    seen, run, _ = _batch(
        tmp_path, hermetic_env, [LOST, _b_answer()], [_b_listed(), item_of("Mine001", START)]
    )
    assert seen == [IMGUR_POST] + [IMGUR_RECENT] * 4 + [IMGUR_POST, IMGUR_RECENT]
    a, b = run.results  # in input order, each once
    assert (a.path, a.status, a.id, a.ambiguous) == (a.path, "uploaded", "Mine001", False)
    assert a.path.endswith("a.png")
    assert dict(a.extra)["recovered"] == "found among recent uploads after a lost answer"
    assert (b.status, b.id) == ("uploaded", "Bbbbbb1")
    assert run.errors == [None, None]
    assert run.exit_code == ExitCode.OK


def test_a_file_proven_absent_at_the_end_of_the_batch_is_sent_again(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # The listing has caught up past a's attempt (b's upload, 7 s later, is listed) and
    # shows nothing that could be a: a was never stored; sending it again duplicates nothing.
    again = _b_answer("Again01")
    seen, run, _ = _batch(tmp_path, hermetic_env, [LOST, _b_answer(), again], [_b_listed()])
    assert seen == [IMGUR_POST] + [IMGUR_RECENT] * 4 + [IMGUR_POST, IMGUR_RECENT, IMGUR_POST]
    a, b = run.results
    assert (a.status, a.id, a.ambiguous, a.error) == ("uploaded", "Again01", False, None)
    assert (b.status, b.id) == ("uploaded", "Bbbbbb1")
    assert run.exit_code == ExitCode.OK


def test_a_file_the_end_look_cannot_settle_stays_ambiguous_and_is_not_sent_again(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # Still lagging at the end (nothing listed): not re-sent, the loop's record stands.
    seen, run, _ = _batch(tmp_path, hermetic_env, [LOST, _b_answer()], [], lagging=99)
    assert seen == [IMGUR_POST] + [IMGUR_RECENT] * 4 + [IMGUR_POST, IMGUR_RECENT]
    a, b = run.results
    assert (a.status, a.ambiguous) == ("failed", True)
    assert isinstance(run.errors[0], AmbiguousUploadError)
    assert "listing does not show it yet" in (a.error or "")
    assert b.status == "uploaded"
    assert run.exit_code == ExitCode.PARTIAL


def test_a_look_alike_of_the_lost_file_at_the_end_keeps_it_ambiguous(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # An unclaimed object with a's name and dimensions but another size, made meanwhile:
    # a re-encoding of a, perhaps. Neither proof nor absence.
    maybe = item_of("Maybe01", START + 1, size=999)
    seen, run, _ = _batch(tmp_path, hermetic_env, [LOST, _b_answer()], [_b_listed(), maybe])
    assert seen.count(IMGUR_POST) == 2
    assert (run.results[0].status, run.results[0].ambiguous) == ("failed", True)
    assert run.exit_code == ExitCode.PARTIAL


def test_a_failed_end_look_leaves_the_file_ambiguous(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    seen, run, _ = _batch(
        tmp_path, hermetic_env, [LOST, _b_answer()], [_b_listed()], broken_listing=True
    )
    assert seen.count(IMGUR_POST) == 2  # absence not proven: not re-sent
    assert seen[-1] == IMGUR_RECENT
    a, _b = run.results
    assert (a.status, a.ambiguous) == ("failed", True)
    assert run.exit_code == ExitCode.PARTIAL


def test_the_claimed_upload_of_a_later_look_alike_is_never_taken_at_the_end(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # b is a's twin by every field the listing keeps (same name in another folder, same
    # size and dimensions); b's upload is claimed by b: it proves a's absence, never a's.
    (tmp_path / "d").mkdir()
    twin = item_of("Bbbbbb1", LATER)  # name a.png, a's size and dimensions
    again = _b_answer("Again01")
    seen, run, _ = _batch(
        tmp_path,
        hermetic_env,
        [LOST, _b_answer(), again],
        [twin],
        names=("a.png", "d/a.png"),
    )
    a, b = run.results
    assert (b.status, b.id) == ("uploaded", "Bbbbbb1")
    assert (a.status, a.id) == ("uploaded", "Again01")  # re-sent, not b's object
    assert seen.count(IMGUR_POST) == 3


def test_lines_after_the_unsettled_file_are_held_until_the_end_look(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # a, b, c: the record of a comes first, though it was settled after c's upload.
    c_answer = httpx.Response(200, json=uploaded(id="Cccccc1", link="https://i.imgur.com/C.png"))
    _seen, run, _ = _batch(
        tmp_path,
        hermetic_env,
        [LOST, _b_answer(), c_answer],
        [_b_listed(), item_of("Cccccc1", LATER, name="c.png"), item_of("Mine001", START)],
        names=("a.png", "b.png", "c.png"),
    )
    assert [r.id for r in run.results] == ["Mine001", "Bbbbbb1", "Cccccc1"]
    assert [Path(r.path).name for r in run.results] == ["a.png", "b.png", "c.png"]
    assert any("looked at again at the end of the batch" in n for n in run.notes)


def test_a_lone_file_gets_no_end_look_and_nothing_is_held_back(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # Nothing came after it: the listing was just asked for 7 s; asking again says nothing.
    seen, run, _ = _batch(tmp_path, hermetic_env, [LOST], [], names=("a.png",), lagging=99)
    assert seen == [IMGUR_POST] + [IMGUR_RECENT] * 4
    assert (run.results[0].status, run.results[0].ambiguous) == ("failed", True)
    assert not any("end of the batch" in n for n in run.notes)


def test_with_retry_ambiguous_there_is_no_end_look(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # The file was sent again at once (its record says it may exist twice): nothing to
    # look for at the end, and no line is held.
    seen, run, _ = _batch(
        tmp_path,
        hermetic_env,
        [LOST, _b_answer("Again01"), _b_answer()],
        [],
        lagging=99,
        retry=ALLOW,
    )
    assert seen.count(IMGUR_RECENT) == 5  # 4 lookups, 1 more look before re-sending
    assert seen[-1] == IMGUR_POST
    a, b = run.results
    assert (a.status, a.id, a.ambiguous) == ("uploaded", "Again01", True)
    assert b.status == "uploaded"


def _three(tmp_path: Path, env: dict[str, str], third: httpx.Response | BaseException, emit: Any):
    """a (answer lost, the listing lags), b (uploaded), c (``third``), run with ``emit``."""
    from tests.support.providers import config_of as config_for
    from uploader.commands import upload as core
    from uploader.commands.runtime import Runtime
    from uploader.models import UploadOptions

    fake = FakeTime(START)
    pages = Listing(fake, 99, [])
    posts: list[Any] = [LOST, _b_answer(), third]

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        if request.url.path.endswith("/credits"):
            return httpx.Response(404)
        if request.method == "POST":
            answer = posts.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer
        return pages()

    files = [str(write_png(tmp_path / f"{n}.png", seed=i)) for i, n in enumerate("abc")]
    runtime = Runtime(
        env={**env, "UPLOADER_IM_ACCESS_TOKEN": "im-token"},
        clock=fake.clock,
        sleep=fake.sleep,
        transport=httpx.MockTransport(handler),
    )
    request = core.UploadRequest(
        paths=tuple(files),
        provider=None,
        options=UploadOptions(),
        on_limit="wait",
        max_wait=300.0,
        retry=RETRY,
    )
    config = config_for(imgur_toml("http://127.0.0.1:1/imgur"), tmp_path)
    return core.upload(config, request, runtime, emit)


def test_held_lines_are_written_in_order_when_the_batch_is_interrupted(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    out: list[tuple[str, str, bool]] = []

    def emit(result: Any, error: Any) -> None:
        out.append((Path(result.path).name, result.status, result.ambiguous))

    with pytest.raises(KeyboardInterrupt):
        _three(tmp_path, hermetic_env, KeyboardInterrupt(), emit)
    assert out == [
        ("a.png", "failed", True),
        ("b.png", "uploaded", False),
        ("c.png", "failed", True),  # its request was on its way
    ]


def test_a_stdout_that_fails_while_held_lines_are_written_names_every_lost_link(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    from uploader.errors import OutputClosedError, OutputError

    def emit(result: Any, error: Any) -> None:
        raise OutputClosedError("broken pipe", reader_gone=True)

    third = httpx.Response(200, json=uploaded(id="Cccccc1", link="https://i.imgur.com/C.png"))
    with pytest.raises(OutputError) as caught:
        _three(tmp_path, hermetic_env, third, emit)
    said = caught.value.message
    assert said.startswith("standard output could not be written (broken pipe)")
    assert "b.png: https://i.imgur.com/Bbbbbb1.png (delete id hdYnH1gKz9YTHfS)" in said
    assert "c.png: https://i.imgur.com/C.png" in said
    assert "a.png" not in said  # it has no link
    assert caught.value.exit_code == ExitCode.OUTPUT
