"""The sandbox says what metadata each stored file still carries (``/_sandbox/uploads``,
issue 15), by its own reading of the file (uploader/sandbox/metadata.py)."""

from __future__ import annotations

import functools
import io
import struct
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from uploader.sandbox import Sandbox
from uploader.sandbox.metadata import metadata_of

XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


def _image() -> Image.Image:
    return Image.new("RGB", (16, 12), (200, 10, 30))


def _exif(orientation: int, *, gps: bool = True) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Cam"
    if gps:
        exif.get_ifd(0x8825)[1] = "N"
    data: bytes = exif.tobytes()
    return data


def _save(kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    _image().save(out, kind, **options)  # type: ignore[arg-type]
    return out.getvalue()


@functools.cache  # one profile: it carries its creation time, to the second
def _icc() -> bytes:
    data: bytes = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return data


@pytest.mark.parametrize(
    ("mime", "data", "expected"),
    [
        (
            "image/jpeg",
            _save("JPEG", exif=_exif(6), xmp=XMP, comment=b"c", icc_profile=_icc()),
            ["EXIF", "EXIF:GPS", "EXIF:orientation=6", "EXIF:tags", "ICC", "XMP", "COM"],
        ),
        ("image/jpeg", _save("JPEG"), []),
        ("image/png", _save("PNG", exif=_exif(1), pnginfo=PngImagePlugin.PngInfo()), ["eXIf"]),
        ("image/webp", _save("WEBP", exif=_exif(3), xmp=XMP, lossless=True), ["EXIF", "XMP"]),
        ("image/webp", _save("WEBP", lossless=True), []),
        ("image/gif", _save("GIF"), []),
    ],
)
def test_metadata_found_in_a_file(
    tmp_path: Path, mime: str, data: bytes, expected: list[str]
) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)
    assert sorted(metadata_of(path, mime)) == sorted(expected)


def test_png_text_time_and_colour_chunks_are_listed(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "x")
    info.add_text("Comment", "y", zip=True)
    info.add_itxt("Author", "z")
    path = tmp_path / "f.png"
    path.write_bytes(_save("PNG", pnginfo=info, icc_profile=_icc()))
    assert sorted(metadata_of(path, "image/png")) == ["iCCP", "iTXt", "tEXt", "zTXt"]


@pytest.mark.parametrize("mime", ["image/jpeg", "image/png", "image/webp"])
def test_a_file_it_cannot_follow_is_unreadable_not_an_error(tmp_path: Path, mime: str) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"\xff\xd8\xff\xe1" + struct.pack(">H", 900) + b"Exif")
    assert metadata_of(path, mime) == ["unreadable"]


def test_every_provider_lists_what_it_received(tmp_path: Path) -> None:
    photo = _save("JPEG", exif=_exif(6))
    files = {"image": ("p.jpg", photo, "image/jpeg")}
    with Sandbox() as sb:
        httpx.post(
            f"{sb.base_url}/imgur/3/image",
            headers={"Authorization": "Client-ID x"},
            files=files,
            trust_env=False,
        ).raise_for_status()
        httpx.post(
            f"{sb.base_url}/gyazo-upload/api/upload",
            headers={"Authorization": "Bearer gz"},
            files={"imagedata": files["image"]},
            trust_env=False,
        ).raise_for_status()
        httpx.post(
            f"{sb.base_url}/mastodon/api/v2/media",
            headers={"Authorization": "Bearer ma"},
            files={"file": files["image"]},
            trust_env=False,
        ).raise_for_status()
        listed = httpx.get(f"{sb.base_url}/_sandbox/uploads", trust_env=False).json()
    assert sorted(u["provider"] for u in listed) == ["gyazo", "imgur", "mastodon"]
    for upload in listed:
        assert upload["metadata"] == ["EXIF", "EXIF:GPS", "EXIF:orientation=6", "EXIF:tags"]


def test_the_pictures_after_the_first_are_listed_with_their_own_metadata(tmp_path: Path) -> None:
    """A multi-picture file (MPF) carries further JPEGs after the first one's image data,
    each with its own EXIF: listed after ``+JPEG``, each prefixed ``+``."""
    out = io.BytesIO()
    second = Image.new("RGB", (40, 30), (9, 9, 9))
    _image().save(out, "MPO", save_all=True, append_images=[second], exif=_exif(6))
    path = tmp_path / "f.jpg"
    path.write_bytes(out.getvalue())
    found = metadata_of(path, "image/jpeg")
    assert found[found.index("MPF") :] == [
        "MPF",
        "+JPEG",
        "+EXIF",
        "+EXIF:GPS",
        "+EXIF:orientation=6",
        "+EXIF:tags",
    ]
    path.write_bytes(_save("JPEG", exif=_exif(6)) + _save("JPEG", comment=b"hi"))  # appended
    assert metadata_of(path, "image/jpeg")[-2:] == ["+JPEG", "+COM"]
    path.write_bytes(_save("JPEG") + b"\xff\xd8\xff\xfe\x00\x04hi")  # cut short
    assert metadata_of(path, "image/jpeg") == ["+JPEG", "+unreadable"]
