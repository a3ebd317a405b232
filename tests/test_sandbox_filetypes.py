"""The sandbox's own sniffer, and what each emulator makes of the types (reference 1.3)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.support.images import png_bytes
from uploader.imaging.inspect import sniff as client_sniff
from uploader.sandbox import Sandbox, SandboxConfig
from uploader.sandbox.filetypes import sniff

AUTH = {"Authorization": "Client-ID abc"}
PAD = bytes(48)


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    brands = b"".join(compatible)
    return (16 + len(brands)).to_bytes(4, "big") + b"ftyp" + major + bytes(4) + brands + PAD


SAMPLES = {
    "png": png_bytes(seed=1),
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + PAD,
    "gif": b"GIF89a\x02\x00\x03\x00\x00\x00\x00" + PAD,
    "webp": b"RIFF\x24\x00\x00\x00WEBPVP8 " + PAD,
    "bmp": b"BM" + bytes(12) + (40).to_bytes(4, "little") + (3).to_bytes(4, "little") + PAD,
    "tiff": b"II*\x00\x08\x00\x00\x00" + PAD,
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + PAD,
    "xcf": b"gimp xcf v011\x00" + PAD,
    "heic": ftyp(b"heic", b"mif1", b"heic"),
    "heif": ftyp(b"mif1", b"mif1", b"heic"),
    "avif": ftyp(b"avif", b"avif", b"mif1"),
    "avif-mif1": ftyp(b"mif1", b"mif1", b"avif", b"miaf"),
    "m4a": ftyp(b"M4A ", b"M4A ", b"mp42", b"isom"),
    "mp4": ftyp(b"mp42", b"mp42", b"isom"),
    "mov": ftyp(b"qt  ", b"qt  "),
    "3gp": ftyp(b"3gp4", b"3gp4", b"isom"),
    "webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + PAD,
    "mkv": b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska" + PAD,
    "avi": b"RIFF\x24\x00\x00\x00AVI LIST" + PAD,
    "flv": b"FLV\x01\x05\x00\x00\x00\x09" + PAD,
    "mpeg-ps": b"\x00\x00\x01\xba\x44\x00\x04\x00" + PAD,
    "mpeg-es": b"\x00\x00\x01\xb3\x14\x00\xf0\x13" + PAD,
    "wmv": bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + PAD,
}
TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "pdf": "application/pdf",
    "xcf": "image/x-xcf",
    "heic": "image/heic",
    "heif": "image/heic",
    "avif": "image/avif",
    "avif-mif1": "image/avif",
    "m4a": "audio/mp4",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "3gp": "video/3gpp",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "avi": "video/x-msvideo",
    "flv": "video/x-flv",
    "mpeg-ps": "video/mpeg",
    "mpeg-es": "video/mpeg",
    "wmv": "video/x-ms-wmv",
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sniff_tells_the_types_apart(name: str) -> None:
    assert sniff(SAMPLES[name][:64]) == TYPES[name]


@pytest.mark.parametrize(
    "head", [b"hello, I am text", b"BM" + bytes(30), b"FLV\x09", b"", b"\x00\x00\x00\x08ftyp"]
)
def test_sniff_refuses_look_alikes(head: bytes) -> None:
    assert sniff(head) is None


BMP_FILE = b"BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00"  # 14-byte file header


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (BMP_FILE + (40).to_bytes(4, "little") + bytes(8), "image/bmp"),
        (BMP_FILE + (12).to_bytes(4, "little") + bytes(8), "image/bmp"),
        (BMP_FILE + (124).to_bytes(4, "little") + bytes(48), "image/bmp"),
        (BMP_FILE, None),
        (BMP_FILE + (41).to_bytes(4, "little") + bytes(8), None),
        (b"BM" + bytes(30), None),
    ],
)
def test_bmp_needs_its_dib_header_here_and_in_the_client(head: bytes, mime: str | None) -> None:
    """A file the client calls a bitmap is one the emulators call a bitmap, and back."""
    assert sniff(head) == mime
    assert client_sniff(head) == mime


@contextmanager
def imgur(**knobs: object) -> Iterator[tuple[Sandbox, httpx.Client]]:
    with (
        Sandbox(SandboxConfig(**knobs)) as sb,  # type: ignore[arg-type]
        httpx.Client(base_url=sb.base_url + "/imgur", headers=AUTH, trust_env=False) as client,
    ):
        yield sb, client


def _send(client: httpx.Client, name: str, route: str = "/3/image") -> httpx.Response:
    field = "video" if TYPES[name].startswith("video/") else "image"
    return client.post(route, files={field: (f"f.{name}", SAMPLES[name], "x/declared")})


@pytest.mark.parametrize(
    ("name", "link_ext"),
    [
        ("pdf", "png"),  # reference 1.3 lists PDF among images; 1.4 only jpg/png/gif/mp4
        ("bmp", "png"),
        ("xcf", "png"),
        ("jpeg", "jpg"),
        ("gif", "gif"),
    ],
)
def test_imgur_takes_its_listed_image_formats(name: str, link_ext: str) -> None:
    with imgur() as (sb, client):
        response = _send(client, name)
        assert response.status_code == 200, response.text
        image = response.json()["data"]
        assert image["type"] == TYPES[name]
        assert image["link"] == f"{sb.base_url}/imgur/i/{image['id']}.{link_ext}"
        (stored,) = sb.uploads()
        assert stored["sha256"] == hashlib.sha256(SAMPLES[name]).hexdigest()


@pytest.mark.parametrize("name", ["mp4", "mov", "webm", "mkv", "avi", "flv", "mpeg-ps", "wmv"])
def test_imgur_takes_its_video_types_and_serves_them_as_mp4(name: str) -> None:
    with imgur() as (sb, client):
        response = _send(client, name, "/3/upload")
        assert response.status_code == 200, response.text
        image = response.json()["data"]
        # Reference 1.4 [OBS S12]: video is type video/mp4 with .mp4 links, whatever came in.
        assert (image["type"], image["animated"]) == ("video/mp4", True)
        assert image["link"] == f"{sb.base_url}/imgur/i/{image['id']}.mp4"
        assert image["hls"] == f"{sb.base_url}/imgur/i/{image['id']}.m3u8"
        again = client.get(f"/3/image/{image['id']}").json()["data"]
        assert (again["type"], again["link"]) == ("video/mp4", image["link"])
        assert sb.uploads()[0]["type"] == TYPES[name]  # what was really sent


@pytest.mark.parametrize("name", ["heic", "heif", "avif", "avif-mif1", "m4a", "3gp"])
def test_imgur_refuses_what_it_does_not_list_with_1003(name: str) -> None:
    with imgur() as (sb, client):
        response = _send(client, name)
        assert response.status_code == 400
        error = response.json()["data"]["error"]
        assert (error["code"], error["message"]) == (1003, "File type invalid (1)")
        assert sb.uploads() == []


def test_mastodon_takes_heic_and_m4a_and_gyazo_refuses_heic() -> None:
    bearer = {"Authorization": "Bearer tok"}
    with Sandbox() as sb, httpx.Client(base_url=sb.base_url, trust_env=False) as client:
        for name, kind, status in (("heic", "image", 200), ("m4a", "audio", 202)):
            media = client.post(
                "/mastodon/api/v2/media", headers=bearer, files={"file": ("f", SAMPLES[name])}
            )
            assert media.status_code == status, media.text
            assert media.json()["type"] == kind
        gyazo = client.post(
            "/gyazo-upload/api/upload", headers=bearer, files={"imagedata": ("a", SAMPLES["heic"])}
        )
        assert gyazo.status_code == 422
