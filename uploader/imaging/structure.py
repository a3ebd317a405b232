"""Is a file whole? Cheap checks of each accepted type's structure, before any request.

:func:`~uploader.imaging.inspect.sniff` names a type from the first bytes; a file that
starts right can still be cut short (an interrupted download, a full disk) or be text that
happens to start with two magic letters. These checks read a few small pieces of the file:
the header, the end, and for ISO media the top-level boxes, never the whole file. Each
answers None (looks whole) or why the file is not a complete file of its type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

HEAD = 64
TAIL = 1024  # the end markers may be followed by a little padding
MAX_BOXES = 4096  # an ISO media file has a handful of top-level boxes; stop looking after
TRUNCATED = "truncated"


def _read_at(fh: BinaryIO, offset: int, count: int) -> bytes:
    fh.seek(offset)
    return fh.read(count)


def structure_problem(fh: BinaryIO, mime: str, size: int) -> str | None:
    """Why the open file ``fh`` (``size`` bytes, sniffed as ``mime``) is not a complete
    file of that type, or None."""
    check = CHECKS.get(mime)
    if check is None:
        return None
    head = _read_at(fh, 0, HEAD)
    tail = _read_at(fh, max(0, size - TAIL), TAIL)
    return check(fh, head, tail, size)


def _png(_fh: BinaryIO, head: bytes, tail: bytes, _size: int) -> str | None:
    if head[8:16] != b"\x00\x00\x00\x0dIHDR":
        return "no IHDR chunk after the PNG signature"
    import zlib  # start-up: built in, and only a PNG upload needs it

    if len(head) < 33 or zlib.crc32(head[12:29]) != int.from_bytes(head[29:33], "big"):
        return "its IHDR chunk is damaged: wrong checksum"
    if not head[16:20].strip(b"\x00") or not head[20:24].strip(b"\x00"):
        return "its header says it is 0 pixels wide or high"
    if b"IEND\xae\x42\x60\x82" not in tail:
        return f"{TRUNCATED}: no IEND chunk at its end"
    return None


# What may follow a JPEG's start-of-image marker: a marker other than SOI, EOI, RSTn, TEM.
def _jpeg(fh: BinaryIO, head: bytes, tail: bytes, size: int) -> str | None:
    marker = head[3] if len(head) > 3 else 0
    if marker < 0xC0 or marker in (0xD8, 0xD9, 0xFF) or 0xD0 <= marker <= 0xD7:
        return "no valid JPEG marker after the start of image"
    if b"\xff\xd9" in tail or _jpeg_end_before_trailer(fh, size):
        return None
    return f"{TRUNCATED}: no end-of-image marker"


def _jpeg_end_before_trailer(fh: BinaryIO, size: int) -> bool:
    """Whether the image ends (EOI) before data appended to it: phones' "motion photos"
    append a whole video after the JPEG, so the end-of-image marker is not at the end of
    the file. The header segments are skipped by their lengths (an EXIF thumbnail carries
    its own EOI); after the first start-of-scan, ``FF D9`` can only be the real EOI, since
    scan data stuffs every ``FF`` byte. Read in chunks, only for such files."""
    at = 2
    for _ in range(MAX_BOXES):  # header segments, bounded
        segment = _read_at(fh, at, 4)
        if len(segment) < 4 or segment[0] != 0xFF:
            return False
        if segment[1] == 0xDA:  # start of scan: the entropy-coded data follows
            break
        at += 2 + int.from_bytes(segment[2:4], "big")
    else:
        return False
    previous = b""
    while at < size:
        chunk = _read_at(fh, at, 1 << 16)
        if not chunk:
            return False
        if b"\xff\xd9" in previous[-1:] + chunk:
            return True
        previous, at = chunk, at + len(chunk)
    return False


def _gif(_fh: BinaryIO, head: bytes, tail: bytes, _size: int) -> str | None:
    if len(head) < 13:  # header + logical screen descriptor
        return f"{TRUNCATED}: no logical screen descriptor"
    if not tail.rstrip(b"\x00").endswith(b";"):
        return f"{TRUNCATED}: no GIF trailer at its end"
    return None


def _riff(exact: bool) -> Callable[[BinaryIO, bytes, bytes, int], str | None]:
    def check(_fh: BinaryIO, head: bytes, _tail: bytes, size: int) -> str | None:
        declared = int.from_bytes(head[4:8], "little") + 8
        if declared < 16:
            return "a RIFF header with no room for any data"
        if declared > size:
            return f"{TRUNCATED}: its RIFF header says {declared} bytes, the file has {size}"
        if exact and size - declared > 1:  # one pad byte is allowed
            return f"its RIFF header says {declared} bytes, but the file has {size}"
        return None

    return check


def _bmp(_fh: BinaryIO, head: bytes, _tail: bytes, size: int) -> str | None:
    declared = int.from_bytes(head[2:6], "little")
    pixels = int.from_bytes(head[10:14], "little")
    dib = int.from_bytes(head[14:18], "little")
    if size < 14 + dib:
        return f"{TRUNCATED}: the bitmap header is cut short"
    if declared > size:  # 0 is allowed ("unknown"); some writers leave it so
        return f"{TRUNCATED}: its header says {declared} bytes, the file has {size}"
    if not 14 + dib <= pixels < size:
        return "its pixel data offset points outside the file"
    return None


def _tiff(_fh: BinaryIO, head: bytes, _tail: bytes, size: int) -> str | None:
    word = head[4:8]
    first = int.from_bytes(word, "little") if head[:2] == b"II" else int.from_bytes(word, "big")
    if not 8 <= first < size:
        return "its first image directory lies outside the file"
    return None


def _iso_boxes(fh: BinaryIO, _head: bytes, _tail: bytes, size: int) -> str | None:
    """Walk the top-level boxes: each must fit, and together they must end the file."""
    offset = 0
    for _ in range(MAX_BOXES):
        if offset == size:
            return None
        box = _read_at(fh, offset, 16)
        if len(box) < 8:
            return f"{TRUNCATED}: a box header is cut short at byte {offset}"
        length = int.from_bytes(box[0:4], "big")
        if length == 0:  # the last box runs to the end of the file
            return None
        if length == 1:
            if len(box) < 16:
                return f"{TRUNCATED}: a box header is cut short at byte {offset}"
            length = int.from_bytes(box[8:16], "big")
        if length < 8:
            return f"a box of {length} bytes at byte {offset}"
        offset += length
        if offset > size:
            return f"{TRUNCATED}: a box ends at byte {offset}, the file has {size}"
    return None


def _vint(data: bytes, at: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at ``at``: (value, its length), or None."""
    if at >= len(data) or data[at] == 0:
        return None
    first = data[at]
    length = 8 - first.bit_length() + 1
    if at + length > len(data):
        return None
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[at + 1 : at + length]:
        value = (value << 8) | byte
    return value, length


def _ebml(fh: BinaryIO, head: bytes, _tail: bytes, size: int) -> str | None:
    """EBML header, then a Segment whose declared size must fit in the file."""
    header_size = _vint(head, 4, keep_marker=False)
    if header_size is None:
        return "a broken EBML header"
    segment_at = 4 + header_size[1] + header_size[0]
    segment = _read_at(fh, segment_at, 12)
    if segment[:4] != b"\x18\x53\x80\x67":
        return f"{TRUNCATED}: no Segment after the EBML header"
    length = _vint(segment, 4, keep_marker=False)
    if length is None:
        return f"{TRUNCATED}: the Segment header is cut short"
    value, width = length
    unknown = value == (1 << (7 * width)) - 1  # all ones: size unknown (live streams)
    if not unknown and segment_at + 4 + width + value > size:
        return f"{TRUNCATED}: its Segment runs past the end of the file"
    return None


def _flv(_fh: BinaryIO, head: bytes, _tail: bytes, _size: int) -> str | None:
    if head[3:4] != b"\x01" or int.from_bytes(head[5:9], "big") != 9:
        return "a broken FLV header"
    return None


def _pdf(_fh: BinaryIO, _head: bytes, tail: bytes, _size: int) -> str | None:
    return None if b"%%EOF" in tail else f"{TRUNCATED}: no %%EOF at its end"


def _asf(_fh: BinaryIO, head: bytes, _tail: bytes, size: int) -> str | None:
    header = int.from_bytes(head[16:24], "little")
    if not 30 <= header <= size:
        return f"{TRUNCATED}: its header object runs past the end of the file"
    return None


CHECKS: dict[str, Callable[[BinaryIO, bytes, bytes, int], str | None]] = {
    "image/png": _png,
    "image/jpeg": _jpeg,
    "image/gif": _gif,
    "image/webp": _riff(exact=True),
    "video/x-msvideo": _riff(exact=False),
    "image/bmp": _bmp,
    "image/tiff": _tiff,
    "image/heic": _iso_boxes,
    "image/avif": _iso_boxes,
    "video/mp4": _iso_boxes,
    "video/quicktime": _iso_boxes,
    "video/webm": _ebml,
    "video/x-matroska": _ebml,
    "video/x-flv": _flv,
    "application/pdf": _pdf,
    "video/x-ms-wmv": _asf,
}
