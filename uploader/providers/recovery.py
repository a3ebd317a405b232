"""Proving which listed object is a lost upload, or that there is none (README "Retries").

An upload whose answer was lost may or may not exist. The account's listing can settle it,
under three rules (issue 11, section 1):

* **Identity.** A listed object is this file only if every field the provider returned
  agrees with the local file (size, MIME type, width and height, name; a field the provider
  does not return, or the local header does not tell, is not used), it was created within
  the attempt's time window (on the server's clock, corrected with the listing's ``Date``
  header, give or take 3 s), no other file of the run has claimed it, it is the only such
  object (within 120 s of slack when there is no ``Date`` header to measure the clocks by),
  and no other unresolved file of the run matches it just as well.
* **Absence.** "Not in the listing" is not "not created": listings lag. Absence is proven
  only when the listing has caught up past the attempt (it shows an object created after
  the attempt failed, beyond the slack), the page covers the whole window (not cut by
  paging), and no unclaimed object of the window or after it could be this file (same
  name, where kept, and same dimensions, where known: size and type are not used here, a
  server may re-encode).
* Otherwise the file is **ambiguous**: :class:`AmbiguousUploadError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from uploader.errors import AmbiguousUploadError
from uploader.imaging.dimensions import read_dimensions
from uploader.models import ImageFile
from uploader.ratelimit.headers import header, http_date, server_skew

# Server and local clocks may differ: with a Date header the skew is measured and only its
# resolution (whole seconds, both sides) and latency remain; without one, a broad guess.
MEASURED_SLACK = 3.0
UNMEASURED_SLACK = 120.0
FUTURE_SLACK = 3600.0
ADVICE = (
    "check the account's recent uploads; "
    "--retry-ambiguous re-sends such uploads (they may then exist twice)"
)


@dataclass(frozen=True)
class Listed:
    """One object of a listing: the fields the provider returned (None: not returned)."""

    id: str
    created_at: float | None
    size: int | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    name: str | None = None


@dataclass
class RunClaims:
    """What the other files of this run already account for: remote ids reported for them
    (uploaded or recovered) and files whose upload may exist without an id (ambiguous);
    ``lost``: the window of each file's last lost answer (by ``id()`` of its ImageFile),
    for the look at the listing at the end of the batch."""

    claimed: set[str] = field(default_factory=set)
    unresolved: list[ImageFile] = field(default_factory=list)
    # The ids the history gives to other files, read when a lookup first needs them.
    history: Callable[[], set[str]] | None = None

    def load(self) -> None:
        """Add the history's claims (once): an object claimed by a row of the history is
        never another file's lost upload."""
        if self.history is not None:
            self.claimed |= self.history()
            self.history = None

    lost: dict[int, Window] = field(default_factory=dict)


@dataclass(frozen=True)
class Window:
    """When the attempts ran, on the local clock: the first began at ``since``; the last
    one's answer was lost at ``until``."""

    since: float
    until: float


def _first_of_each(items: Sequence[Listed]) -> list[Listed]:
    """``items`` without repeats of an id (a listing that pages while it changes may show
    one object twice: it is still one candidate)."""
    first: dict[str, Listed] = {}
    for item in items:
        first.setdefault(item.id, item)
    return list(first.values())


def _dims(image: ImageFile, cache: dict[int, tuple[int, int] | None]) -> tuple[int, int] | None:
    key = id(image)
    if key not in cache:
        cache[key] = read_dimensions(image.source)
    return cache[key]


def _same_type(local: str, remote: str) -> bool:
    # Imgur reports every video as video/mp4 whatever its container (reference 1.4).
    return local == remote or (local.startswith("video/") and remote == "video/mp4")


def agrees(image: ImageFile, item: Listed, dims: tuple[int, int] | None, *, loose: bool) -> bool:
    """Whether every field ``item`` has agrees with the local file. ``loose`` leaves out
    size and type (a server may re-encode): what "could be this file" means."""
    if item.name and item.name != image.filename:
        return False
    if dims is not None and item.width and item.height and (item.width, item.height) != dims:
        return False
    if loose:
        return True
    if item.size is not None and item.size != image.sent_size:
        return False
    return item.mime_type is None or _same_type(image.mime_type, item.mime_type)


def identify(
    image: ImageFile,
    items: Sequence[Listed],
    *,
    window: Window,
    headers: Mapping[str, str],
    local_now: float,
    claims: RunClaims,
    complete: bool,
    provider: str,
) -> Listed | None:
    """The listed object proven to be ``image``'s lost upload; None when its absence is
    proven; AmbiguousUploadError otherwise. ``complete``: the page is not full, so nothing
    older than its last item is cut off."""
    skew = server_skew(headers, local_now)
    date = header(headers, "date")
    # Only a Date header that can be read measures the clocks (an unreadable one is none).
    measured = date is not None and http_date(date) is not None
    # Proof needs the object inside the window give or take the Date header's resolution;
    # without a Date header the clocks may differ more: an object in the wider band around
    # the window still counts against uniqueness and absence, but proves nothing.
    low, high = window.since + skew - MEASURED_SLACK, window.until + skew + MEASURED_SLACK
    slack = MEASURED_SLACK if measured else UNMEASURED_SLACK
    wide_low, wide_high = window.since + skew - slack, window.until + skew + slack
    # Made long after the listing was served (by the server's clock): a broken date (an
    # epoch in milliseconds, 1e16, inf), no proof that the listing has caught up.
    newest = local_now + skew + FUTURE_SLACK
    cache: dict[int, tuple[int, int] | None] = {}
    dims = _dims(image, cache)
    items = _first_of_each(items)
    dated = [item for item in items if item.created_at is not None]
    # Free: made around the window (ours could only have been made then), not another file's.
    free = [
        item
        for item in dated
        if wide_low <= (item.created_at or 0.0) <= wide_high and item.id not in claims.claimed
    ]
    covered = complete or any((item.created_at or 0.0) < wide_low for item in dated)
    matches = [item for item in free if agrees(image, item, dims, loose=False)]
    if len(matches) == 1 and covered and low <= (matches[0].created_at or 0.0) <= high:
        (match,) = matches
        # Another unresolved file with the same fields could own it, unless its attempt
        # began after the object was made (by its recorded window; a server may store an
        # upload late, so the end of that window bounds nothing).
        twins = [
            other
            for other in claims.unresolved
            if other is not image
            and agrees(other, match, _dims(other, cache), loose=False)
            and (
                (began := claims.lost.get(id(other))) is None
                or began.since + skew - slack <= (match.created_at or 0.0)
            )
        ]
        if not twins:
            return match
        raise AmbiguousUploadError(
            f"{image.label}: the upload's answer was lost and {provider}'s matching "
            f"upload {match.id} could as well be that of {twins[0].label} (same fields)",
            hint=ADVICE,
        )
    if matches:
        raise AmbiguousUploadError(
            f"{image.label}: the upload's answer was lost and {len(matches)} recent "
            f"{provider} upload(s) could be it (not provably this file's)",
            hint=ADVICE,
        )
    later = [item for item in dated if wide_high < (item.created_at or 0.0) <= newest]
    # A look-alike made after the window may be ours stored late (a server still working
    # after the client gave up): it blocks absence as one inside the window does; so does
    # one with no date or a date after the listing, and, when the clocks were not
    # measured, one made before the window (the server's clock may be far behind ours).
    doubtful = [
        item
        for item in items
        if item not in free
        and (
            item.created_at is None
            or math.isnan(item.created_at)
            or item.created_at > wide_high
            or not measured
        )
    ]
    unclaimed = free + [item for item in doubtful if item.id not in claims.claimed]
    possible = [item for item in unclaimed if agrees(image, item, dims, loose=True)]
    caught_up = bool(later)
    if caught_up and covered and not possible:
        return None
    why = (
        f"{len(possible)} recent upload(s) could be it but do not match all its fields"
        if possible
        else f"{provider}'s listing does not show it yet (listings lag behind uploads)"
    )
    raise AmbiguousUploadError(
        f"{image.label}: the upload's answer was lost and {why}; the image may or may not exist",
        hint=ADVICE,
    )
