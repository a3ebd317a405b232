"""Metadata stripped without re-encoding (imaging/strip.py, strip_jpeg.py; issue 15): real
files written by Pillow in the test, the stripped bytes checked for what they still carry,
and the pixels decoded from them compared with the original's."""

from __future__ import annotations

import functools
import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageCms, PngImagePlugin

from uploader.imaging.strip import StripError, plan_strip, stream
from uploader.imaging.strip_jpeg import exif_orientation, minimal_exif
from uploader.models import Plan

XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>GPSSECRET</rdf:RDF></x:xmpmeta>'
SECRETS = (b"SecretCam", b"SERIAL12345", b"GPSSECRET", b"my comment", b"myhost")


def _picture(width: int = 64, height: int = 48) -> object:
    image = Image.new("RGB", (width, height))
    image.putdata(
        [
            ((x * 5) % 256, (y * 7) % 256, ((x + y) * 3) % 256)
            for y in range(height)
            for x in range(width)
        ]
    )
    return image


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "SecretCam"
    exif[0xA431] = "SERIAL12345"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.0)
    data: bytes = exif.tobytes()
    return data


@functools.cache  # one profile: it carries its creation time, to the second
def _icc() -> bytes:
    profile: bytes = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return profile


def _save(image: object, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)  # type: ignore[attr-defined]
    return out.getvalue()


def _stripped(tmp_path: Path, data: bytes, mime: str) -> tuple[bytes, Plan]:
    path = tmp_path / "in"
    path.write_bytes(data)
    with path.open("rb") as fh:
        plan = plan_strip(fh, mime, len(data))
        assert plan is not None
        body = b"".join(stream(fh, plan, chunk=100))
    assert len(body) == plan.size
    return body, plan


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        pixels: bytes = image.convert("RGB").tobytes()
        return pixels


def _jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, first bytes of the payload) of each segment before the scan."""
    found, at = [], 2
    while data[at + 1] != 0xDA:
        marker = data[at + 1]
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        found.append((marker, data[at + 4 : at + 4 + 14]))
        at += 2 + length
    return found


# -- JPEG ----------------------------------------------------------------------------------------


def test_a_jpeg_loses_gps_camera_xmp_and_comment_keeps_icc_and_its_orientation(
    tmp_path: Path,
) -> None:
    original = _save(
        _picture(), "JPEG", exif=_exif(6), icc_profile=_icc(), comment=b"my comment", xmp=XMP
    )
    assert all(secret in original for secret in SECRETS[:4])
    body, plan = _stripped(tmp_path, original, "image/jpeg")
    for secret in SECRETS:
        assert secret not in body
    assert sorted(plan.removed) == ["EXIF", "XMP", "comment"]
    assert _pixels(body) == _pixels(original)
    with Image.open(io.BytesIO(body)) as image:
        exif = image.getexif()
        assert dict(exif) == {0x0112: 6}  # the orientation and nothing else
        assert exif.get_ifd(0x8825) == {}
        assert image.info.get("icc_profile") == _icc()
    kinds = [marker for marker, _ in _jpeg_segments(body)]
    assert kinds.count(0xE1) == 1  # one APP1: the minimal EXIF
    assert 0xFE not in kinds


@pytest.mark.parametrize("orientation", [2, 3, 5, 8])
def test_every_rotated_orientation_survives(tmp_path: Path, orientation: int) -> None:
    original = _save(_picture(), "JPEG", exif=_exif(orientation))
    body, _ = _stripped(tmp_path, original, "image/jpeg")
    with Image.open(io.BytesIO(body)) as image:
        assert dict(image.getexif()) == {0x0112: orientation}


def test_an_upright_jpeg_loses_its_exif_entirely(tmp_path: Path) -> None:
    original = _save(_picture(), "JPEG", exif=_exif(1))
    body, plan = _stripped(tmp_path, original, "image/jpeg")
    assert plan.removed == ("EXIF",)
    assert b"Exif\x00\x00" not in body
    assert 0xE1 not in [marker for marker, _ in _jpeg_segments(body)]
    assert _pixels(body) == _pixels(original)
    assert len(body) < len(original)


def test_a_jpeg_without_metadata_needs_no_plan(tmp_path: Path) -> None:
    original = _save(_picture(), "JPEG")
    path = tmp_path / "a.jpg"
    path.write_bytes(original)
    with path.open("rb") as fh:
        assert plan_strip(fh, "image/jpeg", len(original)) is None


def test_the_adobe_segment_a_cmyk_jpeg_needs_stays(tmp_path: Path) -> None:
    original = _save(_picture().convert("CMYK"), "JPEG", exif=_exif(1))  # type: ignore[attr-defined]
    assert b"Adobe" in original
    body, _ = _stripped(tmp_path, original, "image/jpeg")
    assert b"Adobe" in body
    assert _pixels(body) == _pixels(original)


def test_orientation_reading_copes_with_damaged_exif() -> None:
    good = minimal_exif(6)[4 + 6 :]  # the TIFF structure inside the APP1
    assert exif_orientation(good) == 6
    assert exif_orientation(good.replace(b"MM\x00*", b"XX\x00*")) == 1
    assert exif_orientation(good[:12]) == 1  # the IFD cut short
    assert exif_orientation(b"MM\x00*\xff\xff\xff\xff") == 1  # IFD offset past the end
    out_of_range = good[:18] + struct.pack(">H", 9) + good[20:]
    assert exif_orientation(out_of_range) == 1


# -- PNG -----------------------------------------------------------------------------------------


def test_a_png_loses_its_text_exif_and_time_chunks_and_keeps_its_colour(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "shooter on myhost")
    info.add_text("Comment", "my comment", zip=True)
    info.add_itxt("Author", "SecretCam", lang="en")
    original = _save(_picture(), "PNG", pnginfo=info, exif=_exif(1), icc_profile=_icc())
    original = _png_insert(original, b"tIME", struct.pack(">HBBBBB", 2026, 12, 1, 10, 0, 0))
    original = _png_insert(original, b"gAMA", struct.pack(">I", 45455))
    body, plan = _stripped(tmp_path, original, "image/png")
    assert sorted(plan.removed) == ["eXIf", "iTXt", "tEXt", "tIME", "zTXt"]
    assert _png_chunks(body) == ["IHDR", "gAMA", "iCCP", "IDAT", "IEND"]
    for secret in SECRETS:
        assert secret not in body
    assert _pixels(body) == _pixels(original)


def test_a_png_without_metadata_needs_no_plan(tmp_path: Path) -> None:
    original = _save(_picture(), "PNG")
    path = tmp_path / "a.png"
    path.write_bytes(original)
    with path.open("rb") as fh:
        assert plan_strip(fh, "image/png", len(original)) is None


def _png_chunks(data: bytes) -> list[str]:
    found, at = [], 8
    while at < len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        found.append(data[at + 4 : at + 8].decode())
        at += 12 + length
    return found


def _png_insert(data: bytes, kind: bytes, payload: bytes) -> bytes:
    """``data`` with a chunk added right after IHDR."""
    chunk = struct.pack(">I", len(payload)) + kind + payload
    chunk += struct.pack(">I", zlib.crc32(kind + payload))
    return data[:33] + chunk + data[33:]


# -- WebP ----------------------------------------------------------------------------------------


def test_a_webp_loses_exif_and_xmp_with_its_flags_and_size_fixed(tmp_path: Path) -> None:
    original = _save(_picture(), "WEBP", exif=_exif(1), xmp=XMP, lossless=True)
    assert original[20] & 0x0C == 0x0C  # VP8X says: EXIF and XMP present
    body, plan = _stripped(tmp_path, original, "image/webp")
    assert sorted(plan.removed) == ["EXIF", "XMP"]
    assert b"EXIF" not in body
    assert b"XMP " not in body
    for secret in SECRETS:
        assert secret not in body
    assert body[20] & 0x0C == 0  # the flags no longer announce them
    assert int.from_bytes(body[4:8], "little") == len(body) - 8  # the RIFF size
    assert _pixels(body) == _pixels(original)


# -- what cannot be followed ---------------------------------------------------------------------


def _plan_of(tmp_path: Path, data: bytes, mime: str) -> Plan | None:
    path = tmp_path / "bad"
    path.write_bytes(data)
    with path.open("rb") as fh:
        return plan_strip(fh, mime, len(data))


def test_a_jpeg_segment_running_past_the_end_is_an_error(tmp_path: Path) -> None:
    original = _save(_picture(), "JPEG", exif=_exif(6))
    at = original.index(b"\xff\xe1")  # the EXIF's APP1 claims 60000 bytes
    broken = original[: at + 2] + struct.pack(">H", 60000) + original[at + 4 :]
    with pytest.raises(StripError, match="runs past the end"):
        _plan_of(tmp_path, broken, "image/jpeg")


def test_a_jpeg_cut_inside_its_headers_is_an_error(tmp_path: Path) -> None:
    original = _save(_picture(), "JPEG", exif=_exif(6))
    with pytest.raises(StripError):
        _plan_of(tmp_path, original[:40], "image/jpeg")


def test_a_png_chunk_with_a_bad_checksum_is_an_error(tmp_path: Path) -> None:
    original = _save(_picture(), "PNG", pnginfo=_text_info())
    at = original.index(b"IHDR") + 4
    broken = original[:at] + bytes([original[at] ^ 1]) + original[at + 1 :]
    with pytest.raises(StripError, match=r"IHDR.*wrong checksum"):
        _plan_of(tmp_path, broken, "image/png")


def test_a_truncated_png_or_webp_is_an_error(tmp_path: Path) -> None:
    png = _save(_picture(), "PNG", pnginfo=_text_info())
    with pytest.raises(StripError):
        _plan_of(tmp_path, png[:-20], "image/png")
    webp = _save(_picture(), "WEBP", exif=_exif(6), lossless=True)
    with pytest.raises(StripError):
        _plan_of(tmp_path, webp[:-30], "image/webp")


def test_other_types_are_sent_as_they_are(tmp_path: Path) -> None:
    gif = _save(_picture(), "GIF", comment=b"my comment")
    assert _plan_of(tmp_path, gif, "image/gif") is None


def test_a_file_that_got_shorter_while_streamed_is_an_error(tmp_path: Path) -> None:
    original = _save(_picture(), "PNG", pnginfo=_text_info())
    path = tmp_path / "a.png"
    path.write_bytes(original)
    with path.open("rb") as fh:
        plan = plan_strip(fh, "image/png", len(original))
        assert plan is not None
        path.write_bytes(original[:100])
        with pytest.raises(StripError, match="shorter"):
            b"".join(stream(fh, plan))


def _text_info() -> object:
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "shooter on myhost")
    return info


def test_a_large_private_chunk_is_walked_past_not_read(tmp_path: Path) -> None:
    """Only the small chunks kept are checked against their checksum: a data chunk of many
    MB is never read whole (the memory target of a 500 MB upload)."""
    from uploader.imaging import strip as strip_mod

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "myhost")
    original = _save(_picture(), "PNG", pnginfo=info)
    big = b"\x00" * (strip_mod.CRC_CHECKED + 10)
    original = _png_insert(original, b"prVt", big)
    path = tmp_path / "big.png"
    path.write_bytes(original)
    reads: list[int] = []

    class Counting(io.FileIO):
        def read(self, size: int = -1) -> bytes:
            reads.append(size)
            data: bytes = super().read(size)
            return data

    with Counting(str(path), "rb") as fh:
        plan = plan_strip(fh, "image/png", len(original))  # type: ignore[arg-type]
    assert plan is not None
    assert plan.removed == ("tEXt",)
    assert max(reads) < strip_mod.CRC_CHECKED
