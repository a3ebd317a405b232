"""The bad-input catalogue for metadata stripping (issue 15): files whose metadata cannot
be followed, through the real `uploader` process. Each is refused before anything is sent
(one ``error:`` line, a ``hint:`` naming --keep-metadata, exit 2, no traceback) unless the
file checks already refuse it as incomplete; never a half-written body."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from tests.support.badinput import check_error, imgur_config
from tests.support.canned import Canned, canned_server
from tests.support.e2e import run_cli

SECRET = b"SecretCam"


def _picture() -> Image.Image:
    image = Image.new("RGB", (40, 30))
    image.putdata([((x * 5) % 256, (y * 7) % 256, 90) for y in range(30) for x in range(40)])
    return image


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = SECRET.decode()
    data: bytes = exif.tobytes()
    return data


def _save(kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    _picture().save(out, kind, **options)  # type: ignore[arg-type]
    return out.getvalue()


def _jpeg_exif_too_long() -> bytes:
    data = _save("JPEG", exif=_exif())
    at = data.index(b"\xff\xe1")
    return data[: at + 2] + struct.pack(">H", 0xFFF0) + data[at + 4 :]


def _jpeg_bad_mpf() -> bytes:
    out = io.BytesIO()
    _picture().save(out, "MPO", save_all=True, append_images=[_picture()], exif=_exif())
    data = bytearray(out.getvalue())
    at = data.index(b"MPF\x00") + 4
    order = "<" if data[at : at + 2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, at + 4)
    (count,) = struct.unpack_from(order + "H", data, at + ifd)
    for index in range(count):
        tag, _, _, value = struct.unpack_from(order + "HHII", data, at + ifd + 2 + 12 * index)
        if tag == 0xB002:  # the second MP entry's offset: past the end of the file
            struct.pack_into(order + "I", data, at + value + 16 + 8, len(data) * 2)
    return bytes(data)


def _png_with_text(*extra: tuple[bytes, bytes]) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "shooter on myhost")
    data = _save("PNG", pnginfo=info)
    for kind, payload in extra:
        chunk = struct.pack(">I", len(payload)) + kind + payload
        data = data[:33] + chunk + struct.pack(">I", zlib.crc32(kind + payload)) + data[33:]
    return data


def _png_bad_crc() -> bytes:
    data = _png_with_text((b"gAMA", struct.pack(">I", 45455)))
    return data[:41] + bytes([data[41] ^ 1]) + data[42:]  # the gAMA value, its CRC unchanged


def _png_bad_chunk_type() -> bytes:
    data = _png_with_text((b"gAMA", struct.pack(">I", 45455)))
    return data[:37] + b"g4MA" + data[41:]


def _webp_chunk_past_end() -> bytes:
    data = _save("WEBP", exif=_exif(), lossless=True)
    at = data.index(b"EXIF")
    return data[: at + 4] + struct.pack("<I", len(data)) + data[at + 8 :]


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("long.jpg", _jpeg_exif_too_long, "runs past the end"),
        ("mpf.jpg", _jpeg_bad_mpf, "MPF index"),
        ("crc.png", _png_bad_crc, "gAMA chunk at byte 33: wrong checksum"),
        ("type.png", _png_bad_chunk_type, "not letters"),
        ("chunk.webp", _webp_chunk_past_end, "'EXIF' chunk at byte"),
    ],
)
def test_metadata_that_cannot_be_followed_is_refused_before_sending(
    tmp_path: Path, hermetic_env: dict[str, str], name: str, make: object, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(make())  # type: ignore[operator]
    with canned_server(Canned(500)) as (url, recorder):
        config = imgur_config(tmp_path, url)
        done = run_cli(["--config", str(config), "upload", str(path)], hermetic_env)
        err = check_error(done, 2, f"{path}: its metadata cannot be stripped (")
        assert message in err
        assert "hint: --keep-metadata sends the file byte for byte" in err
        assert recorder.requests == []
