"""Small real image files for tests, made on the fly (no binary fixtures needed)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def png_bytes(width: int = 8, height: int = 8, seed: int = 0) -> bytes:
    rows = b"".join(
        b"\x00" + bytes(((x * 31 + y * 7 + seed) % 256) for x in range(width * 3))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def write_png(path: Path, *, width: int = 8, height: int = 8, seed: int = 0) -> Path:
    path.write_bytes(png_bytes(width, height, seed))
    return path


def write_sized_png(path: Path, size: int, *, seed: int = 0) -> Path:
    """A PNG header padded with a private chunk to exactly ``size`` bytes (written in
    pieces, so a huge file never sits in the test process's memory)."""
    base = png_bytes(seed=seed)
    pad = max(0, size - len(base) - 12)
    block = bytes((i * 131 + seed) % 256 for i in range(65536))
    crc = zlib.crc32(b"prVt")
    with path.open("wb") as out:
        out.write(base[:-12] + struct.pack(">I", pad) + b"prVt")  # before IEND
        left = pad
        while left:
            piece = block[: min(left, len(block))]
            out.write(piece)
            crc = zlib.crc32(piece, crc)
            left -= len(piece)
        out.write(struct.pack(">I", crc & 0xFFFFFFFF) + base[-12:])
    return path


# Headers only (enough for type and size readers): no pixel data a decoder would accept.


def jpeg_bytes(width: int, height: int, *, sof: int = 0xC0, exif: int = 0) -> bytes:
    """SOI, APP0 (JFIF), an APP1 of ``exif`` padding bytes, a comment, fill bytes, then
    the frame header SOFn (``sof``: C0 baseline, C2 progressive), DQT-less, then EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + exif) + bytes(exif) if exif else b""
    com = b"\xff\xfe" + struct.pack(">H", 7) + b"hello"
    frame = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sofn = bytes((0xFF, sof)) + struct.pack(">H", 2 + len(frame)) + frame
    return b"\xff\xd8" + app0 + app1 + com + b"\xff\xff" + sofn + b"\xff\xd9"


def gif_bytes(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b";"


def webp_bytes(width: int, height: int, *, kind: str = "VP8X") -> bytes:
    """A RIFF/WEBP file whose first chunk is ``kind``: VP8X (canvas), VP8 (lossy key
    frame) or VP8L (lossless)."""
    if kind == "VP8X":
        body = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little")
        body += (height - 1).to_bytes(3, "little")
    elif kind == "VP8 ":
        body = b"\x10\x02\x00\x9d\x01\x2a" + struct.pack("<HH", width, height) + bytes(8)
    else:
        bits = (width - 1) | ((height - 1) << 14)
        body = b"\x2f" + struct.pack("<I", bits) + bytes(8)
    chunk = kind.encode() + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def bmp_bytes(width: int, height: int, *, core: bool = False) -> bytes:
    """A bitmap header: BITMAPCOREHEADER (``core``) or BITMAPINFOHEADER (``height`` may be
    negative: rows top-down)."""
    if core:
        dib = struct.pack("<IHHHH", 12, width, height, 1, 24)
    else:
        dib = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    head = b"BM" + struct.pack("<IHHI", 14 + len(dib), 0, 0, 14 + len(dib))
    return head + dib
