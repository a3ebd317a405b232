"""JPEG stripping beyond Pillow's defaults (issue 15): EXIF written big- or little-endian,
with the orientation in any numeric field type; multi-picture files (MPF: a phone's depth
map or gain map, each a JPEG with its own EXIF after the first); every APPn segment that
can carry metadata. Real bytes, checked with Pillow and with the sandbox's own reader."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from PIL import Image

from uploader.imaging.strip import StripError, plan_strip, stream
from uploader.models import Plan
from uploader.sandbox.metadata import metadata_of

SECRET = b"SecretCam"


def _picture(colour: tuple[int, int, int] = (200, 30, 90)) -> Image.Image:
    image = Image.new("RGB", (48, 32), colour)
    image.putdata([((x * 5) % 256, (y * 7) % 256, colour[2]) for y in range(32) for x in range(48)])
    return image


def _jpeg(**options: object) -> bytes:
    out = io.BytesIO()
    _picture().save(out, "JPEG", **options)  # type: ignore[arg-type]
    return out.getvalue()


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _with_segments(data: bytes, *segments: bytes) -> bytes:
    """``data`` (a JPEG) with ``segments`` right after its start marker."""
    return data[:2] + b"".join(segments) + data[2:]


def _tiff(order: str, orientation: int, kind: int = 3) -> bytes:
    """An EXIF TIFF structure in byte order ``order`` ('<' or '>'): IFD0 holds the camera
    make (SecretCam), the orientation (TIFF field type ``kind``) and a GPS IFD pointer."""
    head = b"II*\x00" if order == "<" else b"MM\x00*"
    field = struct.pack(order + ("H2x" if kind == 3 else "I"), orientation)
    entries = 3
    make_at = 8 + 2 + 12 * entries + 4
    gps_at = make_at + 10
    ifd = struct.pack(order + "H", entries)
    ifd += struct.pack(order + "HHII", 0x010F, 2, 10, make_at)
    ifd += struct.pack(order + "HHI", 0x0112, kind, 1) + field
    ifd += struct.pack(order + "HHII", 0x8825, 4, 1, gps_at)
    ifd += struct.pack(order + "I", 0)
    gps = struct.pack(order + "H", 1) + struct.pack(order + "HHI", 1, 2, 2) + b"N\x00\x00\x00"
    gps += struct.pack(order + "I", 0)
    return head + struct.pack(order + "I", 8) + ifd + SECRET + b"\x00" + gps


def _stripped(tmp_path: Path, data: bytes) -> tuple[bytes, Plan]:
    path = tmp_path / "in.jpg"
    path.write_bytes(data)
    with path.open("rb") as fh:
        plan = plan_strip(fh, "image/jpeg", len(data))
        assert plan is not None
        return b"".join(stream(fh, plan, chunk=64)), plan


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        pixels: bytes = image.convert("RGB").tobytes()
        return pixels


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("kind", [3, 4])  # SHORT, LONG
def test_the_orientation_is_kept_from_either_byte_order_and_any_field_type(
    tmp_path: Path, order: str, kind: int
) -> None:
    original = _with_segments(_jpeg(), _segment(0xE1, b"Exif\x00\x00" + _tiff(order, 8, kind)))
    with Image.open(io.BytesIO(original)) as image:
        assert image.getexif()[0x0112] == 8  # Pillow reads the source as written
    body, plan = _stripped(tmp_path, original)
    assert plan.removed == ("EXIF",)
    assert SECRET not in body
    with Image.open(io.BytesIO(body)) as image:
        assert dict(image.getexif()) == {0x0112: 8}
    out = tmp_path / "sent.jpg"
    out.write_bytes(body)
    assert metadata_of(out, "image/jpeg") == ["EXIF", "EXIF:orientation=8"]
    assert _pixels(body) == _pixels(original)


@pytest.mark.filterwarnings("ignore:Image appears to be a malformed MPO")
def test_every_metadata_segment_goes_and_the_icc_profile_stays_in_order(tmp_path: Path) -> None:
    icc = [b"ICC_PROFILE\x00" + bytes([n, 3]) + bytes([n]) * 40 for n in (1, 2, 3)]
    metadata = [
        _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x>" + SECRET + b"</x>"),
        _segment(0xE1, b"http://ns.adobe.com/xmp/extension/\x00" + b"0" * 40 + SECRET),
        _segment(0xED, b"Photoshop 3.0\x008BIM\x04\x04\x00\x00" + SECRET),
        _segment(0xE2, b"MPF\x00II*\x00\x08\x00\x00\x00\x00\x00" + SECRET),
        _segment(0xE2, b"FPXR\x00" + SECRET),  # FlashPix: APP2, not an ICC profile
        *(_segment(marker, b"Vendor\x00" + SECRET) for marker in range(0xE3, 0xEE)),
        _segment(0xEF, b"Trailer\x00" + SECRET),
        _segment(0xE0, b"JFXX\x00" + SECRET),  # APP0, not JFIF
        _segment(0xFE, SECRET),
    ]
    segments = [metadata[0], _segment(0xE2, icc[0]), *metadata[1:6], _segment(0xE2, icc[1])]
    segments += [*metadata[6:], _segment(0xE2, icc[2])]
    original = _with_segments(_jpeg(), *segments)
    body, plan = _stripped(tmp_path, original)
    assert SECRET not in body
    assert body.count(b"ICC_PROFILE") == 3
    assert [body.index(profile) for profile in icc] == sorted(body.index(p) for p in icc)
    assert len(plan.removed) == len(metadata)
    assert _pixels(body) == _pixels(original)
    out = tmp_path / "sent.jpg"
    out.write_bytes(body)
    assert metadata_of(out, "image/jpeg") == ["ICC", "ICC", "ICC"]


def _mpo(exif: bytes) -> bytes:
    out = io.BytesIO()
    second = _picture((10, 200, 10))
    _picture().save(out, "MPO", save_all=True, append_images=[second], exif=exif)
    return out.getvalue()


def _gps_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = SECRET.decode()
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.0)
    data: bytes = exif.tobytes()
    return data


def test_a_multi_picture_file_sends_only_its_first_picture(tmp_path: Path) -> None:
    """A phone's MPF file holds further JPEGs after the first (depth or gain map), each
    with its own EXIF: none of them may reach the server."""
    original = _mpo(_gps_exif())
    assert original.count(SECRET) == 2
    body, plan = _stripped(tmp_path, original)
    assert SECRET not in body
    assert body.count(b"\xff\xd8") == 1  # one picture
    assert "MPF" in plan.removed
    with Image.open(io.BytesIO(original)) as first:
        first_pixels = first.convert("RGB").tobytes()
    with Image.open(io.BytesIO(body)) as sent:
        assert sent.format == "JPEG"
        assert sent.convert("RGB").tobytes() == first_pixels


def test_an_mpf_index_that_points_nowhere_is_an_error(tmp_path: Path) -> None:
    original = _mpo(_gps_exif())
    at = original.index(b"MPF\x00") + 4  # the MPF's TIFF header; the entries follow
    head = original[at : at + 4]
    order = "<" if head == b"II*\x00" else ">"
    (ifd,) = struct.unpack_from(order + "I", original, at + 4)
    (count,) = struct.unpack_from(order + "H", original, at + ifd)
    second_offset = 0
    for index in range(count):
        tag, _, _, value = struct.unpack_from(order + "HHII", original, at + ifd + 2 + 12 * index)
        if tag == 0xB002:
            second_offset = at + value + 16 + 8  # the second entry's offset field
    assert second_offset
    broken = bytearray(original)
    struct.pack_into(order + "I", broken, second_offset, 7)  # inside the first picture
    with pytest.raises(StripError, match="MPF"):
        _stripped(tmp_path, bytes(broken))


MOTION_VIDEO = (
    b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x10udta" + SECRET
)


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("exif", [True, False])
def test_data_after_the_end_of_the_picture_goes(
    tmp_path: Path, progressive: bool, exif: bool
) -> None:
    """A motion photo's video (with its own metadata), or a vendor's trailer, follows the
    JPEG's end marker: it is not part of the picture and is not sent."""
    options: dict[str, object] = {"progressive": progressive}
    if exif:
        options["exif"] = _gps_exif()
    picture = _jpeg(**options)
    for trailer in (MOTION_VIDEO, b"SEFH" + SECRET + b"\x00" * 10):
        body, plan = _stripped(tmp_path, picture + trailer)
        assert SECRET not in body
        assert "trailing data" in plan.removed
        assert body.endswith(b"\xff\xd9")
        assert _pixels(body) == _pixels(picture)


def test_a_picture_that_ends_with_its_end_marker_is_read_only_at_its_end(tmp_path: Path) -> None:
    picture = _jpeg()
    for data in (picture, picture + b"\x00" * 30):  # zero padding is no trailer
        path = tmp_path / "plain.jpg"
        path.write_bytes(data)
        with path.open("rb") as fh:
            assert plan_strip(fh, "image/jpeg", len(data)) is None


def test_only_the_headers_and_the_last_bytes_of_a_jpeg_are_read(tmp_path: Path) -> None:
    """The scan data of a picture that ends with its end marker is never read to plan it
    (a large photo costs a header walk); a trailer makes it read, in pieces."""
    import os

    noise = Image.frombytes("RGB", (300, 300), os.urandom(300 * 300 * 3))
    out = io.BytesIO()
    noise.save(out, "JPEG", exif=_gps_exif(), quality=95)
    data = out.getvalue()
    scan = data.index(b"\xff\xda")
    path = tmp_path / "big.jpg"
    reads: list[int] = []

    class Counting(io.FileIO):
        def read(self, size: int = -1) -> bytes:
            piece: bytes = super().read(size)
            reads.append(len(piece))
            return piece

    for trailer, most in ((b"", scan + 200), (b"TRAILER" * 10, len(data) + 200)):
        path.write_bytes(data + trailer)
        reads.clear()
        with Counting(str(path), "rb") as fh:
            plan = plan_strip(fh, "image/jpeg", len(data) + len(trailer))  # type: ignore[arg-type]
        assert plan is not None
        assert ("trailing data" in plan.removed) is bool(trailer)
        assert sum(reads) < most
        assert len(data) > 4 * scan  # the scan data is most of the file
