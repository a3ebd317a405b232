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
