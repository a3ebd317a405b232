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


def _box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def _riff(form: bytes, chunk: bytes) -> bytes:
    return b"RIFF" + (4 + len(chunk)).to_bytes(4, "little") + form + chunk


def _bmp() -> bytes:
    dib = (40).to_bytes(4, "little") + (1).to_bytes(4, "little") * 2 + bytes(28)
    pixels = bytes(4)
    size = 14 + len(dib) + len(pixels)
    return b"BM" + size.to_bytes(4, "little") + bytes(4) + (54).to_bytes(4, "little") + dib + pixels


def _ebml(doctype: bytes) -> bytes:
    header = b"\x42\x82" + bytes([0x80 | len(doctype)]) + doctype
    segment = b"\x15\x49\xa9\x66\x80"  # an empty Info element
    return (
        b"\x1a\x45\xdf\xa3"
        + bytes([0x80 | len(header)])
        + header
        + b"\x18\x53\x80\x67"
        + bytes([0x80 | len(segment)])
        + segment
    )


# The smallest whole file of each type the client accepts: header, body and end marker.
WHOLE: dict[str, bytes] = {
    "jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9",
    "gif": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
    "webp": _riff(b"WEBP", b"VP8 " + (4).to_bytes(4, "little") + bytes(4)),
    "avi": _riff(b"AVI ", b"LIST" + (4).to_bytes(4, "little") + b"hdrl"),
    "bmp": _bmp(),
    "tiff": b"II*\x00\x08\x00\x00\x00" + bytes(6),
    "mp4": _box(b"ftyp", b"isom" + bytes(4) + b"isommp42") + _box(b"mdat", bytes(16)),
    "mov": _box(b"ftyp", b"qt  " + bytes(4) + b"qt  ") + _box(b"mdat", bytes(16)),
    "heic": _box(b"ftyp", b"heic" + bytes(4) + b"mif1heic") + _box(b"meta", bytes(8)),
    "webm": _ebml(b"webm"),
    "mkv": _ebml(b"matroska"),
    "flv": b"FLV\x01\x05\x00\x00\x00\x09" + bytes(4),
    "pdf": b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n",
    "wmv": bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
    + (30).to_bytes(8, "little")
    + bytes(6),
}


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
