"""A streaming multipart/form-data parser: file parts go to disk in chunks.

The body is never held whole in memory: at most one read chunk plus a boundary's worth
of bytes. Text fields are kept (up to 1 MiB each).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CHUNK = 64 * 1024
MAX_FIELD = 1024 * 1024


class MultipartError(ValueError):
    """The body is not valid multipart/form-data."""


@dataclass(frozen=True)
class StoredPart:
    name: str
    filename: str
    content_type: str | None
    path: Path
    size: int
    sha256: str
    head: bytes


@dataclass
class Form:
    fields: dict[str, str]
    files: dict[str, StoredPart]


def boundary_of(content_type: str) -> bytes | None:
    match = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    return match.group(1).encode("latin-1") if match else None


class _Reader:
    def __init__(self, read: Callable[[int], bytes]) -> None:
        self.read = read
        self.buf = b""
        self.eof = False

    def fill(self) -> bool:
        if self.eof:
            return False
        data = self.read(CHUNK)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True


def parse(read: Callable[[int], bytes], boundary: bytes, directory: Path) -> Form:
    """Parse a multipart body read through ``read``; file parts are written to ``directory``."""
    reader = _Reader(read)
    delim = b"--" + boundary
    # Preamble up to the first delimiter.
    while True:
        index = reader.buf.find(delim)
        if index >= 0:
            reader.buf = reader.buf[index + len(delim) :]
            break
        reader.buf = reader.buf[-len(delim) :]
        if not reader.fill():
            raise MultipartError("no multipart boundary found")
    form = Form({}, {})
    counter = 0
    while True:
        while len(reader.buf) < 2 and reader.fill():
            pass
        if reader.buf.startswith(b"--"):
            return form
        if not reader.buf.startswith(b"\r\n"):
            raise MultipartError("malformed multipart delimiter")
        reader.buf = reader.buf[2:]
        while b"\r\n\r\n" not in reader.buf:
            if len(reader.buf) > 16384 or not reader.fill():
                raise MultipartError("malformed part headers")
        raw_headers, reader.buf = reader.buf.split(b"\r\n\r\n", 1)
        headers = {}
        for line in raw_headers.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name_match = re.search(r'(?:^|;)\s*name="([^"]*)"', disposition)
        file_match = re.search(r'filename="([^"]*)"', disposition)
        if name_match is None:
            raise MultipartError("part without a name")
        name = name_match.group(1)
        end = b"\r\n" + delim
        keep = len(end) - 1
        if file_match is not None:
            counter += 1
            path = directory / f"part-{os.getpid()}-{id(form)}-{counter}"
            digest = hashlib.sha256()
            size = 0
            head = b""
            with path.open("wb") as out:
                while True:
                    index = reader.buf.find(end)
                    if index >= 0:
                        chunk, reader.buf = reader.buf[:index], reader.buf[index + len(end) :]
                    elif len(reader.buf) > keep:
                        chunk, reader.buf = reader.buf[:-keep], reader.buf[-keep:]
                    else:
                        chunk = b""
                    if chunk:
                        out.write(chunk)
                        digest.update(chunk)
                        if len(head) < 64:
                            head += chunk[: 64 - len(head)]
                        size += len(chunk)
                    if index >= 0:
                        break
                    if not reader.fill():
                        raise MultipartError("body ended inside a file part")
            form.files[name] = StoredPart(
                name,
                file_match.group(1),
                headers.get("content-type"),
                path,
                size,
                digest.hexdigest(),
                head,
            )
        else:
            while (index := reader.buf.find(end)) < 0:
                if len(reader.buf) > MAX_FIELD or not reader.fill():
                    raise MultipartError("field too large or body ended")
            raw_value, reader.buf = reader.buf[:index], reader.buf[index + len(end) :]
            form.fields[name] = raw_value.decode("utf-8", "replace")
