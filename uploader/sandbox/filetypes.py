"""File types by magic bytes, as the providers judge them (never the declared type).

Shared by the emulators, each of which keeps its own list of what it accepts:
:func:`sniff` maps the first :data:`HEAD` bytes of a file to the MIME type they announce
(or None: not recognised), :func:`dimensions` reads width and height where the header
holds them cheaply (PNG IHDR, GIF screen descriptor, BMP core or info header, WebP VP8X,
VP8 and VP8L), else ``(0, 0)``, which reference 1.4 allows an emulator to answer;
:func:`file_dimensions` also walks a stored JPEG's segments to its frame header, so
listings carry real sizes, as the services' do. Deliberately independent of
the client's own sniffer (``uploader/imaging/inspect.py``), so tests can catch the client's
mistakes; both read a bitmap as "BM" plus a DIB header of a known size.
"""

from __future__ import annotations

import struct
from pathlib import Path

HEAD = 64  # how many leading bytes sniff() and dimensions() look at

BMP_INFO_SIZES = (12, 40, 52, 56, 64, 108, 124)  # DIB header sizes: "BM" alone is too weak
ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")  # ASF header object (WMV)
# ISO base media (ftyp) brands that are no video: HEIF stills, AVIF, MPEG-4 audio.
HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs")
HEIF_GENERIC = (b"mif1", b"msf1")  # the compatible brands then say HEIC or AVIF
AVIF_BRANDS = (b"avif", b"avis")
AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B ")


# Reference 3.6 supported_mime_types: those sniff() can tell apart, in the doc's order.
MASTODON_TYPES = (
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/heic",
    "image/heif",
    "image/webp",
    "image/avif",
    "video/webm",
    "video/mp4",
    "video/quicktime",
    "video/ogg",
    "audio/mp4",
)


def _bmp_info_size(head: bytes) -> int:
    return int.from_bytes(head[14:18], "little")


def _iso_media(head: bytes) -> str:
    """The type of an ISO base media file (``ftyp`` box) from its brands."""
    major = head[8:12]
    size = int.from_bytes(head[0:4], "big")
    compatible = head[16 : min(max(size, 16), len(head))]
    brands = [compatible[i : i + 4] for i in range(0, len(compatible) - 3, 4)]
    if major in AVIF_BRANDS or (major in HEIF_GENERIC and any(b in AVIF_BRANDS for b in brands)):
        return "image/avif"
    if major in HEIF_BRANDS or major in HEIF_GENERIC:
        return "image/heic"
    if major in AUDIO_BRANDS:
        return "audio/mp4"
    if major == b"qt  ":
        return "video/quicktime"
    if major.startswith((b"3gp", b"3g2")):
        return "video/3gpp"
    return "video/mp4"  # isom, iso2, mp41, mp42, avc1, dash, M4V, ...


def sniff(head: bytes) -> str | None:
    """The MIME type a file starting with ``head`` announces, or None when its bytes
    match none of: PNG, JPEG, GIF, WebP, BMP, TIFF, PDF, XCF, HEIC, AVIF, MP4/MOV/3GP and
    M4A (by ftyp brand), WebM/MKV, AVI, FLV, MPEG-PS/ES, ASF (WMV)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head[:2] == b"BM" and len(head) >= 26 and _bmp_info_size(head) in BMP_INFO_SIZES:
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"gimp xcf "):
        return "image/x-xcf"
    if head[4:8] == b"ftyp" and len(head) >= 12:
        return _iso_media(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: the DocType tells WebM from Matroska
        return "video/webm" if b"webm" in head[:HEAD] else "video/x-matroska"
    if head[:3] == b"FLV" and len(head) >= 4 and head[3] == 1:  # signature, version 1
        return "video/x-flv"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):  # pack / sequence header
        return "video/mpeg"
    if head.startswith(ASF_GUID):  # WMV and WMA share it; the sandbox calls both video
        return "video/x-ms-wmv"
    return None


def dimensions(head: bytes) -> tuple[int, int]:
    """(width, height) from the header bytes, or (0, 0) when not cheaply readable."""
    if head.startswith(b"\x89PNG") and len(head) >= 24 and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    if head[:3] == b"GIF" and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return int(width), int(height)
    if head[:2] == b"BM" and len(head) >= 22 and _bmp_info_size(head) == 12:
        width, height = struct.unpack("<HH", head[18:22])  # BITMAPCOREHEADER: 16-bit
        return int(width), int(height)
    if head[:2] == b"BM" and len(head) >= 26 and _bmp_info_size(head) >= 40:
        width, height = struct.unpack("<ii", head[18:26])
        return abs(int(width)), abs(int(height))  # negative height: a top-down bitmap
    if head[:4] == b"RIFF" and head[12:16] == b"VP8X" and len(head) >= 30:
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    if head[:4] == b"RIFF" and head[12:16] == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])  # a key frame's 14-bit sizes
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    if head[:4] == b"RIFF" and head[12:16] == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        packed = struct.unpack("<I", head[21:25])[0]
        return (packed & 0x3FFF) + 1, ((packed >> 14) & 0x3FFF) + 1
    return 0, 0


def file_dimensions(path: str | Path, head: bytes) -> tuple[int, int]:
    """:func:`dimensions`, and for JPEG the frame header found by reading the segments
    from the file (as the real services report every image's size, reference 1.4)."""
    if not head.startswith(b"\xff\xd8"):
        return dimensions(head)
    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 20)  # a frame header lies after at most ~1 MiB of metadata
    except OSError:
        return 0, 0
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return 0, 0
        marker = data[at + 1]
        if marker == 0xFF:
            at += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if at + 9 > len(data):
                return 0, 0
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return int(width), int(height)
        if marker in (0xD9, 0xDA) or length < 2:
            return 0, 0
        at += 2 + length
    return 0, 0
