"""Turning what the user named into :class:`ImageFile` values, before any request.

Each check has its own message: missing file, broken symlink, directory, unreadable,
empty, content that is no image or video we recognise. The MIME type comes from the
file's first bytes, never from its name (a ``.png`` that is really text is refused).
Standard input is spooled to a private temporary file so every retry can reopen it.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from uploader.errors import InputFileError
from uploader.imaging.structure import structure_problem
from uploader.models import ImageFile

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
    "image/heic": "heic",
    "image/avif": "avif",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "video/x-matroska": "mkv",
    "video/x-msvideo": "avi",
    "video/x-flv": "flv",
    "video/mpeg": "mpg",
    "video/x-ms-wmv": "wmv",
    "application/pdf": "pdf",
}


# A bitmap is "BM", a 14-byte file header, then a DIB header that starts with its own size,
# one of these (BITMAPCOREHEADER 12 ... BITMAPV5HEADER 124): "BM" alone is two letters of
# text. The sandbox's sniffer applies the same rule, so the emulator and the client agree.
BMP_INFO_SIZES = (12, 40, 52, 56, 64, 108, 124)
ASF_HEADER = b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c"


def _bmp_info_size(head: bytes) -> int:
    return int.from_bytes(head[14:18], "little")


def sniff(head: bytes) -> str | None:
    """The MIME type the first bytes of a file announce, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head[:2] == b"BM" and len(head) >= 26 and _bmp_info_size(head) in BMP_INFO_SIZES:
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "image/heic"
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"FLV"):
        return "video/x-flv"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "video/mpeg"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(ASF_HEADER):  # the ASF header object's GUID: WMV (reference 1.3)
        return "video/x-ms-wmv"
    return None


def inspect_path(label: str) -> ImageFile:
    """Check one path and describe it; raises InputFileError with the reason it cannot go."""
    if not label:  # Path("") is ".", the current directory
        raise InputFileError("'': an empty path names no file")
    path = Path(label).expanduser()
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise InputFileError(
                f"{label}: broken symbolic link (points to {os.readlink(path)!r}, which is missing)"
            ) from None
        raise InputFileError(f"{label}: no such file") from None
    except PermissionError:
        raise InputFileError(
            f"{label}: permission denied", hint="check the permissions of the file and folders"
        ) from None
    except OSError as exc:
        raise InputFileError(f"{label}: cannot access ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputFileError(
            f"{label}: is a directory, not a file", hint="name the image files inside it"
        )
    if not stat.S_ISREG(info.st_mode):
        raise InputFileError(f"{label}: not a regular file")
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except PermissionError:
        raise InputFileError(
            f"{label}: permission denied (cannot read the file)",
            hint=f"check its permissions: chmod u+r {label}",
        ) from None
    except OSError as exc:
        raise InputFileError(f"{label}: cannot read ({exc.strerror})") from None
    return _describe(path, label, path.name, info.st_size, head)


def _describe(path: Path, label: str, filename: str, size: int, head: bytes) -> ImageFile:
    if size == 0 or not head:
        raise InputFileError(f"{label}: file is empty")
    mime = sniff(head)
    if mime is None:
        raise InputFileError(
            f"{label}: not an image or video (its content matches no supported format)",
            hint="supported: PNG, JPEG, GIF, WebP, BMP, TIFF, HEIC, AVIF, PDF, MP4, MOV, WebM,"
            " MKV, AVI, FLV, MPEG, WMV",
        )
    _check_structure(path, label, mime, size)
    if "." not in filename:
        filename = f"{filename}.{EXTENSIONS.get(mime, 'bin')}"
    # A name whose bytes are not UTF-8 reaches Python with surrogates, which no request
    # can carry: the name sent says U+FFFD there (the label stays what the user typed).
    filename = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in filename)
    return ImageFile(source=path, label=label, filename=filename, size=size, mime_type=mime)


def _check_structure(path: Path, label: str, mime: str, size: int) -> None:
    """Refuse a file that starts like ``mime`` but is not a whole one (cut short, or text
    with two magic letters): it would cost a request and fail there, or worse, be stored."""
    try:
        with path.open("rb") as fh:
            why = structure_problem(fh, mime, size)
    except OSError as exc:
        raise InputFileError(f"{label}: cannot read ({exc.strerror})") from None
    if why:
        kind = EXTENSIONS.get(mime, mime).upper()
        raise InputFileError(
            f"{label}: not a complete {kind} file ({why})",
            hint="the file may be cut short (an interrupted download or copy): "
            "save or export it again",
        )


@contextmanager
def spooled_stdin(
    stream: BinaryIO, largest: Callable[[], int] | None = None
) -> Iterator[ImageFile]:
    """Copy standard input to a private temp file (0600 in a 0700 dir) and describe it.
    Past :data:`SPOOL_FREELY` bytes, ``largest()`` (the most the profile takes; it may ask
    the server, so only for input that large) bounds the copy: ``< /dev/zero`` must not
    fill the disk."""
    directory = Path(tempfile.mkdtemp(prefix="uploader-stdin-"))
    try:
        target = directory / "stdin"
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            copied = _copy_at_most(stream, out, SPOOL_FREELY)
            if copied > SPOOL_FREELY and largest is not None:
                bound = largest()
                if copied + _copy_at_most(stream, out, bound - copied) > bound:
                    raise InputFileError(
                        f"-: standard input is larger than the {bound} bytes this profile "
                        "takes at most: not read further",
                        hint="shrink or re-encode it, or raise max_image_size/max_video_size "
                        "in the profile if your account allows more",
                    )
            elif copied > SPOOL_FREELY:
                shutil.copyfileobj(stream, out, 1 << 16)
        size = target.stat().st_size
        if size == 0:
            raise InputFileError("-: standard input is empty", hint="pipe an image into it")
        with target.open("rb") as fh:
            head = fh.read(64)
        yield _describe(target, "-", "stdin", size, head)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# Standard input up to this size is spooled without asking how much the profile takes.
SPOOL_FREELY = 16 << 20


def _copy_at_most(stream: BinaryIO, out: BinaryIO, largest: int) -> int:
    """Copy ``stream`` to ``out`` until its end or past ``largest`` bytes (one more, when
    there is more); the bytes copied."""
    copied = 0
    while copied <= largest:
        chunk = stream.read(min(1 << 16, largest + 1 - copied))
        if not chunk:
            break
        out.write(chunk)
        copied += len(chunk)
    return copied
