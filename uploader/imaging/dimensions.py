"""Width and height from a file's header, read cheaply (no decoding, no image library).

Used to prove that a listed object is a lost upload (providers/recovery.py). Formats: PNG
(IHDR), JPEG (the first SOFn segment, found by walking the segments), GIF (logical screen),
WebP (VP8X canvas, VP8 key frame, VP8L header), BMP (core or info header). Anything else,
or a header that does not hold together, gives None: the dimensions are then not used.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

HEAD = 64
# JPEG SOFn markers (frame headers) are C0-CF, except C4 (DHT), C8 (JPG) and CC (DAC).
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, with no length: TEM and RSTn.
STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
MAX_SEGMENTS = 512  # a JPEG with more segments before its frame header is not read


def read_dimensions(path: Path) -> tuple[int, int] | None:
    """(width, height) of the image at ``path``, or None when its header does not tell."""
    try:
        with path.open("rb") as stream:
            head = stream.read(HEAD)
            if head.startswith(b"\xff\xd8"):
                return _positive(_jpeg(stream))
            return _positive(header_dimensions(head))
    except OSError:
        return None


def header_dimensions(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first 64 bytes of a PNG, GIF, WebP or BMP file."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR" and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return int(width), int(height)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(head)
    if head[:2] == b"BM" and len(head) >= 26:
        info = int.from_bytes(head[14:18], "little")
        if info == 12:  # BITMAPCOREHEADER: 16-bit unsigned sizes
            width, height = struct.unpack("<HH", head[18:22])
            return int(width), int(height)
        if info in (40, 52, 56, 64, 108, 124):
            width, height = struct.unpack("<ii", head[18:26])
            return abs(int(width)), abs(int(height))  # negative height: top-down rows
    return None


def _webp(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _jpeg(stream: BinaryIO) -> tuple[int, int] | None:
    """Walk the segments after SOI up to the first frame header (bounded)."""
    stream.seek(2)
    for _ in range(MAX_SEGMENTS):
        byte = stream.read(1)
        if byte != b"\xff":
            return None
        marker = stream.read(1)
        while marker == b"\xff":  # fill bytes
            marker = stream.read(1)
        if not marker:
            return None
        code = marker[0]
        if code in STANDALONE:
            continue
        raw = stream.read(2)
        if len(raw) < 2:
            return None
        length = int.from_bytes(raw, "big")
        if length < 2:
            return None
        if code in SOF_MARKERS:
            frame = stream.read(5)
            if len(frame) < 5:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            return int(width), int(height)
        if code in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        stream.seek(length - 2, 1)
    return None


def _positive(dims: tuple[int, int] | None) -> tuple[int, int] | None:
    if dims is None or dims[0] <= 0 or dims[1] <= 0:
        return None
    return dims
