"""Whole files pass the structure checks; cut or look-alike files are refused before sending."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.images import WHOLE, png_bytes
from uploader.errors import InputFileError
from uploader.imaging.inspect import inspect_path, sniff
from uploader.sandbox.filetypes import sniff as sandbox_sniff

SAMPLES = {**WHOLE, "png": png_bytes(seed=2)}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_whole_file_of_each_type_is_accepted_and_both_sniffers_agree(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / f"f.{name}"
    path.write_bytes(SAMPLES[name])
    image = inspect_path(str(path))
    assert image.mime_type == sniff(SAMPLES[name][:64])
    assert sandbox_sniff(SAMPLES[name][:64]) == image.mime_type


@pytest.mark.parametrize("name", sorted(set(SAMPLES) - {"flv", "tiff", "wmv"}))
def test_a_file_cut_short_is_refused(tmp_path: Path, name: str) -> None:
    data = SAMPLES[name]
    path = tmp_path / f"f.{name}"
    path.write_bytes(data[: len(data) - 2])
    with pytest.raises(InputFileError) as info:
        inspect_path(str(path))
    assert info.value.message.startswith(f"{path}: not a complete ")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (
            b"BM"
            + (9999).to_bytes(4, "little")
            + bytes(8)
            + (40).to_bytes(4, "little")
            + bytes(40),
            "truncated",
        ),
        (b"\x89PNG\r\n\x1a\nhello, this is text and no chunks at all" + bytes(10), "no IHDR"),
        (b"\xff\xd8\xff\x00 text after a JPEG start" + b"\xff\xd9", "no valid JPEG marker"),
        (b"RIFF\x00\x01\x00\x00WEBPVP8 " + bytes(8), "truncated"),
        (b"RIFF\x08\x00\x00\x00WEBP" + bytes(40), "RIFF header"),
        (b"FLV\x01\x05\x00\x00\x00\x05" + bytes(8), "broken FLV header"),
        (b"II*\x00\xff\xff\x00\x00" + bytes(8), "outside the file"),
        (b"\x00\x00\x00\x04ftypisom" + bytes(20), "a box of 4 bytes"),
        (
            bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
            + (999).to_bytes(8, "little")
            + bytes(8),
            "header object",
        ),
    ],
)
def test_a_look_alike_is_refused_with_the_reason(tmp_path: Path, data: bytes, why: str) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(data)
    with pytest.raises(InputFileError) as info:
        inspect_path(str(path))
    assert why in info.value.message


def test_a_png_followed_by_padding_and_a_jpeg_with_trailing_zeros_pass(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png_bytes() + bytes(100))
    (tmp_path / "b.jpg").write_bytes(WHOLE["jpg"] + bytes(100))
    assert inspect_path(str(tmp_path / "a.png")).mime_type == "image/png"
    assert inspect_path(str(tmp_path / "b.jpg")).mime_type == "image/jpeg"


def _jpeg_with_scan(*, end: bool) -> bytes:
    """SOI, an APP1 segment holding a thumbnail with its own SOI/EOI (as EXIF does), a
    start-of-scan, stuffed scan data (``FF 00``), and the EOI when ``end``."""
    thumbnail = b"\xff\xd8\xff\xdb\x00\x03\x00\xff\xd9"
    app1 = b"\xff\xe1" + (2 + 6 + len(thumbnail)).to_bytes(2, "big") + b"Exif\x00\x00" + thumbnail
    sos = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    scan = bytes(range(0xF0, 0xFF)) * 700 + b"\xff\x00" * 50
    return b"\xff\xd8" + app1 + sos + scan + (b"\xff\xd9" if end else b"")


def test_a_motion_photo_with_a_video_after_its_end_of_image_is_whole(tmp_path: Path) -> None:
    # Phones append an MP4 after the JPEG's EOI: the EOI is far from the end of the file.
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(200_000)
    (tmp_path / "motion.jpg").write_bytes(_jpeg_with_scan(end=True) + video)
    assert inspect_path(str(tmp_path / "motion.jpg")).mime_type == "image/jpeg"


def test_a_jpeg_cut_in_its_scan_is_truncated_whatever_its_thumbnail_says(tmp_path: Path) -> None:
    # The EXIF thumbnail's own EOI does not make the image whole, nor does appended data.
    for name, data in (
        ("cut.jpg", _jpeg_with_scan(end=False)),
        ("cut-then-data.jpg", _jpeg_with_scan(end=False) + bytes(5000)),
    ):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputFileError) as info:
            inspect_path(str(tmp_path / name))
        assert "truncated: no end-of-image marker" in info.value.message
