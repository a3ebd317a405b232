"""PNG and WebP stripping on the forms beyond a still picture (issue 15): animations (APNG,
animated WebP) keep every frame and their animation chunks, colour chunks stay, odd-sized
WebP chunks keep their padding, the VP8X flags of what stays (ICC, alpha, animation) are
kept while those of EXIF and XMP go."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image, ImageCms, PngImagePlugin

from uploader.imaging.strip import plan_strip, stream

SECRET = b"SecretCam"
VP8X_ICC, VP8X_ALPHA, VP8X_EXIF, VP8X_XMP, VP8X_ANIM = 0x20, 0x10, 0x08, 0x04, 0x02


def _frames() -> list[Image.Image]:
    return [Image.new("RGBA", (40, 30), (i * 80, 20 + i, 30, 200)) for i in range(3)]


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = SECRET.decode()
    data: bytes = exif.tobytes()
    return data


def _stripped(tmp_path: Path, data: bytes, mime: str) -> tuple[bytes, tuple[str, ...]]:
    path = tmp_path / "in"
    path.write_bytes(data)
    with path.open("rb") as fh:
        plan = plan_strip(fh, mime, len(data))
        assert plan is not None
        return b"".join(stream(fh, plan, chunk=50)), plan.removed


def _all_frames(data: bytes) -> list[tuple[bytes, object]]:
    with Image.open(io.BytesIO(data)) as image:
        found = []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            image.load()
            found.append((image.convert("RGBA").tobytes(), image.info.get("duration")))
        return found


def _webp_chunks(data: bytes) -> list[tuple[bytes, int]]:
    found, at = [], 12
    while at < len(data):
        kind, length = struct.unpack("<4sI", data[at : at + 8])
        found.append((kind, length))
        at += 8 + length + (length & 1)
    assert at == len(data)
    return found


def test_an_animated_webp_keeps_every_frame_and_its_flags(tmp_path: Path) -> None:
    frames = _frames()
    out = io.BytesIO()
    frames[0].save(
        out,
        "WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=[40, 50, 60],
        exif=_exif(),
        xmp=b"<x>" + SECRET + b"</x>",
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        lossless=True,
    )
    original = out.getvalue()
    body, removed = _stripped(tmp_path, original, "image/webp")
    assert sorted(removed) == ["EXIF", "XMP"]
    assert SECRET not in body
    assert _all_frames(body) == _all_frames(original)
    kinds = [kind for kind, _ in _webp_chunks(body)]
    assert kinds == [k for k, _ in _webp_chunks(original) if k not in (b"EXIF", b"XMP ")]
    assert body[20] == original[20] & ~(VP8X_EXIF | VP8X_XMP)
    assert body[20] & (VP8X_ICC | VP8X_ANIM) == VP8X_ICC | VP8X_ANIM
    assert int.from_bytes(body[4:8], "little") == len(body) - 8


def test_odd_sized_webp_chunks_keep_their_padding(tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (9, 90, 9)).save(out, "WEBP", exif=_exif(), lossless=True)
    base = out.getvalue()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        pad = b"\x00" if len(payload) & 1 else b""
        return kind + struct.pack("<I", len(payload)) + payload + pad

    body = base[12:] + chunk(b"XMP ", SECRET) + chunk(b"ABCD", b"odd") + chunk(b"EFGH", b"x")
    original = b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body
    stripped, removed = _stripped(tmp_path, original, "image/webp")
    assert sorted(removed) == ["EXIF", "XMP"]
    assert SECRET not in stripped
    assert _webp_chunks(stripped)[-2:] == [(b"ABCD", 3), (b"EFGH", 1)]
    assert int.from_bytes(stripped[4:8], "little") == len(stripped) - 8
    assert _all_frames(stripped) == _all_frames(original)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + payload))
    return struct.pack(">I", len(payload)) + kind + payload + crc


def _png_kinds(data: bytes) -> list[bytes]:
    found, at = [], 8
    while at < len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        found.append(data[at + 4 : at + 8])
        at += 12 + length
    return found


def test_an_apng_keeps_its_frames_and_colour_chunks(tmp_path: Path) -> None:
    frames = _frames()
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "shooter on myhost")
    out = io.BytesIO()
    frames[0].save(
        out, "PNG", save_all=True, append_images=frames[1:], duration=[40, 50, 60], pnginfo=info
    )
    data = out.getvalue()
    colour = _png_chunk(b"sRGB", b"\x00") + _png_chunk(b"cHRM", bytes(32))
    colour += _png_chunk(b"gAMA", struct.pack(">I", 45455))
    late = _png_chunk(b"tIME", struct.pack(">HBBBBB", 2026, 1, 2, 3, 4, 5))
    late += _png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"myhost"))
    iend = data.rindex(b"IEND") - 4
    original = data[:33] + colour + data[33:iend] + late + data[iend:]  # text after the frames
    body, removed = _stripped(tmp_path, original, "image/png")
    assert sorted(removed) == ["tEXt", "tIME", "zTXt"]
    assert b"myhost" not in body
    kinds = _png_kinds(body)
    assert kinds == [k for k in _png_kinds(original) if k not in (b"tEXt", b"tIME", b"zTXt")]
    assert {b"acTL", b"fcTL", b"fdAT", b"sRGB", b"cHRM", b"gAMA"} <= set(kinds)
    assert _all_frames(body) == _all_frames(original)


def test_data_appended_after_a_png_or_webp_goes(tmp_path: Path) -> None:
    appended = b"PK\x03\x04" + SECRET + b"\x00" * 7
    png, webp = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (20, 20), (9, 90, 9)).save(png, "PNG")  # no metadata at all
    Image.new("RGB", (20, 20), (9, 90, 9)).save(webp, "WEBP", lossless=True)
    for picture, mime in ((png.getvalue(), "image/png"), (webp.getvalue(), "image/webp")):
        body, removed = _stripped(tmp_path, picture + appended, mime)
        assert removed == ("trailing data",)
        assert body == picture


def _rotated_exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = SECRET.decode()
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.0)
    data: bytes = exif.tobytes()
    return data


def _upright_pixels(data: bytes) -> bytes:
    from PIL import ImageOps

    with Image.open(io.BytesIO(data)) as image:
        pixels: bytes = ImageOps.exif_transpose(image).convert("RGB").tobytes()
        return pixels


def test_a_png_or_webp_keeps_its_orientation_in_a_minimal_exif(tmp_path: Path) -> None:
    """As a JPEG does: a picture whose EXIF says it is turned stays shown as it was."""
    picture = Image.new("RGB", (40, 30))
    picture.putdata([((x * 5) % 256, (y * 7) % 256, 90) for y in range(30) for x in range(40)])
    for kind, mime in (("PNG", "image/png"), ("WEBP", "image/webp")):
        out = io.BytesIO()
        picture.save(out, kind, exif=_rotated_exif(6), xmp=b"<x>" + SECRET + b"</x>", lossless=True)
        original = out.getvalue()
        body, removed = _stripped(tmp_path, original, mime)
        assert "EXIF" in removed or "eXIf" in removed
        assert SECRET not in body
        with Image.open(io.BytesIO(body)) as sent:
            assert dict(sent.getexif()) == {0x0112: 6}
        assert _upright_pixels(body) == _upright_pixels(original)
        assert _all_frames(body) == _all_frames(original)
        if mime == "image/webp":
            assert body[20] & (VP8X_EXIF | VP8X_XMP) == VP8X_EXIF  # EXIF still announced
            assert int.from_bytes(body[4:8], "little") == len(body) - 8
