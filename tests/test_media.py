"""Local file checks: each bad input has its own message, before any request."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from tests.support.images import WHOLE, png_bytes, write_png
from uploader.errors import ExitCode, InputFileError
from uploader.imaging.inspect import inspect_path, sniff, spooled_stdin


def _refused(label: str) -> str:
    with pytest.raises(InputFileError) as info:
        inspect_path(label)
    assert info.value.exit_code == ExitCode.USAGE
    return info.value.message


def test_png_is_described(tmp_path: Path) -> None:
    path = write_png(tmp_path / "shot.png")
    image = inspect_path(str(path))
    assert image.mime_type == "image/png"
    assert image.size == path.stat().st_size
    assert image.filename == "shot.png"
    assert image.label == str(path)


def test_each_bad_input_has_its_own_message(tmp_path: Path) -> None:
    assert _refused(str(tmp_path / "nope.png")).endswith("nope.png: no such file")
    assert _refused(str(tmp_path)).endswith("is a directory, not a file")
    (tmp_path / "empty.png").write_bytes(b"")
    assert _refused(str(tmp_path / "empty.png")).endswith("empty.png: file is empty")
    (tmp_path / "text.png").write_text("hello, not an image\n")
    assert "not an image or video" in _refused(str(tmp_path / "text.png"))
    os.symlink(tmp_path / "gone.png", tmp_path / "link.png")
    assert "broken symbolic link" in _refused(str(tmp_path / "link.png"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write_png(tmp_path / "secret.png")
    path.chmod(0)
    assert "permission denied" in _refused(str(path))


# "BM", file size 54, reserved, pixel data at 54 (what the sandbox's sniffer also reads).
BMP_FILE_HEADER = b"BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00"


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  ", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm", "video/webm"),
        (b"II*\x00\x08\x00", "image/tiff"),
        (BMP_FILE_HEADER + (40).to_bytes(4, "little") + bytes(8), "image/bmp"),
        (BMP_FILE_HEADER + (12).to_bytes(4, "little") + bytes(8), "image/bmp"),  # OS/2 core
        (BMP_FILE_HEADER + (124).to_bytes(4, "little") + bytes(48), "image/bmp"),  # V5
        (BMP_FILE_HEADER, None),  # the file header alone: no DIB header follows
        (BMP_FILE_HEADER + (41).to_bytes(4, "little") + bytes(8), None),  # no DIB size
        (b"BM" + bytes(30), None),  # "BM" and zeros: text or garbage, not a bitmap
        (b"RIFF\x24\x00\x00\x00AVI LIST", "video/x-msvideo"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "image/heic"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", "image/heic"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "image/avif"),
        (b"FLV\x01\x05\x00\x00\x00\x09", "video/x-flv"),
        (b"\x00\x00\x01\xba\x44\x00\x04\x00", "video/mpeg"),
        (b"\x00\x00\x01\xb3\x14\x00\xf0\x13", "video/mpeg"),
        (b"%PDF-1.7\n", "application/pdf"),
        (bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + bytes(8), "video/x-ms-wmv"),
        (b"BM", None),  # too short to be a bitmap header
        (b"just text", None),
    ],
)
def test_sniff(head: bytes, mime: str | None) -> None:
    assert sniff(head) == mime


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (WHOLE["wmv"], "clip.wmv"),
        (WHOLE["pdf"], "doc.pdf"),
        (WHOLE["flv"], "clip.flv"),
    ],
)
def test_an_extensionless_file_gets_the_sniffed_extension(
    tmp_path: Path, head: bytes, name: str
) -> None:
    path = tmp_path / name.split(".", maxsplit=1)[0]
    path.write_bytes(head)
    assert inspect_path(str(path)).filename == name


def test_a_fifo_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    # Refused from stat() alone: opening a FIFO with no writer would block forever.
    assert _refused(str(fifo)) == f"{fifo}: not a regular file"


def test_stdin_is_spooled_to_a_private_file_and_removed() -> None:
    data = png_bytes(seed=3)
    with spooled_stdin(io.BytesIO(data)) as image:
        assert image.label == "-"
        assert image.filename == "stdin.png"
        assert image.source.read_bytes() == data
        assert image.source.stat().st_mode & 0o777 == 0o600
        spool = image.source
    assert not spool.exists()


def test_empty_stdin_is_refused() -> None:
    with (
        pytest.raises(InputFileError, match="standard input is empty"),
        spooled_stdin(io.BytesIO(b"")),
    ):
        pass


def test_unreadable_file_even_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root reads anything, so simulate EACCES at open() to check the message."""
    path = write_png(tmp_path / "locked.png")
    real_open = Path.open

    def deny(self: Path, *args: object, **kwargs: object) -> object:
        if self == path:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", deny)
    message = _refused(str(path))
    assert message == f"{path}: permission denied (cannot read the file)"
