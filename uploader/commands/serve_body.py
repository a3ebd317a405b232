"""What an ``uploader serve`` request asks for: its body read (bounded) and understood.

PicGo's ``POST /upload`` comes in three shapes: JSON ``{"list": [paths or links]}``; an
empty body, ``{}`` or ``{"list": []}`` (the clipboard); ``multipart/form-data`` with the
files in any field (PicGo reads ``files``, the Obsidian plugin sends ``list``, VS-PicList
``file``). Anything else is refused, ``text/plain`` and form-encoded bodies above all:
those are what a web page can send to 127.0.0.1 without asking the browser first.

A body is refused by its Content-Length before a byte of it is read when it is larger than
the request may be; one without a length (chunked) is refused. Multipart bodies are spooled
to a private temp directory and cut into one file per part there (never held in memory).
"""

from __future__ import annotations

import json
import mmap
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from uploader.errors import RequestRefusedError

MAX_JSON = 1 << 20  # a list of paths is a few kB
MAX_PARTS = 64
MAX_PART_HEADERS = 8192
CHUNK = 1 << 16

BAD_REQUEST = 400
UNSUPPORTED = 415
TOO_LARGE = 413
LENGTH_REQUIRED = 411


class Reader(Protocol):
    """The request's body stream (the socket's file)."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class Wanted:
    """What one upload request names: ``clipboard``, or ``entries`` (paths and links from
    JSON), or ``files`` (label, spooled file) from multipart."""

    clipboard: bool = False
    entries: tuple[str, ...] = ()
    files: tuple[tuple[str, Path], ...] = ()


def media_type(headers: Mapping[str, str]) -> tuple[str, str]:
    """The Content-Type's media type (lower case) and the rest of the header
    (``headers``: every mapping here has its names in lower case)."""
    value = headers.get("content-type") or ""
    kind, _, rest = value.partition(";")
    return kind.strip().lower(), rest


def body_length(headers: Mapping[str, str], largest: int) -> int:
    """The Content-Length, checked before anything is read: a chunked body (no length) is
    refused, one over ``largest`` too."""
    if headers.get("transfer-encoding"):
        raise RequestRefusedError(
            "a body without Content-Length is not accepted", status=LENGTH_REQUIRED
        )
    raw = headers.get("content-length")
    if raw is None:
        return 0
    text = raw.strip()
    if not text.isdigit() or len(text) > 15:
        raise RequestRefusedError(f"Content-Length {raw!r} is not a number", status=BAD_REQUEST)
    length = int(text)
    if length > largest:
        raise RequestRefusedError(
            f"the body is {length} bytes, over the {largest} bytes accepted", status=TOO_LARGE
        )
    return length


def read_json(stream: Reader, headers: Mapping[str, str]) -> object:
    """The JSON body of a request (``None`` for an empty body)."""
    kind, _ = media_type(headers)
    length = body_length(headers, MAX_JSON)
    if length == 0 and kind in ("", "application/json"):
        return None
    if kind != "application/json":
        raise RequestRefusedError(
            f"Content-Type {kind or 'none'!r} is not accepted here: send application/json",
            status=UNSUPPORTED,
        )
    try:
        return json.loads(stream.read(length))
    except (ValueError, UnicodeDecodeError):
        raise RequestRefusedError("the body is not JSON", status=BAD_REQUEST) from None


def read_upload(stream: Reader, headers: Mapping[str, str], spool: Path, largest: int) -> Wanted:
    """What ``POST /upload`` asks for; multipart files are written under ``spool``."""
    kind, rest = media_type(headers)
    if kind == "multipart/form-data":
        length = body_length(headers, largest)
        boundary = re.search(r'boundary="?([^";]{1,200})"?', rest)
        if boundary is None:
            raise RequestRefusedError("multipart body without a boundary", status=BAD_REQUEST)
        body = spool / "body"
        _copy(stream, body, length)
        return Wanted(files=split_multipart(body, boundary.group(1).encode("latin-1"), spool))
    data = read_json(stream, headers)
    if data is None or data == {}:
        return Wanted(clipboard=True)
    items = data.get("list") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise RequestRefusedError(
            'the body must be {"list": ["/absolute/path.png", "https://host/picture.jpg"]}',
            status=BAD_REQUEST,
        )
    if not items:
        return Wanted(clipboard=True)
    if len(items) > MAX_PARTS:
        raise RequestRefusedError(f"over {MAX_PARTS} pictures in one request", status=TOO_LARGE)
    return Wanted(entries=tuple(items))


def _copy(stream: Reader, target: Path, length: int) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        left = length
        while left:
            chunk = stream.read(min(CHUNK, left))
            if not chunk:
                raise RequestRefusedError(
                    "the body ended before its Content-Length", status=BAD_REQUEST
                )
            out.write(chunk)
            left -= len(chunk)


_FILENAME = re.compile(r'filename="([^"]*)"|filename=([^;\s]+)', re.IGNORECASE)


def split_multipart(body: Path, boundary: bytes, spool: Path) -> tuple[tuple[str, Path], ...]:
    """Each part that carries a file (``filename=``, whatever its field name) written to
    its own file under ``spool``: (the name the client gave, the file)."""
    bad = RequestRefusedError("the multipart body is malformed", status=BAD_REQUEST)
    delimiter = b"--" + boundary
    files: list[tuple[str, Path]] = []
    with body.open("rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            raise bad
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            at = data.find(delimiter)
            if at < 0:
                raise bad
            for n in range(MAX_PARTS + 1):
                at += len(delimiter)
                if data[at : at + 2] == b"--":
                    break
                if n == MAX_PARTS:
                    raise RequestRefusedError(f"over {MAX_PARTS} parts", status=TOO_LARGE)
                if data[at : at + 2] != b"\r\n":
                    raise bad
                end = data.find(b"\r\n\r\n", at + 2, at + 2 + MAX_PART_HEADERS)
                if end < 0:
                    raise bad
                head = data[at + 2 : end].decode("utf-8", "replace")
                start = end + 4
                stop = data.find(b"\r\n" + delimiter, start)
                if stop < 0:
                    raise bad
                name = _filename(head)
                if name is not None:
                    target = spool / f"part{n}" / (_safe_name(name) or "upload")
                    target.parent.mkdir(mode=0o700)
                    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as out:
                        for offset in range(start, stop, CHUNK):
                            out.write(data[offset : min(offset + CHUNK, stop)])
                    files.append((name, target))
                at = stop + 2
    body.unlink()
    if not files:
        raise RequestRefusedError("no files found in the form-data", status=BAD_REQUEST)
    return tuple(files)


def _filename(head: str) -> str | None:
    for line in head.split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == "content-disposition":
            match = _FILENAME.search(value)
            if match:
                return match.group(1) if match.group(1) is not None else match.group(2)
    return None


def _safe_name(name: str) -> str:
    """The file name to spool a part under: its last component, tame characters only."""
    last = re.split(r"[\\/]", name)[-1]
    return re.sub(r"[^A-Za-z0-9._-]", "_", last).lstrip(".")[:100]
