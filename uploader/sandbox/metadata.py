"""What metadata an uploaded file still carries, as the sandbox reports it (issue 15).

``GET /_sandbox/uploads`` lists, for each stored file, the metadata segment types found in
it, so tests and the demo can show what a client removed. Deliberately written apart from
the client's stripper (``uploader/imaging/strip*.py``), so tests catch its mistakes:

- JPEG: ``EXIF``, ``XMP``, ``IPTC``, ``ICC``, ``MPF``, ``COM`` and ``APPn`` for other
  application segments (JFIF and Adobe are not listed: they describe the pixels), plus
  ``EXIF:GPS`` and ``EXIF:orientation=N`` when the EXIF holds them; each further picture
  the file carries after the first one's image data (a multi-picture file's depth or gain
  map, each a JPEG of its own) adds ``+JPEG`` and its own segments, each prefixed ``+``;
- PNG: the ancillary chunks that carry text, time, EXIF or colour profiles
  (``tEXt``, ``zTXt``, ``iTXt``, ``eXIf``, ``tIME``, ``iCCP``);
- WebP: ``EXIF``, ``XMP``, ``ICCP`` chunks.

Reads only headers (segments before the scan, chunk headers), never decodes pixel data
(a JPEG's is only searched for the start marker of a further picture, which cannot occur in
it); a file it cannot follow gets ``["unreadable"]``, never an exception.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

PNG_LISTED = (b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME", b"iCCP")
WEBP_LISTED = {b"EXIF": "EXIF", b"XMP ": "XMP", b"ICCP": "ICCP"}
LIMIT = 100_000  # segments or chunks looked at


def metadata_of(path: Path, mime: str) -> list[str]:
    """The metadata segment types in the file at ``path`` (see the module docstring)."""
    try:
        with path.open("rb") as fh:
            if mime == "image/jpeg":
                found = _jpeg(fh)
                for start in _further_pictures(fh):
                    fh.seek(start)
                    found += ["+JPEG", *(f"+{kind}" for kind in _further(fh))]
                return found
            if mime == "image/png":
                return _png(fh)
            if mime == "image/webp":
                return _webp(fh)
    except (OSError, ValueError, struct.error):
        return ["unreadable"]
    return []


def _jpeg(fh: BinaryIO) -> list[str]:
    found: list[str] = []
    if fh.read(2) != b"\xff\xd8":
        raise ValueError("not a JPEG")
    for _ in range(LIMIT):
        byte = fh.read(1)
        while byte == b"\xff":
            byte = fh.read(1)
        if not byte or byte in (b"\xda", b"\xd9"):
            return found
        marker = byte[0]
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            fh.read(1)  # the next marker's 0xFF
            continue
        (length,) = struct.unpack(">H", fh.read(2))
        payload = fh.read(length - 2)
        if len(payload) != length - 2:
            raise ValueError("cut short")
        found.extend(_jpeg_segment(marker, payload))
        if fh.read(1) != b"\xff":
            raise ValueError("no marker")
    return found


def _jpeg_segment(marker: int, payload: bytes) -> list[str]:
    if marker == 0xFE:
        return ["COM"]
    if not 0xE0 <= marker <= 0xEF:
        return []
    if marker == 0xE0 and payload.startswith(b"JFIF\x00"):
        return []
    if marker == 0xEE and payload.startswith(b"Adobe"):
        return []
    if payload.startswith(b"Exif\x00\x00"):
        return ["EXIF", *_exif_details(payload[6:])]
    if payload.startswith(b"http://ns.adobe.com/"):
        return ["XMP"]
    if payload.startswith(b"Photoshop 3.0"):
        return ["IPTC"]
    if payload.startswith(b"ICC_PROFILE"):
        return ["ICC"]
    if payload.startswith(b"MPF\x00"):
        return ["MPF"]
    return [f"APP{marker - 0xE0}"]


def _further(fh: BinaryIO) -> list[str]:
    """A further picture's metadata; ``unreadable`` for its own, not the whole file's."""
    try:
        return _jpeg(fh)
    except (ValueError, struct.error):
        return ["unreadable"]


def _further_pictures(fh: BinaryIO) -> list[int]:
    """Where a JPEG start marker (FF D8 FF) occurs after the first picture's headers (read
    up to its scan by :func:`_jpeg`): in image data a 0xFF is always followed by 0x00 or a
    restart marker, so each is a further picture. At most :data:`LIMIT`."""
    found: list[int] = []
    at = fh.tell()
    tail = b""
    while len(found) < LIMIT:
        block = fh.read(1 << 20)
        if not block:
            return found
        data = tail + block
        start = at - len(tail)
        index = data.find(b"\xff\xd8\xff")
        while index != -1 and len(found) < LIMIT:
            found.append(start + index)
            index = data.find(b"\xff\xd8\xff", index + 1)
        tail = data[-2:]
        at += len(block)
    return found


def _exif_details(tiff: bytes) -> list[str]:
    """``EXIF:GPS`` and ``EXIF:orientation=N`` from the first IFD, when present."""
    if tiff[:2] not in (b"II", b"MM"):
        return ["EXIF:unreadable"]
    end = "<" if tiff[:2] == b"II" else ">"
    try:
        (first,) = struct.unpack_from(end + "I", tiff, 4)
        (count,) = struct.unpack_from(end + "H", tiff, first)
        details = []
        for n in range(min(count, 512)):
            tag, _kind, _num, value = struct.unpack_from(end + "HHIH", tiff, first + 2 + 12 * n)
            if tag == 0x8825:
                details.append("EXIF:GPS")
            elif tag == 0x0112:
                details.append(f"EXIF:orientation={value}")
            elif tag not in (0x8769,):  # the Exif sub-IFD pointer says nothing by itself
                details.append("EXIF:tags")
        return sorted(set(details))
    except struct.error:
        return ["EXIF:unreadable"]


def _png(fh: BinaryIO) -> list[str]:
    if fh.read(8) != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    found: list[str] = []
    for _ in range(LIMIT):
        header = fh.read(8)
        if len(header) < 8:
            return found
        length, kind = struct.unpack(">I4s", header)
        if kind in PNG_LISTED:
            found.append(kind.decode())
        if kind == b"IEND":
            return found
        fh.seek(length + 4, 1)
    return found


def _webp(fh: BinaryIO) -> list[str]:
    head = fh.read(12)
    if head[:4] != b"RIFF" or head[8:] != b"WEBP":
        raise ValueError("not a WebP")
    found: list[str] = []
    for _ in range(LIMIT):
        header = fh.read(8)
        if len(header) < 8:
            return found
        kind, length = struct.unpack("<4sI", header)
        if kind in WEBP_LISTED:
            found.append(WEBP_LISTED[kind])
        fh.seek(length + (length & 1), 1)
    return found
