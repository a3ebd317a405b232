"""Width and height from a file's header (imaging/dimensions.py), and the sandbox reading
the same files the same way (so a listing says what the real services say)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.images import bmp_bytes, gif_bytes, jpeg_bytes, png_bytes, webp_bytes
from uploader.imaging.dimensions import read_dimensions
from uploader.sandbox.filetypes import file_dimensions

CASES = [
    ("png", png_bytes(37, 5), (37, 5)),
    ("jpeg baseline", jpeg_bytes(640, 480), (640, 480)),
    ("jpeg progressive", jpeg_bytes(1919, 1081, sof=0xC2), (1919, 1081)),
    ("jpeg after a big APP1", jpeg_bytes(3000, 2000, exif=60000), (3000, 2000)),
    ("gif", gif_bytes(300, 2), (300, 2)),
    ("webp VP8X", webp_bytes(4000, 3000), (4000, 3000)),
    ("webp VP8", webp_bytes(123, 456, kind="VP8 "), (123, 456)),
    ("webp VP8L", webp_bytes(16383, 2, kind="VP8L"), (16383, 2)),
    ("bmp info", bmp_bytes(10, 20), (10, 20)),
    ("bmp top-down", bmp_bytes(10, -20), (10, 20)),
    ("bmp core", bmp_bytes(7, 9, core=True), (7, 9)),
]


@pytest.mark.parametrize(("name", "data", "size"), CASES, ids=[c[0] for c in CASES])
def test_dimensions_are_read_from_the_header(
    tmp_path: Path, name: str, data: bytes, size: tuple[int, int]
) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)
    assert read_dimensions(path) == size
    # The sandbox's own reader (independent code) agrees: its listings carry them.
    assert file_dimensions(path, data[:64]) == size


UNKNOWN = [
    ("tiff", b"II*\x00" + bytes(60)),
    ("text", b"hello world"),
    ("jpeg without frame header", b"\xff\xd8\xff\xe0\x00\x04ab\xff\xd9"),
    ("jpeg cut in its segments", jpeg_bytes(640, 480)[:24]),
    ("jpeg with garbage between segments", b"\xff\xd8\x00\x01\x02"),
    ("jpeg with height 0 (DNL)", jpeg_bytes(640, 0)),
    ("png without IHDR", b"\x89PNG\r\n\x1a\n" + bytes(20)),
    ("png of width 0", png_bytes(8, 8)[:16] + b"\x00\x00\x00\x00\x00\x00\x00\x08"),
    ("empty", b""),
]


@pytest.mark.parametrize(("name", "data"), UNKNOWN, ids=[c[0] for c in UNKNOWN])
def test_unknown_or_broken_headers_give_none(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)
    assert read_dimensions(path) is None


def test_a_missing_file_gives_none(tmp_path: Path) -> None:
    assert read_dimensions(tmp_path / "gone.png") is None
