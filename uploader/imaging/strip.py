"""Metadata stripped without re-encoding (issue 15): what to send of a file, as a plan.

A photo carries its GPS position, camera serial and time in EXIF/XMP; a screenshot tool
writes its name and the user's host into PNG text chunks. :func:`plan_strip` walks a
file's container structure (never its pixel data) and returns a :class:`Plan`: the byte
ranges of the file to send, in order, with a few small replacement pieces (a minimal EXIF
holding only a JPEG's orientation, a WebP's fixed headers). The decoded pixels are those of
the original; :func:`stream` then reads the ranges from the file, so a large file is never
held whole.

- JPEG (:mod:`uploader.imaging.strip_jpeg`): APPn segments of EXIF, XMP, IPTC/Photoshop
  and others, and comments, go; JFIF, ICC profiles and Adobe's colour transform stay.
- PNG: ``eXIf``, ``tEXt``, ``zTXt``, ``iTXt`` and ``tIME`` go; colour chunks (``iCCP``,
  ``sRGB``, ``gAMA``, ``cHRM``) and everything else stay.
- WebP: ``EXIF`` and ``XMP `` chunks go, with the VP8X flags and the RIFF size fixed.
- PNG and WebP, as JPEG: an orientation other than 1 stays, in a minimal EXIF.
- Any of them: data appended after the picture's end (IEND, the RIFF size, a JPEG's end
  marker) goes.

Other types (GIF, video, HEIC/AVIF) are sent as they are: :func:`plan_strip` says so by
returning None, as it does for a file with nothing to remove. A file whose structure cannot
be followed raises :class:`StripError` (before anything is sent).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import replace
from typing import BinaryIO

from uploader.errors import InputFileError
from uploader.imaging.content import unreadable
from uploader.models import ImageFile, Plan

# A piece of the body: a range of the file (offset, length), or bytes made here.
Piece = tuple[int, int] | bytes

HANDLED = ("image/jpeg", "image/png", "image/webp")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_DROPPED = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"})
# Image data: large, never metadata; their checksums are not checked (a pass over pixels).
PNG_DATA = frozenset({b"IDAT", b"fdAT"})
# Nor those of other chunks this large (a private data chunk): reading one whole to check it
# would hold it in memory; the checks are for the small header and colour chunks kept.
CRC_CHECKED = 1 << 20
MAX_CHUNKS = 1_000_000  # more is no PNG a camera or a screenshot tool writes
WEBP_DROPPED = frozenset({b"EXIF", b"XMP "})
EXIF_READ = 1 << 16  # bytes of an EXIF chunk read for its orientation (the first IFD's)
VP8X_EXIF, VP8X_XMP = 0x08, 0x04


class StripError(ValueError):
    """The file's structure cannot be followed: ``str()`` says where, in a few words."""


def strip_for_upload(image: ImageFile) -> ImageFile:
    """``image`` with the :class:`Plan` of its stripped body, when it has metadata to lose.

    Planned on the bytes held for the history when there are some (the bytes hashed are
    the bytes the plan cuts), else on the file, whose state then is the one the upload
    must find (:attr:`ImageFile.stamp`, for a file the history did not hash)."""
    if image.mime_type not in HANDLED or image.plan is not None:
        return image
    from uploader.imaging.content import stamp_of

    try:
        if image.data is not None:
            held = io.BytesIO(image.data)
            return _with_plan(image, plan_strip(held, image.mime_type, image.size))
        with image.source.open("rb") as fh:
            info = os.fstat(fh.fileno())
            try:
                plan = plan_strip(fh, image.mime_type, info.st_size)
            except StripError:
                if _changed(image, fh, info):
                    raise _changed_error(image) from None
                raise
    except StripError as exc:
        raise InputFileError(
            f"{image.label}: its metadata cannot be stripped ({exc})",
            hint="--keep-metadata sends the file byte for byte",
        ) from None
    except OSError as exc:
        raise unreadable(image.label, exc) from None
    if info.st_size != image.size:
        raise _changed_error(image)
    # A file hashed (sha256 set) is checked against its digest or stamp as it is sent;
    # one never hashed (no history) must at least stay as it was when planned.
    planned = stamp_of(info) if image.sha256 is None else None
    return _with_plan(image, plan, stamp=image.stamp or planned)


def _changed(image: ImageFile, fh: BinaryIO, info: os.stat_result) -> bool:
    """Whether the file is no longer the one hashed or checked (a structure that cannot
    be followed may be a writer at work, not a broken file): its size or stamp moved, or,
    when its times could not tell, its digest (a pass over it, on this error path only)."""
    from uploader.imaging.content import stamp_of

    if info.st_size != image.size or (image.stamp is not None and image.stamp != stamp_of(info)):
        return True
    if image.sha256 is None or image.stamp is not None:
        return False
    import hashlib

    digest = hashlib.sha256()
    fh.seek(0)
    while chunk := fh.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest() != image.sha256


def _changed_error(image: ImageFile) -> InputFileError:
    return InputFileError(
        f"{image.label}: the file changed while being read",
        hint="wait until the program writing it is done, then upload it again",
    )


def _with_plan(
    image: ImageFile, plan: Plan | None, stamp: tuple[int, ...] | None = None
) -> ImageFile:
    if plan is None:
        return image
    return replace(image, plan=plan, stamp=image.stamp if stamp is None else stamp)


def planned_bytes(data: bytes, plan: Plan) -> bytes:
    """The body of ``plan`` cut from ``data`` (the file's bytes, held)."""
    view = memoryview(data)
    return b"".join(p if isinstance(p, bytes) else view[p[0] : p[0] + p[1]] for p in plan.pieces)


def plan_strip(fh: BinaryIO, mime: str, size: int) -> Plan | None:
    """The plan for the open file ``fh`` (``size`` bytes, sniffed as ``mime``), or None when
    it is sent as it is (a type not handled here, or no metadata in it)."""
    if mime == "image/png":
        return _png(fh, size)
    if mime == "image/webp":
        return _webp(fh, size)
    if mime == "image/jpeg":
        from uploader.imaging.strip_jpeg import plan_jpeg

        return plan_jpeg(fh, size)
    return None


def make_plan(kept: list[Piece], removed: list[str]) -> Plan | None:
    """A :class:`Plan` of ``kept`` (adjacent file ranges merged), None when nothing went."""
    if not removed:
        return None
    merged: list[Piece] = []
    for piece in kept:
        if not (piece[1] if isinstance(piece, tuple) else piece):
            continue  # empty
        last = merged[-1] if merged else None
        if isinstance(piece, tuple) and isinstance(last, tuple) and sum(last) == piece[0]:
            merged[-1] = (last[0], last[1] + piece[1])
        elif isinstance(piece, bytes) and isinstance(last, bytes):
            merged[-1] = last + piece
        else:
            merged.append(piece)
    total = sum(p[1] if isinstance(p, tuple) else len(p) for p in merged)
    return Plan(tuple(merged), total, tuple(removed))


def stream(fh: BinaryIO, plan: Plan, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The body the plan describes, read from ``fh`` in pieces of at most ``chunk`` bytes.

    Raises :class:`StripError` when the file is shorter than the plan (it changed)."""
    for piece in plan.pieces:
        if isinstance(piece, bytes):
            yield piece
            continue
        offset, left = piece
        fh.seek(offset)
        while left > 0:
            data = fh.read(min(chunk, left))
            if not data:
                raise StripError("the file got shorter while being sent")
            left -= len(data)
            yield data


def read_exact(fh: BinaryIO, offset: int, count: int, what: str) -> bytes:
    fh.seek(offset)
    data = fh.read(count)
    if len(data) != count:
        raise StripError(f"{what} runs past the end of the file")
    return data


# -- PNG ---------------------------------------------------------------------------------------


def _png(fh: BinaryIO, size: int) -> Plan | None:
    if read_exact(fh, 0, 8, "the signature") != PNG_SIGNATURE:
        raise StripError("no PNG signature")
    kept: list[Piece] = [(0, 8)]
    removed: list[str] = []
    turned = b""  # the minimal EXIF kept for an orientation other than 1
    offset = 8
    for _ in range(MAX_CHUNKS):
        if offset == size:
            raise StripError("no IEND chunk")
        length, kind = struct.unpack(">I4s", read_exact(fh, offset, 8, "a chunk header"))
        if not kind.isalpha():
            raise StripError(f"a chunk type that is not letters at byte {offset}")
        end = offset + 12 + length
        if end > size:
            raise StripError(f"the {_name(kind)} chunk at byte {offset} runs past the end")
        if kind not in PNG_DATA and kind not in PNG_DROPPED and length <= CRC_CHECKED:
            data = read_exact(fh, offset + 4, 4 + length + 4, "a chunk")
            if zlib.crc32(data[:-4]) != int.from_bytes(data[-4:], "big"):
                raise StripError(f"the {_name(kind)} chunk at byte {offset}: wrong checksum")
        if kind in PNG_DROPPED:
            removed.append(_name(kind))
            if kind == b"eXIf" and not turned:
                turned = _turned(fh, offset + 8, length)
                if turned:  # a minimal eXIf keeps the picture shown upright
                    chunk = b"eXIf" + turned
                    kept.append(struct.pack(">I", len(turned)) + chunk + _crc(chunk))
        else:
            kept.append((offset, end - offset))
        offset = end
        if kind == b"IEND":
            if offset < size:  # appended data (an archive, a tool's records): no picture
                removed.append("trailing data")
            return make_plan(kept, removed)
    raise StripError(f"more than {MAX_CHUNKS} chunks")


def _name(kind: bytes) -> str:
    return kind.decode("ascii", "replace")


def _crc(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


def _turned(fh: BinaryIO, offset: int, length: int) -> bytes:
    """A minimal EXIF (TIFF structure) holding only the orientation of the EXIF block of
    ``length`` bytes at ``offset``, when it is not 1 (as a JPEG keeps it); else empty.
    Its first IFD is in its first bytes: no more are read."""
    from uploader.imaging.strip_jpeg import block_orientation, minimal_tiff

    block = read_exact(fh, offset, min(length, EXIF_READ), "an EXIF chunk")
    orientation = block_orientation(block)
    return minimal_tiff(orientation) if orientation != 1 else b""


# -- WebP --------------------------------------------------------------------------------------


def _webp(fh: BinaryIO, size: int) -> Plan | None:
    head = read_exact(fh, 0, 12, "the RIFF header")
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        raise StripError("no RIFF/WEBP header")
    riff_end = 8 + int.from_bytes(head[4:8], "little")
    if riff_end > size or riff_end < 12:
        raise StripError("the RIFF size does not match the file")
    kept: list[Piece] = []
    removed: list[str] = []
    vp8x: int | None = None  # index in kept of the VP8X chunk, replaced by bytes
    turned = b""  # the minimal EXIF kept for an orientation other than 1
    offset = 12
    while offset < riff_end:
        kind, length = struct.unpack("<4sI", read_exact(fh, offset, 8, "a chunk header"))
        end = offset + 8 + length + (length & 1)
        if end > riff_end:
            raise StripError(f"the {_name(kind)!r} chunk at byte {offset} runs past the end")
        if kind in WEBP_DROPPED:
            removed.append(_name(kind).strip())
            if kind == b"EXIF" and not turned:
                turned = _turned(fh, offset + 8, length)
                if turned:  # a minimal EXIF keeps the picture shown upright
                    kept.append(b"EXIF" + struct.pack("<I", len(turned)) + turned)
        elif kind == b"VP8X":
            if length < 10:
                raise StripError("a VP8X chunk shorter than 10 bytes")
            vp8x = len(kept)
            kept.append(read_exact(fh, offset, end - offset, "the VP8X chunk"))
        else:
            kept.append((offset, end - offset))
        offset = end
    if size > riff_end:  # appended data (an archive, a tool's records): no picture
        removed.append("trailing data")
    if not removed:
        return None
    if vp8x is not None:
        chunk = kept[vp8x]
        assert isinstance(chunk, bytes)
        flags = chunk[8] & ~(VP8X_XMP | (0 if turned else VP8X_EXIF))
        kept[vp8x] = chunk[:8] + bytes([flags]) + chunk[9:]
    body = sum(p[1] if isinstance(p, tuple) else len(p) for p in kept)
    header = b"RIFF" + (body + 4).to_bytes(4, "little") + b"WEBP"
    return make_plan([header, *kept], removed)
