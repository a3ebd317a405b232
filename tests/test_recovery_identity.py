"""Which listed object is a lost upload (providers/recovery.py ``identify``): proof by every
field, unique, unclaimed; absence only once the listing has caught up; else ambiguous."""

from __future__ import annotations

from email.utils import formatdate
from pathlib import Path

import pytest

from tests.support.images import WHOLE, write_png
from uploader.errors import AmbiguousUploadError
from uploader.imaging.dimensions import read_dimensions
from uploader.imaging.inspect import inspect_path
from uploader.models import ImageFile
from uploader.providers.recovery import Listed, RunClaims, Window, identify

T0 = 1_785_000_000.0
WINDOW = Window(T0, T0 + 2)
SKEW = 50.0  # the server's clock is 50 s ahead of ours
DATE = {"date": formatdate(T0 + 10 + SKEW, usegmt=True)}  # the listing's answer, at T0 + 10


def _image(tmp_path: Path, where: str, **kw: int) -> ImageFile:
    path = tmp_path / where / "shot.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    return inspect_path(str(write_png(path, **kw)))


def _item(image: ImageFile, ident: str, at: float, **fields: object) -> Listed:
    """A listed object with every field of ``image``, made at local time ``at``."""
    values: dict[str, object] = {
        "size": image.size,
        "mime_type": image.mime_type,
        "width": 8,
        "height": 8,
        "name": image.filename,
    }
    values.update(fields)
    return Listed(id=ident, created_at=at + SKEW, **values)  # type: ignore[arg-type]


def _identify(
    image: ImageFile,
    items: list[Listed],
    claims: RunClaims | None = None,
    *,
    headers: dict[str, str] | None = None,
    complete: bool = True,
) -> Listed | None:
    return identify(
        image,
        items,
        window=WINDOW,
        headers=DATE if headers is None else headers,
        local_now=T0 + 10,
        claims=claims or RunClaims(),
        complete=complete,
        provider="Imgur",
    )


def test_an_object_with_every_field_made_in_the_window_is_the_upload(tmp_path: Path) -> None:
    image = _image(tmp_path, "a")
    found = _identify(image, [_item(image, "Mine001", T0 + 1)])
    assert (found.id if found else None) == "Mine001"


@pytest.mark.parametrize(
    "fields",
    [
        {"size": 999},
        {"mime_type": "image/jpeg"},
        {"width": 9},
        {"height": 7},
        {"name": "other.png"},
    ],
)
def test_one_field_that_differs_means_not_this_file(
    tmp_path: Path, fields: dict[str, object]
) -> None:
    image = _image(tmp_path, "a")
    with pytest.raises(AmbiguousUploadError):
        _identify(image, [_item(image, "Other01", T0 + 1, **fields)])


def test_fields_the_provider_does_not_return_are_not_used(tmp_path: Path) -> None:
    image = _image(tmp_path, "a")
    bare = Listed(id="Gy1", created_at=T0 + 1 + SKEW, mime_type="image/png")
    found = _identify(image, [bare])
    assert (found.id if found else None) == "Gy1"


@pytest.mark.parametrize("at", [T0 - 4, T0 + 2 + 4])
def test_an_object_made_outside_the_window_is_not_the_upload(tmp_path: Path, at: float) -> None:
    image = _image(tmp_path, "a")
    # Before: an earlier upload. After: maybe this one, stored after the client gave up.
    with pytest.raises(AmbiguousUploadError):
        _identify(image, [_item(image, "Outside", at)])
    # Made just inside the window, by the server's clock: proven.
    inside = _item(image, "Inside1", T0 - 2.5 if at < T0 else T0 + 4.5)
    found = _identify(image, [inside])
    assert (found.id if found else None) == "Inside1"


def test_without_a_date_header_an_object_near_the_window_proves_nothing(tmp_path: Path) -> None:
    image = _image(tmp_path, "a")
    # No Date header: the clocks are not measured (skew 0 assumed); made 60 s before the
    # attempt by the server's clock, it may be an earlier upload or this one.
    early = Listed("Early01", T0 - 60, size=image.size, mime_type="image/png", width=8, height=8)
    with pytest.raises(AmbiguousUploadError, match="could be it"):
        _identify(image, [early], headers={})
    on_time = Listed("OnTime1", T0 + 1, size=image.size, mime_type="image/png", width=8, height=8)
    with pytest.raises(AmbiguousUploadError, match="2 recent Imgur upload"):
        _identify(image, [on_time, early], headers={})
    found = _identify(image, [on_time], headers={})
    assert (found.id if found else None) == "OnTime1"


def test_two_files_with_the_same_name_and_size_are_never_each_others(tmp_path: Path) -> None:
    a, b = _image(tmp_path, "a", seed=1), _image(tmp_path, "b", seed=2)
    assert (a.filename, a.size) == (b.filename, b.size)
    a_object = _item(a, "ObjOfA1", T0 + 1)
    # a was reported with its object: b cannot be it.
    with pytest.raises(AmbiguousUploadError):
        _identify(b, [a_object], RunClaims(claimed={"ObjOfA1"}))
    # a is unresolved (its answer was lost too): the one object fits both, so neither.
    twin = r"could as well be that of \S*/a/shot.png \(same fields\)"
    with pytest.raises(AmbiguousUploadError, match=twin):
        _identify(b, [a_object], RunClaims(unresolved=[a]))
    # The object is b's only when no other file of the run could claim it.
    found = _identify(b, [a_object])
    assert (found.id if found else None) == "ObjOfA1"


def test_two_candidates_are_ambiguous(tmp_path: Path) -> None:
    image = _image(tmp_path, "a")
    two = [_item(image, "One0001", T0 + 1), _item(image, "Two0002", T0 + 2)]
    with pytest.raises(AmbiguousUploadError, match="2 recent Imgur upload"):
        _identify(image, two)
    found = _identify(image, two, RunClaims(claimed={"One0001"}))
    assert (found.id if found else None) == "Two0002"


def test_not_listed_is_not_absent_until_the_listing_has_caught_up(tmp_path: Path) -> None:
    image = _image(tmp_path, "a")
    older = _item(image, "Older01", T0 - 100, name="x.png")
    with pytest.raises(AmbiguousUploadError, match="does not show it yet"):
        _identify(image, [older])
    with pytest.raises(AmbiguousUploadError, match="does not show it yet"):
        _identify(image, [])
    # An object made after the attempt failed (beyond the slack) is listed: the listing
    # has caught up past the attempt, and nothing in it is ours.
    newer = _item(image, "Newer01", WINDOW.until + 4, name="later.png")
    assert _identify(image, [newer, older]) is None
    # Just inside the slack it proves nothing yet.
    recent = _item(image, "Recent1", WINDOW.until + 2, name="later.png")
    with pytest.raises(AmbiguousUploadError):
        _identify(image, [recent, older])


def test_a_claimed_newer_object_proves_the_catch_up_too(tmp_path: Path) -> None:
    image = _image(tmp_path, "a")
    newer = _item(image, "Claimed", WINDOW.until + 30)  # another file's, same fields
    assert _identify(image, [newer], RunClaims(claimed={"Claimed"})) is None


def test_a_full_page_that_does_not_reach_back_to_the_attempt_proves_nothing(
    tmp_path: Path,
) -> None:
    image = _image(tmp_path, "a")
    newer = _item(image, "Newer01", WINDOW.until + 30, name="later.png")
    with pytest.raises(AmbiguousUploadError):
        _identify(image, [newer], complete=False)  # ours may be on the next page
    older = _item(image, "Older01", T0 - 100, name="x.png")
    assert _identify(image, [newer, older], complete=False) is None
    mine = _item(image, "Mine001", T0 + 1)
    with pytest.raises(AmbiguousUploadError):
        _identify(image, [newer, mine], complete=False)  # a twin may be on the next page
    found = _identify(image, [newer, mine, older], complete=False)
    assert (found.id if found else None) == "Mine001"


@pytest.mark.parametrize("fields", [{"size": 999}, {"mime_type": "image/jpeg"}])
def test_an_object_that_may_be_a_re_encoding_of_the_file_is_not_absence(
    tmp_path: Path, fields: dict[str, object]
) -> None:
    image = _image(tmp_path, "a")
    newer = _item(image, "Newer01", WINDOW.until + 30, name="later.png")
    # Same name and dimensions, another size or type: a server may re-encode an upload.
    maybe = _item(image, "Maybe01", T0 + 1, **fields)
    with pytest.raises(AmbiguousUploadError, match="could be it but do not match"):
        _identify(image, [newer, maybe])
    # Other dimensions: not this file, whatever was re-encoded.
    other = _item(image, "Other01", T0 + 1, width=100, **fields)
    assert _identify(image, [newer, other]) is None


def test_an_image_whose_dimensions_cannot_be_read_is_judged_without_them(
    tmp_path: Path,
) -> None:
    # A whole TIFF: accepted, but the header reader does not know TIFF's dimensions.
    path = tmp_path / "odd.tiff"
    path.write_bytes(WHOLE["tiff"])
    image = inspect_path(str(path))
    assert read_dimensions(path) is None
    found = _identify(image, [_item(image, "Mine001", T0 + 1, width=5, height=5)])
    assert (found.id if found else None) == "Mine001"


# -- hostile listings and clocks (issue 11 section 1, re-audit) ------------------------------


@pytest.mark.parametrize("date", ["garbage", "Tue, 32 Foo 2026 99:99:99 GMT", ""])
def test_an_unreadable_date_header_measures_no_clock(tmp_path: Path, date: str) -> None:
    # The server's clock is 50 s ahead, its Date cannot be read: the clocks are unknown.
    # A look-alike made by another client at our window's local time must not be proof
    # (ours, 50 s later on the server's clock, is listed too): two candidates.
    image = _image(tmp_path, "a")
    ours = _item(image, "Mine001", T0 + 1)
    other = _item(image, "Other01", T0 + 1 - SKEW)
    with pytest.raises(AmbiguousUploadError, match="could be it"):
        _identify(image, [ours, other], headers={"date": date})


@pytest.mark.parametrize("when", [float("inf"), 1e16, (T0 + 30) * 1000])
def test_an_object_dated_after_the_listing_proves_no_catch_up(tmp_path: Path, when: float) -> None:
    # A broken date (infinite, absurd, an epoch in milliseconds) is no sign that the
    # listing has caught up past the attempt: absence is not proven.
    image = _image(tmp_path, "a")
    broken = Listed(id="Broken1", created_at=when, name="later.png", width=640, height=480)
    with pytest.raises(AmbiguousUploadError, match="does not show it yet"):
        _identify(image, [broken])
    newer = _item(image, "Newer01", WINDOW.until + 30, name="later.png")
    assert _identify(image, [broken, newer]) is None  # a plausible one does


@pytest.mark.parametrize("when", [None, float("nan")])
def test_an_undated_look_alike_is_no_proof_of_absence(tmp_path: Path, when: float | None) -> None:
    image = _image(tmp_path, "a")
    newer = _item(image, "Newer01", WINDOW.until + 30, name="later.png")
    undated = Listed(id="Undated", created_at=when, name=image.filename, width=8, height=8)
    with pytest.raises(AmbiguousUploadError, match="could be it but do not match"):
        _identify(image, [newer, undated])
    other = Listed(id="Other01", created_at=when, name="x.png", width=8, height=8)
    assert _identify(image, [newer, other]) is None  # another name: not this file


def test_an_object_listed_twice_is_one_candidate(tmp_path: Path) -> None:
    image = _image(tmp_path, "a")
    mine = _item(image, "Mine001", T0 + 1)
    for listing in ([mine, mine], [mine, _item(image, "Mine001", T0 + 1.5)]):
        found = _identify(image, listing)
        assert (found.id if found else None) == "Mine001"


@pytest.mark.parametrize("behind", [300.0, 3600.0, 86400.0])
def test_without_a_date_header_an_older_look_alike_blocks_absence(
    tmp_path: Path, behind: float
) -> None:
    # No Date header: the server's clock may be far behind ours, so a look-alike listed
    # long before the window may be our upload; an object long after it shows a catch-up.
    image = _image(tmp_path, "a")
    newer = Listed(id="Newer01", created_at=WINDOW.until + 200, name="later.png")
    older = Listed(id="Older01", created_at=T0 - behind, name=image.filename, width=8, height=8)
    with pytest.raises(AmbiguousUploadError, match="could be it"):
        _identify(image, [newer, older], headers={})
    other = Listed(id="Other01", created_at=T0 - behind, name="x.png", width=8, height=8)
    assert _identify(image, [newer, other], headers={}) is None
    # With the clocks measured, an older look-alike is an earlier upload of the same file.
    measured = {"date": formatdate(T0 + 10, usegmt=True)}
    assert _identify(image, [newer, older], headers=measured) is None


def test_an_unresolved_twin_whose_attempt_began_later_cannot_own_the_object(
    tmp_path: Path,
) -> None:
    # a's and b's answers were both lost; they share every field the listing keeps. a's
    # object was made in a's window, before b's attempt began: it can only be a's.
    a, b = _image(tmp_path, "a", seed=1), _image(tmp_path, "b", seed=2)
    b_window = Window(T0 + 30, T0 + 32)
    a_object = _item(a, "ObjOfA1", T0 + 1)
    b_object = _item(b, "ObjOfB1", T0 + 31)
    claims = RunClaims(unresolved=[a, b], lost={id(a): WINDOW, id(b): b_window})
    found = _identify(a, [b_object, a_object], claims)
    assert (found.id if found else None) == "ObjOfA1"
    # b's object was made after a's attempt began: a's upload, stored late, could be it,
    # while a is unresolved. Once a has its own, b's is b's.
    later = {"date": formatdate(T0 + 40 + SKEW, usegmt=True)}  # the listing, at T0 + 40
    with pytest.raises(AmbiguousUploadError, match="could as well be that of"):
        identify(
            b,
            [b_object, a_object],
            window=b_window,
            headers=later,
            local_now=T0 + 40,
            claims=claims,
            complete=True,
            provider="Imgur",
        )
    settled = RunClaims(claimed={"ObjOfA1"}, unresolved=[b], lost={id(b): b_window})
    found = identify(
        b,
        [b_object, a_object],
        window=b_window,
        headers=later,
        local_now=T0 + 40,
        claims=settled,
        complete=True,
        provider="Imgur",
    )
    assert (found.id if found else None) == "ObjOfB1"
