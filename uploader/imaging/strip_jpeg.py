"""A JPEG's metadata segments, found and dropped (see :mod:`uploader.imaging.strip`).

The segments before the first scan (SOS) are walked by their lengths; the scan data and
whatever follows it are sent as they are (the pixels are never touched). Kept: JFIF
(APP0), ICC profiles (APP2 ``ICC_PROFILE``) and Adobe's colour transform (APP14, which
decoders need for CMYK and YCCK), and every non-APPn segment (tables, frame header).
Dropped: every other APPn segment (EXIF, XMP and extended XMP, MPF, IPTC/Photoshop,
FlashPix, maker data, JUMBF) and comments. A photo whose EXIF orientation is not 1 gets a
minimal EXIF in place of the old one, holding only the orientation, so that it is not shown
rotated. A multi-picture file (MPF: a phone's depth map, gain map or second view, each a
whole JPEG with its own EXIF and GPS after the first) is cut where its index says the
second picture starts: only the first picture is sent. Data after the picture's end marker
(a motion photo's video, a vendor's trailer) goes too.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from uploader.imaging.strip import Piece, StripError, make_plan, read_exact
from uploader.models import Plan

SOI, SOS, EOI, COM = 0xD8, 0xDA, 0xD9, 0xFE
APP0, APP1, APP2, APP14, APP15 = 0xE0, 0xE1, 0xE2, 0xEE, 0xEF
EXIF_HEADER = b"Exif\x00\x00"
MPF_HEADER = b"MPF\x00"
MP_ENTRY = 0xB002  # the MP index's tag of its entries (16 bytes each: attributes, size, offset)
MAX_SEGMENTS = 100_000
TAIL = 64  # the last bytes read to see whether a JPEG ends with its end marker
ORIENTATION_TAG = 0x0112
ORIENTATION_FORMATS = {3: "H", 4: "I"}  # TIFF field type: SHORT, LONG

# Which APPn segments stay, by the signature their payload starts with.
KEPT_APP = {APP0: (b"JFIF\x00",), APP2: (b"ICC_PROFILE\x00",), APP14: (b"Adobe",)}
# What a dropped segment is called in the plan (-v, the JSON record), by signature.
NAMES = (
    (b"Exif\x00", "EXIF"),
    (b"http://ns.adobe.com/xap/1.0/\x00", "XMP"),
    (b"http://ns.adobe.com/xmp/extension/\x00", "XMP"),
    (b"Photoshop 3.0\x00", "IPTC"),
    (b"MPF\x00", "MPF"),
)


def plan_jpeg(fh: BinaryIO, size: int) -> Plan | None:
    """The plan for a JPEG (see the module docstring); None when it has no metadata."""
    if read_exact(fh, 0, 2, "the start marker") != b"\xff\xd8":
        raise StripError("no JPEG start marker")
    kept: list[Piece] = [(0, 2)]
    removed: list[str] = []
    orientation = 1
    exif_at: int | None = None  # where in ``kept`` a minimal EXIF would go
    end_of_first = size  # where the first picture ends (a multi-picture file's index)
    offset = 2
    for _ in range(MAX_SEGMENTS):
        marker, offset = _marker(fh, offset, size)
        if marker in (SOS, EOI):
            if marker == EOI:  # headers only (no picture): the end marker and what follows
                end_of_first = size
            elif end_of_first <= offset:
                raise StripError("the MPF index points inside the first picture's headers")
            elif end_of_first == size:
                end_of_first = _end_of_image(fh, offset, size)
                if end_of_first < size:
                    removed.append("trailing data")
            kept.append((offset - 2, end_of_first - offset + 2))  # the scans, to their end
            if orientation != 1 and exif_at is not None:
                kept.insert(exif_at, minimal_exif(orientation))
            return make_plan(kept, removed)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # stand-alone: no length
            kept.append((offset - 2, 2))
            continue
        length = int.from_bytes(read_exact(fh, offset, 2, "a segment length"), "big")
        end = offset + length
        if length < 2 or end > size:
            raise StripError(f"the segment at byte {offset - 2} runs past the end")
        if marker == COM or (APP0 <= marker <= APP15 and not _kept_app(fh, marker, offset)):
            payload = read_exact(fh, offset + 2, min(length - 2, 64), "a segment")
            name = _segment_name(marker, payload)
            removed.append(name)
            if name == "EXIF" and exif_at is None:
                exif_at = len(kept)
                whole = read_exact(fh, offset + 2, length - 2, "the EXIF segment")
                orientation = exif_orientation(whole[len(EXIF_HEADER) :])
            elif name == "MPF":
                whole = read_exact(fh, offset + 2, length - 2, "the MPF segment")
                end_of_first = min(end_of_first, _mpf_second(fh, whole, offset + 2 + 4, size))
        else:
            kept.append((offset - 2, length + 2))
        offset = end
    raise StripError(f"more than {MAX_SEGMENTS} segments before the image data")


def _marker(fh: BinaryIO, offset: int, size: int) -> tuple[int, int]:
    """The next marker at ``offset`` (fill bytes skipped) and the offset after it."""
    if read_exact(fh, offset, 1, "a marker") != b"\xff":
        raise StripError(f"no segment marker at byte {offset}")
    offset += 1
    while True:
        byte = read_exact(fh, offset, 1, "a marker")[0]
        offset += 1
        if byte != 0xFF:
            break
        if offset >= size:
            raise StripError("fill bytes run to the end of the file")
    if byte in (0x00, SOI):
        raise StripError(f"an invalid marker at byte {offset - 2}")
    return byte, offset


def _kept_app(fh: BinaryIO, marker: int, offset: int) -> bool:
    signatures = KEPT_APP.get(marker)
    if not signatures:
        return False
    longest = max(len(s) for s in signatures)
    fh.seek(offset + 2)
    head = fh.read(longest)
    return any(head.startswith(s) for s in signatures)


def _segment_name(marker: int, payload: bytes) -> str:
    if marker == COM:
        return "comment"
    for signature, name in NAMES:
        if payload.startswith(signature):
            return name
    return f"APP{marker - APP0}"


def _end_of_image(fh: BinaryIO, scan: int, size: int) -> int:
    """Where the picture whose scan starts at ``scan`` ends, when data follows it (a phone's
    motion photo appends a video with its own metadata; other tools append their own
    records): just after its end marker. A file that ends with that marker (zero padding
    aside) has nothing after it: only its last bytes are read. Else the scan data is read
    in pieces, where ``FF D9`` can only be the end marker (it stuffs every ``FF``)."""
    last = min(size, TAIL)
    if read_exact(fh, size - last, last, "the end").rstrip(b"\x00").endswith(b"\xff\xd9"):
        return size
    length = int.from_bytes(read_exact(fh, scan, 2, "the scan header"), "big")
    at, previous = scan + length, b""
    while at < size:
        fh.seek(at)
        piece = fh.read(min(1 << 20, size - at))
        if not piece:
            break
        found = (previous + piece).find(b"\xff\xd9")
        if found != -1:
            return at - len(previous) + found + 2
        previous, at = piece[-1:], at + len(piece)
    return size  # no end marker: sent as it is (the file checks refuse a cut file)


def _mpf_second(fh: BinaryIO, payload: bytes, base: int, size: int) -> int:
    """Where the second picture of a multi-picture file starts (``size`` when the index
    lists no other): the smallest offset of its MP entries, counted from ``base`` (the
    MPF's TIFF header), checked to hold a JPEG start marker."""
    tiff = payload[len(MPF_HEADER) :]
    try:
        order = "<" if tiff[:4] == b"II*\x00" else ">" if tiff[:4] == b"MM\x00*" else ""
        if not order:
            raise StripError("an MPF index without a TIFF header")
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        entries = b""
        for index in range(count):
            tag, _kind, number, value = struct.unpack_from(
                order + "HHII", tiff, ifd + 2 + 12 * index
            )
            if tag == MP_ENTRY:
                entries = tiff[value : value + number]
                break
        offsets: list[int] = [
            struct.unpack_from(order + "I", entries, at + 8)[0]
            for at in range(0, len(entries) - 15, 16)
        ]
    except struct.error:
        raise StripError("an MPF index cut short") from None
    others = [base + found for found in offsets if found]
    if not others:
        return size
    second = min(others)
    if second >= size or read_exact(fh, second, 2, "the second picture") != b"\xff\xd8":
        raise StripError("the MPF index does not point at the second picture")
    return second


def exif_orientation(tiff: bytes) -> int:
    """The orientation (1..8) in an EXIF block's TIFF structure; 1 when there is none or
    it cannot be read (a damaged EXIF is dropped like any other)."""
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    for index in range(count):
        at = ifd + 2 + 12 * index
        if at + 12 > len(tiff):
            return 1
        tag, kind, number = struct.unpack_from(order + "HHI", tiff, at)
        if tag == ORIENTATION_TAG:
            # A SHORT as the standard says; some writers use a LONG, which readers
            # (exiftool, Pillow) take as well.
            if kind not in ORIENTATION_FORMATS or number != 1:
                return 1
            (value,) = struct.unpack_from(order + ORIENTATION_FORMATS[kind], tiff, at + 8)
            return value if 1 <= value <= 8 else 1
    return 1


def minimal_tiff(orientation: int) -> bytes:
    """An EXIF's TIFF structure with the orientation tag and nothing else."""
    return (
        b"MM\x00*"
        + struct.pack(">I", 8)  # IFD0 right after the header
        + struct.pack(">H", 1)  # one entry
        + struct.pack(">HHIH2x", ORIENTATION_TAG, 3, 1, orientation)
        + struct.pack(">I", 0)  # no next IFD
    )


def minimal_exif(orientation: int) -> bytes:
    """An APP1 segment holding an EXIF with the orientation tag and nothing else."""
    payload = EXIF_HEADER + minimal_tiff(orientation)
    return b"\xff" + bytes([APP1]) + struct.pack(">H", len(payload) + 2) + payload


def block_orientation(block: bytes) -> int:
    """The orientation in an EXIF block as PNG's ``eXIf`` and WebP's ``EXIF`` chunks hold
    it: the TIFF structure, after an ``Exif\\0\\0`` header some writers put first."""
    return exif_orientation(block[6:] if block.startswith(EXIF_HEADER) else block)
