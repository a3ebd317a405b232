"""File types by magic bytes, as the providers judge them (never the declared type).

Shared by the emulators: :func:`sniff` maps the first :data:`HEAD` bytes of a file to a
MIME type (or None: unknown), :func:`dimensions` reads width and height where the header
holds them cheaply (PNG IHDR, GIF screen descriptor, BMP info header, WebP VP8X), else
``(0, 0)``, which reference 1.4 allows an emulator to answer.
"""

from __future__ import annotations

import struct

HEAD = 64  # how many leading bytes sniff() and dimensions() look at

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "video/x-matroska": "mkv",
}
BMP_INFO_SIZES = (12, 40, 52, 56, 64, 108, 124)  # DIB header sizes: "BM" alone is too weak


def _bmp_info_size(head: bytes) -> int:
    return int.from_bytes(head[14:18], "little")


def sniff(head: bytes) -> str | None:
    """The MIME type of a file starting with ``head``, or None when it is no image/video
    type the providers take (PNG, JPEG, GIF, WebP, BMP, TIFF, MP4/MOV, WebM/MKV)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:2] == b"BM" and len(head) >= 26 and _bmp_info_size(head) in BMP_INFO_SIZES:
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[4:8] == b"ftyp":  # ISO base media: the major brand says QuickTime or MP4
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: the DocType tells WebM from Matroska
        return "video/webm" if b"webm" in head[:HEAD] else "video/x-matroska"
    return None


def dimensions(head: bytes) -> tuple[int, int]:
    """(width, height) from the header bytes, or (0, 0) when not cheaply readable."""
    if head.startswith(b"\x89PNG") and len(head) >= 24 and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    if head[:3] == b"GIF" and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return int(width), int(height)
    if head[:2] == b"BM" and len(head) >= 26 and _bmp_info_size(head) >= 40:
        width, height = struct.unpack("<ii", head[18:26])
        return abs(int(width)), abs(int(height))  # negative height: a top-down bitmap
    if head[:4] == b"RIFF" and head[12:16] == b"VP8X" and len(head) >= 30:
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    return 0, 0
