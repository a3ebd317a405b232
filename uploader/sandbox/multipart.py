"""Streaming parsers for form bodies: multipart/form-data and urlencoded, plus base64.

No body is ever held whole in memory: file parts (and text fields named in ``spool``,
such as an ``image`` sent as a base64 string) are written to disk a chunk at a time while
their size, SHA-256 and first bytes are computed; the parsers hold at most one read chunk
plus a boundary's worth of bytes. Other text fields are kept, up to :data:`MAX_FIELD`
bytes each. On any error the files written so far are removed.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote_plus, unquote_to_bytes

from uploader.sandbox.filetypes import HEAD

CHUNK = 64 * 1024
MAX_FIELD = 1024 * 1024
MAX_PART_HEADERS = 16 * 1024

Reader = Callable[[int], bytes]


class MultipartError(ValueError):
    """The body is not a valid form body (or a spooled field is not valid base64)."""


@dataclass(frozen=True)
class StoredPart:
    """A part written to ``path``: ``filename`` is "" for a spooled text field
    (``spooled`` True); ``head`` holds the first :data:`HEAD` bytes."""

    name: str
    filename: str
    content_type: str | None
    path: Path
    size: int
    sha256: str
    head: bytes
    spooled: bool = False


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, StoredPart] = field(default_factory=dict)
    # Earlier parts of a repeated name kept (``repeats``), in arrival order; the last one
    # is in ``files``.
    earlier: list[StoredPart] = field(default_factory=list)
    # Every value of every text field, in arrival order (``ids[]=a&ids[]=b``); ``fields``
    # keeps the last one.
    values: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        """One text field's value (the last one of a name is ``fields[name]``)."""
        self.fields[name] = value
        self.values.setdefault(name, []).append(value)

    def discard(self) -> None:
        """Remove every stored file."""
        for part in [*self.earlier, *self.files.values()]:
            part.path.unlink(missing_ok=True)

    def all_files(self, name: str) -> list[StoredPart]:
        """Every stored part named ``name``, in arrival order."""
        last = self.files.get(name)
        return [p for p in self.earlier if p.name == name] + ([last] if last else [])

    def keep_only(self, name: str) -> list[StoredPart]:
        """Remove every stored file not sent as ``name``; those kept, in arrival order."""
        kept = self.all_files(name)
        for part in [*self.earlier, *self.files.values()]:
            if part not in kept:
                part.path.unlink(missing_ok=True)
        return kept


class _Sink:
    """A file being written, with its running size, digest and head."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / f"part-{secrets.token_hex(8)}"
        self.out: BinaryIO = self.path.open("wb")
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = b""

    def write(self, data: bytes) -> None:
        if data:
            self.out.write(data)
            self.digest.update(data)
            if len(self.head) < HEAD:
                self.head += data[: HEAD - len(self.head)]
            self.size += len(data)

    def close(self, name: str, filename: str, ctype: str | None, spooled: bool) -> StoredPart:
        self.out.close()
        digest = self.digest.hexdigest()
        return StoredPart(name, filename, ctype, self.path, self.size, digest, self.head, spooled)

    def abandon(self) -> None:
        self.out.close()
        self.path.unlink(missing_ok=True)


def boundary_of(content_type: str) -> bytes | None:
    """The multipart boundary from a Content-Type header value, or None."""
    if not content_type.lower().startswith("multipart/"):
        return None
    match = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type, re.IGNORECASE)
    if match is None:
        return None
    return (match.group(1) or match.group(2)).encode("latin-1")


class _Buffer:
    def __init__(self, read: Reader) -> None:
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


def parse(
    read: Reader,
    boundary: bytes,
    directory: Path,
    spool: Collection[str] = (),
    repeats: Collection[str] = (),
) -> Form:
    """Parse a multipart body read through ``read``: parts with a filename, and text
    parts named in ``spool``, are written to ``directory``; MultipartError if malformed.
    A file name repeated keeps only its last part, unless named in ``repeats``."""
    form = Form()
    try:
        _parse_multipart(_Buffer(read), b"--" + boundary, directory, spool, form, repeats)
    except BaseException:
        form.discard()
        raise
    return form


def _parse_multipart(
    reader: _Buffer,
    delim: bytes,
    directory: Path,
    spool: Collection[str],
    form: Form,
    repeats: Collection[str] = (),
) -> None:
    while (index := reader.buf.find(delim)) < 0:  # the preamble, up to the first delimiter
        reader.buf = reader.buf[-len(delim) :]
        if not reader.fill():
            raise MultipartError("no multipart boundary found")
    reader.buf = reader.buf[index + len(delim) :]
    end = b"\r\n" + delim
    while True:
        while len(reader.buf) < 2 and reader.fill():
            pass
        if reader.buf.startswith(b"--"):
            return
        if not reader.buf.startswith(b"\r\n"):
            raise MultipartError("malformed multipart delimiter")
        reader.buf = reader.buf[2:]
        while b"\r\n\r\n" not in reader.buf:
            if len(reader.buf) > MAX_PART_HEADERS or not reader.fill():
                raise MultipartError("malformed part headers")
        raw_headers, reader.buf = reader.buf.split(b"\r\n\r\n", 1)
        headers: dict[str, str] = {}
        for line in raw_headers.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name_match = re.search(r'(?:^|;)\s*name="([^"]*)"', disposition)
        file_match = re.search(r'(?:^|;)\s*filename="([^"]*)"', disposition)
        if name_match is None:
            raise MultipartError("part without a name")
        name = name_match.group(1)
        if file_match is not None or name in spool:
            sink = _Sink(directory)
            try:
                _copy_part(reader, end, sink)
            except BaseException:
                sink.abandon()
                raise
            filename = file_match.group(1) if file_match else ""
            previous = form.files.get(name)
            if previous is not None and name in repeats:
                form.earlier.append(previous)
            elif previous is not None:  # a repeated name: the last part wins
                previous.path.unlink(missing_ok=True)
            ctype = headers.get("content-type")
            form.files[name] = sink.close(name, filename, ctype, file_match is None)
        else:
            while (index := reader.buf.find(end)) < 0:
                if len(reader.buf) > MAX_FIELD + len(end) or not reader.fill():
                    raise MultipartError("field too large or body ended")
            raw_value, reader.buf = reader.buf[:index], reader.buf[index + len(end) :]
            form.add(name, raw_value.decode("utf-8", "replace"))


def _copy_part(reader: _Buffer, end: bytes, sink: _Sink) -> None:
    keep = len(end) - 1  # bytes that may be the start of a delimiter split across reads
    while True:
        index = reader.buf.find(end)
        if index >= 0:
            sink.write(reader.buf[:index])
            reader.buf = reader.buf[index + len(end) :]
            return
        if len(reader.buf) > keep:
            sink.write(reader.buf[:-keep])
            reader.buf = reader.buf[-keep:]
        if not reader.fill():
            raise MultipartError("body ended inside a file part")


def parse_urlencoded(read: Reader, directory: Path, spool: Collection[str] = ()) -> Form:
    """Parse an application/x-www-form-urlencoded body; values of fields named in
    ``spool`` are percent-decoded to disk (``Form.files``), the rest kept as text."""
    form = Form()
    try:
        _parse_urlencoded(_Buffer(read), directory, spool, form)
    except BaseException:
        form.discard()
        raise
    return form


def _parse_urlencoded(reader: _Buffer, directory: Path, spool: Collection[str], form: Form) -> None:
    while True:
        while b"=" not in reader.buf and b"&" not in reader.buf and reader.fill():
            if len(reader.buf) > MAX_FIELD:
                raise MultipartError("field name too large")
        if not reader.buf and reader.eof:
            return
        stop = min(
            (i for i in (reader.buf.find(b"="), reader.buf.find(b"&")) if i >= 0), default=-1
        )
        raw_name = reader.buf if stop < 0 else reader.buf[:stop]
        has_value = stop >= 0 and reader.buf[stop : stop + 1] == b"="
        reader.buf = b"" if stop < 0 else reader.buf[stop + 1 :]
        name = unquote_plus(raw_name.decode("latin-1"), encoding="utf-8", errors="replace")
        if not has_value:
            if name:
                form.add(name, "")
            continue
        if name in spool:
            sink = _Sink(directory)
            try:
                _copy_value(reader, sink)
            except BaseException:
                sink.abandon()
                raise
            previous = form.files.get(name)
            if previous is not None:
                previous.path.unlink(missing_ok=True)
            form.files[name] = sink.close(name, "", None, True)
            continue
        while (index := reader.buf.find(b"&")) < 0 and reader.fill():
            if len(reader.buf) > MAX_FIELD:
                raise MultipartError("field too large")
        raw_value = reader.buf if index < 0 else reader.buf[:index]
        reader.buf = b"" if index < 0 else reader.buf[index + 1 :]
        value = unquote_plus(raw_value.decode("latin-1"), encoding="utf-8", errors="replace")
        form.add(name, value)


def _copy_value(reader: _Buffer, sink: _Sink) -> None:
    """Percent-decode one value (up to the next ``&`` or the end) into ``sink``."""
    while True:
        index = reader.buf.find(b"&")
        piece = reader.buf if index < 0 else reader.buf[:index]
        carry = b""
        if index < 0:
            percent = piece.rfind(b"%", max(0, len(piece) - 2))
            if percent >= 0:  # an escape split across reads: finish it with the next read
                piece, carry = piece[:percent], piece[percent:]
        sink.write(unquote_to_bytes(piece.replace(b"+", b" ")))
        if index >= 0:
            reader.buf = reader.buf[index + 1 :]
            return
        reader.buf = carry
        if not reader.fill():
            sink.write(unquote_to_bytes(reader.buf))
            reader.buf = b""
            return


_WHITESPACE = re.compile(rb"\s+")
_URLSAFE = bytes.maketrans(b"-_", b"+/")


def decode_base64(part: StoredPart, directory: Path) -> StoredPart:
    """Decode a stored base64 text (a ``data:`` URI prefix, whitespace and the URL-safe
    alphabet allowed) into a new stored part, a chunk at a time; the source stays.
    MultipartError when the text is not base64."""
    sink = _Sink(directory)
    try:
        with part.path.open("rb") as source:
            pending = b""
            first = True
            while chunk := source.read(CHUNK):
                text = _WHITESPACE.sub(b"", chunk)
                if first and text.startswith(b"data:"):
                    comma = text.find(b",", 0, 256)
                    if comma < 0:
                        raise MultipartError("malformed data: URI")
                    text = text[comma + 1 :]
                first = False
                pending += text.translate(_URLSAFE)
                usable = len(pending) - len(pending) % 4
                sink.write(binascii.a2b_base64(pending[:usable], strict_mode=True))
                pending = pending[usable:]
            if pending:
                pending += b"=" * (-len(pending) % 4)
                sink.write(binascii.a2b_base64(pending, strict_mode=True))
    except binascii.Error as exc:
        sink.abandon()
        raise MultipartError("not valid base64") from exc
    except BaseException:
        sink.abandon()
        raise
    return sink.close(part.name, part.filename, part.content_type, False)
