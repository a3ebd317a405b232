"""A file's content digest, and the file as the upload reads it: the bytes hashed are the
bytes sent.

The history keys every upload by the sha256 of the bytes sent. A file up to
:data:`HOLD_LIMIT` is read once: hashed, and the upload sends those very bytes from memory.
A larger file (a long video) is hashed in a streaming pass and then streamed again from
disk (holding it would cost its whole size in memory; the pending row the history writes
before the send names the digest, so the hash must come first). Between the two passes the
file could change (a recorder still writing it): :func:`open_sent` gives the upload a
reader that sends exactly the size hashed and, before the last bytes go, checks that the
file is still the one hashed - the same size, modification and change times and inode as
``fstat`` said after the hash pass (:attr:`ImageFile.stamp`). A file modified too recently
for its times to tell (within :data:`SETTLE_NS` of the hash pass: a coarse file-system
clock may give a later write the same time) is hashed again as it is sent and compared.
When the file is no longer what was hashed, the reader raises before the body is complete:
the server never gets a whole request, nothing is stored, nothing is recorded as uploaded.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from uploader.errors import InputFileError
from uploader.imaging.structure import structure_problem
from uploader.models import ImageFile

if TYPE_CHECKING:
    import hashlib

# Screenshots are well under this; at most one such file is held per upload in progress.
HOLD_LIMIT = 32 * 1024 * 1024
# The hash pass reads this much at a time (hashlib hashes it without holding the GIL).
CHUNK = 1 << 20
# Times this close to the moment they were read do not prove a later write would change them.
SETTLE_NS = 2_000_000_000
HINT = "wait until the program writing it is done, then upload it again"


def unreadable(label: str, exc: OSError) -> InputFileError:
    """The error for a file checked at the start of the run that cannot be read now (a
    batch can be long: it was moved, deleted or locked meanwhile)."""
    if isinstance(exc, FileNotFoundError):
        return InputFileError(
            f"{label}: no such file (moved or deleted since the run started)",
            hint="upload it again from where it is now",
        )
    if isinstance(exc, PermissionError):
        return InputFileError(
            f"{label}: permission denied (cannot read the file)",
            hint="check the permissions of the file and folders",
        )
    return InputFileError(f"{label}: cannot read ({exc.strerror or exc})")


def stamp_of(info: os.stat_result) -> tuple[int, ...]:
    """What tells one state of a file from another without reading it."""
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)


def fingerprint(image: ImageFile) -> ImageFile:
    """``image`` with its ``sha256`` set (and its bytes held, up to :data:`HOLD_LIMIT`;
    else its ``stamp``).

    A file that changed since it was checked is checked again on the bytes read, so what
    is sent and recorded is one whole, consistent file."""
    if image.sha256 is not None:
        return image
    import hashlib  # start-up: only an upload with the history on pays for it

    digest = hashlib.sha256()
    held: bytes | None = None
    stamp: tuple[int, ...] | None = None
    try:
        if image.size <= HOLD_LIMIT:
            with image.source.open("rb") as stream:
                # One byte more than expected tells a file that grew since it was checked
                # (asking for the limit itself costs a 32 MiB buffer per file: 0.3 ms).
                held = stream.read(image.size + 1)
                if len(held) > image.size:
                    held += stream.read(HOLD_LIMIT + 1 - len(held))
        if held is not None and len(held) <= HOLD_LIMIT:
            digest.update(held)
            size = len(held)
        else:
            held = None
            with image.source.open("rb", buffering=0) as raw:
                size, stamp = _hash_stream(image, raw, digest)
    except OSError as exc:
        raise unreadable(image.label, exc) from None
    if size != image.size:
        _recheck(image, held, size)
    return replace(image, size=size, sha256=digest.hexdigest(), data=held, stamp=stamp)


def _hash_stream(
    image: ImageFile, stream: io.RawIOBase, digest: hashlib._Hash
) -> tuple[int, tuple[int, ...] | None]:
    """Hash the whole open file; (its size, its stamp - None when its times are too recent
    to tell a later write). The file must be the same before and after the pass."""
    import time  # start-up: only a large file pays for it

    before = os.fstat(stream.fileno())
    read_at = time.time_ns()
    size = 0
    # A fresh bytes object per read measured cheaper than ``readinto`` one reused buffer
    # (0.25 s more system time for 500 MB in the whole upload: BENCHMARKS.md).
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    after = os.fstat(stream.fileno())
    if stamp_of(before) != stamp_of(after) or size != after.st_size:
        raise InputFileError(f"{image.label}: the file changed while being read", hint=HINT)
    settled = read_at - max(after.st_mtime_ns, after.st_ctime_ns) >= SETTLE_NS
    return size, stamp_of(after) if settled else None


def _recheck(image: ImageFile, held: bytes | None, size: int) -> None:
    """The file changed size after it was checked: refuse it unless what was read now is
    a whole file of the same type (then that is what is sent)."""
    if size == 0:
        raise InputFileError(f"{image.label}: file is empty (it changed while being read)")
    if held is None:
        raise InputFileError(f"{image.label}: the file changed while being read", hint=HINT)
    why = structure_problem(io.BytesIO(held), image.mime_type, size)
    if why:
        raise InputFileError(
            f"{image.label}: the file changed while being read and is not whole now ({why})",
            hint=HINT,
        )


class SentFile:
    """The file as the upload's body reads it: exactly the bytes of its plan (the whole file,
    or the pieces left when metadata was stripped: :attr:`ImageFile.plan`), each read one
    ``read`` of the file (no buffering, no copy), and before the read that ends it returns
    its last bytes, the proof that they come from the file hashed (see the module's
    docstring; a file hashed again on the way also hashes the bytes the plan leaves out).
    Seekable (httpx rewinds it and measures it by seeking to the end)."""

    def __init__(self, image: ImageFile, raw: io.RawIOBase) -> None:
        self.image = image
        self.raw = raw
        at_open = stamp_of(os.fstat(raw.fileno()))
        if at_open[0] != image.size or image.stamp not in (None, at_open):
            self._changed()
        # Without a stamp from the hash pass (no history, or times too recent to tell),
        # the file must at least stay as it was when opened.
        self.stamp = image.stamp or at_open
        plan = image.plan
        self.pieces = plan.pieces if plan is not None else ((0, image.size),)
        self.size = image.sent_size
        self._rehash = image.sha256 is not None and image.stamp is None
        self._at(0)

    def _changed(self) -> None:
        raise InputFileError(
            f"{self.image.label}: the file changed while being sent; the upload was cut "
            "before its end (nothing was stored)",
            hint=HINT,
        )

    def _at(self, where: int) -> None:
        """Position the body at ``where``: the piece, the offset in it, the hash."""
        self.pos, self.index, self.inner = where, 0, where
        while self.index < len(self.pieces) and self.inner >= _length(self.pieces[self.index]):
            self.inner -= _length(self.pieces[self.index])
            self.index += 1
        self.hashed = 0  # how much of the file the digest has taken, in order
        # Hashed again from its start only; a body that skipped bytes proves nothing.
        self.digest: Any = _sha256() if self._rehash and where == 0 else None

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.size}[whence]
        where = min(max(0, base + offset), self.size)
        self._at(where)
        return where

    def tell(self) -> int:
        return self.pos

    def read(self, count: int = -1) -> bytes:
        if self.pos >= self.size:
            return b""
        piece = self.pieces[self.index]
        want = _length(piece) - self.inner
        if count >= 0:
            want = min(count, want)
        if isinstance(piece, bytes):
            data = piece[self.inner : self.inner + want]
        else:
            start = piece[0] + self.inner
            if self.digest is not None and self.hashed < start:
                self._hash_to(start)  # bytes the plan leaves out still prove the file
            self.raw.seek(start)
            read = self.raw.read(want)
            if not read:
                self._changed()  # shorter than the size hashed
            assert read is not None  # a regular file never answers "would block"
            data = read
            if self.digest is not None:
                self.digest.update(data)
                self.hashed = start + len(data)
        self.pos += len(data)
        self.inner += len(data)
        if self.inner == _length(piece):
            self.index, self.inner = self.index + 1, 0
        if self.pos == self.size:
            if self.digest is not None:
                self._hash_to(self.image.size)
            self._verify()
        return data

    def _hash_to(self, end: int) -> None:
        self.raw.seek(self.hashed)
        while self.hashed < end:
            data = self.raw.read(min(CHUNK, end - self.hashed))
            if not data:
                self._changed()
            assert data is not None
            self.digest.update(data)
            self.hashed += len(data)

    def _verify(self) -> None:
        if stamp_of(os.fstat(self.raw.fileno())) != self.stamp:
            self._changed()
        if self._rehash and (self.digest is None or self.digest.hexdigest() != self.image.sha256):
            self._changed()


def _length(piece: tuple[int, int] | bytes) -> int:
    return piece[1] if isinstance(piece, tuple) else len(piece)


def _sha256() -> Any:
    import hashlib  # start-up: as fingerprint's

    return hashlib.sha256()


@contextmanager
def open_sent(image: ImageFile) -> Iterator[SentFile]:
    """The file of ``image`` opened for its upload (a :class:`SentFile`)."""
    try:
        raw = image.source.open("rb", buffering=0)
    except OSError as exc:  # checked at the start of a long batch, gone since
        raise unreadable(image.label, exc) from None
    with raw:
        yield SentFile(image, raw)
