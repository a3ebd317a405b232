"""Frozen dataclasses that cross module boundaries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

UploadStatus = Literal["uploaded", "existing", "skipped", "failed"]
# How many sends a caller still has to make, this one included (the limiter's pacing), or a
# function that counts them each time the limiter asks (a batch of several workers: the
# count changes while a send waits for its turn).
Pending = int | Callable[[], int]


class Plan(NamedTuple):
    """What to send instead of a whole file (metadata stripped, ``imaging/strip.py``):
    ``pieces`` in order, each a range of the file (offset, length) or bytes made for it,
    ``size`` bytes in all, and the kinds of metadata removed (``EXIF``, ``tEXt``...)."""

    pieces: tuple[tuple[int, int] | bytes, ...]
    size: int
    removed: tuple[str, ...]


@dataclass(frozen=True, eq=False, repr=False)  # lean: startup matters
class ImageFile:
    """A file that passed the local checks and can be sent.

    ``source`` is always a real file that can be reopened on every attempt (stdin is
    spooled to a private temporary file first). ``label`` is what the user typed
    (``-`` for stdin); ``filename`` is the name sent to the provider. ``sha256`` is the
    content's digest once it was read for the history, and ``data`` those very bytes when
    the file was small enough to hold: the upload then sends them rather than reading the
    file a second time (``imaging/content.py``). ``stamp`` is what ``fstat`` said of a
    larger file once it was hashed (size, times, inode): the upload, streamed from disk,
    checks that the file it sends is still that one (``imaging/content.py: open_sent``).
    ``plan`` is what is sent instead of the whole file when metadata was stripped: ``size``
    and ``sha256`` stay the file's (the history knows a file by its own bytes), and
    :attr:`sent_size` is what the server gets.
    """

    source: Path
    label: str
    filename: str
    size: int
    mime_type: str
    sha256: str | None = None
    data: bytes | None = None
    stamp: tuple[int, ...] | None = None
    plan: Plan | None = None
    spooled: bool = False  # a temp copy (the clipboard's, a server's part): no path kept

    @property
    def sent_size(self) -> int:
        """The size of the body part the server gets (the file's, unless stripped)."""
        return self.size if self.plan is None else self.plan.size

    def let_go(self) -> None:
        """Drop the held bytes, once the file is done (a batch of thousands of photos must
        not keep them all). The object stays the same one: the journal and the recovery
        know a file by its identity. A later send reads the file from disk and, with no
        stamp, hashes it again as it goes (``imaging/content.py: SentFile``)."""
        object.__setattr__(self, "data", None)  # frozen: this one field may be let go of


@dataclass(frozen=True, eq=False, repr=False)  # lean: startup matters
class UploadOptions:
    """What the user asked to attach to an upload.

    ``title``/``description`` map to each provider's fields (Gyazo ``desc``, Mastodon alt
    text). The rest apply where the provider has the feature and are ignored elsewhere:
    ``album`` (Imgur), ``access_policy`` (Gyazo ``anyone``/``only_me``), ``focus`` (Mastodon
    "x,y"), ``post``/``status``/``visibility`` (publish a Mastodon status with the media).
    """

    title: str | None = None
    description: str | None = None
    album: str | None = None
    access_policy: str | None = None
    focus: str | None = None
    post: bool = False
    status: str | None = None
    visibility: str | None = None


@dataclass(frozen=True, eq=False, repr=False)  # lean: startup matters
class Selection:
    """How the folders named to ``upload`` become files (``imaging/walk.py``): ``-r``,
    ``--include``, ``--exclude``, ``--hidden``."""

    recursive: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    hidden: bool = False


@dataclass(frozen=True, repr=False)  # lean: startup matters
class UploadResult:
    """The outcome for one input file, in the shape the JSON output documents.

    ``ambiguous`` marks an upload whose answer was lost: ``failed`` and ambiguous, the image
    may exist; ``uploaded`` and ambiguous, an earlier attempt may have created a second copy.
    """

    path: str
    provider: str
    status: UploadStatus
    id: str | None = None
    url: str | None = None
    delete_id: str | None = None
    error: str | None = None
    extra: tuple[tuple[str, str | int], ...] = field(default_factory=tuple)
    ambiguous: bool = False
    stripped: bool = False  # metadata was removed from the bytes sent


@dataclass(frozen=True)
class BucketUpdate:
    """What one response said about one rate-limit bucket.

    ``reset_at`` is an epoch time on the local clock (already corrected for skew), or
    None when the response did not say.
    """

    bucket: str
    limit: int | None
    remaining: int | None
    reset_at: float | None


@dataclass(frozen=True, eq=False, repr=False)  # lean: startup matters
class MediaInfo:
    """One uploaded object as a metadata lookup or a listing describes it."""

    id: str
    url: str | None
    provider: str
    mime_type: str | None = None
    title: str | None = None
    description: str | None = None
    size: int | None = None
    created_at: float | None = None
    delete_id: str | None = None
    extra: tuple[tuple[str, str | int], ...] = field(default_factory=tuple)
