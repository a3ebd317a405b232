"""ShareX custom uploader definitions (``.sxcu``, JSON): reading and checking them.

A definition comes from an ``.sxcu`` file (:func:`load_sxcu`) or from the same keys inline
in a ``kind = "custom"`` profile of the TOML config (:func:`parse_sxcu` with the table).
Every problem is one :class:`SxcuError` line naming the source (the file, or
``config.toml: providers.NAME``) and the key: ``shots.sxcu: URL: unclosed '{' at 6``;
never a value of ``Headers``, ``Arguments`` or ``Parameters`` (it may be an API key).

Choices where ShareX is lenient or unclear (ShareX 19's ``CustomUploaderItem``):

* Keys are spelled as ShareX writes them (``requesturl``: an error naming the spelling);
  unknown keys are ignored with a notice; enum values case-insensitive, as Newtonsoft; a
  key twice in a file is an error. No ``DestinationType``: images and files, a notice.
* A string value may be a JSON number or boolean, read as ShareX reads it (the number as
  written, ``True`` / ``False``); ``null`` is "absent" at the top level and an error in
  ``Headers`` / ``Arguments`` / ``Parameters``.
* ``Body`` absent: ``MultipartFormData`` when ``FileFormName`` is set, else it is
  ``None``, which cannot carry a file (ShareX would fail at upload time): an error.
  ``Data`` is kept as written; ShareX only replaces ``{input}`` / ``{filename}`` in it and
  sends it only with JSON/XML bodies, which cannot carry a file (refused).
* ``RequestURL`` without ``scheme://`` gets ``https://`` (ShareX's ``FixPrefix``) with a
  notice. Its query string moves into ``parameters`` after the ``Parameters`` given,
  decoded, in order; a name already in ``Parameters`` keeps that value (as ShareX).
* ``Version`` newer than 19 or unreadable: a notice. Up to 13.7.1 (or absent, with old
  keys or ``$name$`` syntax): converted with a notice (:mod:`.sxcu_legacy`).
"""

from __future__ import annotations

import errno
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from uploader.config.sxcu_file import decode_sxcu, kind_of, scalar
from uploader.errors import ConfigError
from uploader.providers import sxcu_legacy as _old
from uploader.providers.sxcu_template import TemplateSyntaxError, check_template

# Body types (ShareX ``CustomUploaderBody``); only these two can carry a file.
FILE_BODIES = ("MultipartFormData", "Binary")
BODIES = ("None", "MultipartFormData", "FormURLEncoded", "JSON", "XML", "Binary")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
DESTINATIONS = (
    "ImageUploader", "TextUploader", "FileUploader", "URLShortener", "URLSharingService",
)  # fmt: skip
KEYS = (
    "Version", "Name", "DestinationType", "RequestMethod", "RequestURL", "Parameters",
    "Headers", "Body", "Arguments", "FileFormName", "Data", "URL", "ThumbnailURL",
    "DeletionURL", "ErrorMessage",
)  # fmt: skip
OLD_KEYS = ("RequestType", "ResponseType", "RegexList")
PAIR_KEYS = ("Parameters", "Headers", "Arguments")
ANSWER_KEYS = ("URL", "ThumbnailURL", "DeletionURL", "ErrorMessage")
NEWEST_MAJOR = 19
MAX_FILE = 4 << 20
_SECRET_REF = re.compile(r"\{secret:[A-Za-z0-9_]+\}")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class SxcuError(ConfigError):
    """A definition that cannot be used: one line, naming the source and the key (exit 2)."""


@dataclass(frozen=True)
class CustomSpec:
    """One checked custom uploader; templates kept as written, their syntax checked (each
    request renders them: ``sxcu_template.render``)."""

    source: str  # the file, or "config.toml: providers.NAME": the start of every message
    name: str  # ``Name``, or the file's stem
    version: str | None
    destination_types: tuple[str, ...]  # e.g. ("ImageUploader", "FileUploader")
    method: str  # one of METHODS (default POST)
    request_url: str  # template; a query string in it was moved into ``parameters``
    parameters: tuple[tuple[str, str], ...] = ()  # name -> value template (query string)
    headers: tuple[tuple[str, str], ...] = ()
    body: str = "MultipartFormData"  # one of FILE_BODIES for an image/file uploader
    arguments: tuple[tuple[str, str], ...] = ()  # form fields (multipart / form-encoded)
    file_form_name: str | None = None  # the multipart field of the file
    data: str | None = None  # JSON/XML body template
    url: str | None = None  # result templates (None or "": ShareX semantics)
    thumbnail_url: str | None = None
    deletion_url: str | None = None
    error_message: str | None = None
    notices: tuple[str, ...] = ()  # what to report (unknown keys, an unknown version...)


class _Reader:
    def __init__(self, raw: Mapping[str, Any], source: str) -> None:
        self.raw, self.source, self.notices = raw, source, list[str]()

    def fail(self, key: str, message: str) -> SxcuError:
        return SxcuError(f"{self.source}: {key}: {message}")

    def string(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return None
        text = scalar(value)
        if text is None:
            raise self.fail(key, f"must be a string, not {kind_of(value)}")
        return text

    def pairs(self, key: str) -> list[tuple[str, str]]:
        value = self.raw.get(key)
        if value is None:
            return []
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be an object of names to strings")
        pairs: list[tuple[str, str]] = []
        for name, item in value.items():
            if not isinstance(name, str) or not name.strip():
                raise self.fail(key, "a name is empty")
            text = scalar(item)
            if text is None:
                raise self.fail(f"{key}.{name}", f"must be a string, not {kind_of(item)}")
            if key == "Headers":
                if not _TOKEN.fullmatch(name):
                    raise self.fail(key, "a header name holds a character HTTP forbids")
                if "\r" in text or "\n" in text or "\x00" in text:
                    raise self.fail(f"{key}.{name}", "the value holds a line break")
            pairs.append((name, text))
        return pairs


def _check_keys(reader: _Reader) -> None:
    known = {k.lower(): k for k in KEYS + OLD_KEYS}
    for key in reader.raw:
        if not isinstance(key, str):
            raise SxcuError(f"{reader.source}: a key is not a string")
        if key in known.values():
            continue
        right = known.get(key.lower())
        if right is not None:
            raise reader.fail(key, f"spelled wrong: ShareX writes {right!r}")
        reader.notices.append(f"{reader.source}: unknown key {key!r} (ignored)")


def _version(reader: _Reader) -> tuple[str | None, tuple[int, ...] | None]:
    text = reader.string("Version")
    if text is None or not text.strip():
        return None, None
    parsed = _old.parse_version(text)
    if parsed is None:
        reader.notices.append(f"{reader.source}: Version: not a version number (read as current)")
    elif parsed[0] > NEWEST_MAJOR:
        reader.notices.append(
            f"{reader.source}: Version: {text.strip()} is newer than ShareX {NEWEST_MAJOR},"
            " the newest format known (read as that)"
        )
    return text.strip(), parsed


def _destinations(reader: _Reader) -> tuple[str, ...]:
    value = reader.raw.get("DestinationType")
    if value is None:
        reader.notices.append(
            f"{reader.source}: DestinationType: missing; read as ImageUploader, FileUploader"
        )
        return ("ImageUploader", "FileUploader")
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        names = [str(v) for v in value]
    elif isinstance(value, str):
        names = value.split(",")
    else:
        raise reader.fail("DestinationType", "must be a comma-separated string of types")
    canon = {d.lower(): d for d in (*DESTINATIONS, "None")}
    found: list[str] = []
    for name in names:
        right = canon.get(name.strip().lower())
        if right is None:
            raise reader.fail("DestinationType", f"unknown type (known: {', '.join(DESTINATIONS)})")
        if right != "None" and right not in found:
            found.append(right)
    if not {"ImageUploader", "FileUploader"} & set(found):
        raise reader.fail(
            "DestinationType",
            "this definition uploads no images or files (only "
            + (", ".join(found) or "None")
            + "); uploader needs ImageUploader or FileUploader",
        )
    return tuple(found)


def _enum(reader: _Reader, key: str, allowed: tuple[str, ...], value: str) -> str:
    for choice in allowed:
        if choice.lower() == value.strip().lower():
            return choice
    raise reader.fail(key, f"must be one of {', '.join(allowed)}")


def _split_outside(text: str, sep: str) -> list[str]:
    """``text`` cut at each ``sep`` outside templates and escapes."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}" and depth:
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _request_url(reader: _Reader, text: str | None, params: list[tuple[str, str]]) -> str:
    key = "RequestURL"
    if text is None or not text.strip():
        raise reader.fail(key, "missing (the URL to send the file to)")
    url = text.strip()
    if "://" not in url:
        url = "https://" + url
        reader.notices.append(f"{reader.source}: {key}: no scheme; https:// assumed (as ShareX)")
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in ("http", "https"):
        raise reader.fail(key, "must be an http:// or https:// URL")
    pieces = _split_outside(rest, "?")
    path_part, query = pieces[0], "?".join(pieces[1:]) if len(pieces) > 1 else None
    authority = re.split(r"[/#]", path_part, maxsplit=1)[0]
    if "@" in authority:
        raise reader.fail(key, "holds a user name or password (user:password@); use Headers")
    if not authority.strip() or authority.startswith(":"):
        raise reader.fail(key, "has no host")
    if query is not None:
        have = {name for name, _ in params}
        for item in _split_outside(query, "&"):
            if not item:
                continue
            name, _, value = item.partition("=")
            name, value = unquote_plus(name), unquote_plus(value)
            if not name:
                continue
            if name in have:
                reader.notices.append(
                    f"{reader.source}: {key}: query parameter {name!r} also in Parameters"
                    " or given twice; the first is kept"
                )
                continue
            have.add(name)
            params.append((name, value))
    return f"{scheme.lower()}://{path_part}"


def _check(reader: _Reader, key: str, text: str | None, *, answer_side: bool) -> None:
    if text is None:
        return
    try:
        check_template(text, answer_side=answer_side)
    except TemplateSyntaxError as exc:
        raise reader.fail(key, str(exc)) from None


def _legacy_needed(
    reader: _Reader,
    parsed: tuple[int, ...] | None,
    version: str | None,
    values: Mapping[str, str | None],
    pairs: tuple[list[tuple[str, str]], ...],
) -> int:
    """0: current syntax; 1: old syntax only (13.0 to 13.7.1); 2: also 12.3.1 and older."""
    if parsed is not None:
        if _old.at_most(parsed, _old.LEGACY_UP_TO):
            return 2
        return 1 if _old.at_most(parsed, _old.SYNTAX_MIGRATED_UP_TO) else 0
    if version is not None:
        return 0
    if any(k in reader.raw for k in OLD_KEYS):
        return 2
    texts = [v for k, v in values.items() if k != "Data" and v]
    texts += [v for items in pairs for _, v in items]
    if any(_old.looks_old(v) for v in texts) and not any("{" in v for v in texts):
        return 2
    return 0


def _ignored(
    reader: _Reader, body: str, arguments: list[tuple[str, str]], data: str | None
) -> None:
    """Notices for what ShareX does not send with this body."""
    if body == "Binary" and arguments:
        reader.notices.append(f"{reader.source}: Arguments: not sent with Body Binary (ignored)")
    if data and data.strip():
        reader.notices.append(
            f"{reader.source}: Data: sent only with a JSON or XML Body, never with {body} (ignored)"
        )


def parse_sxcu(
    raw: Mapping[str, Any], source: str, *, default_name: str | None = None
) -> CustomSpec:
    """The checked definition (a decoded JSON object, a TOML table); ``default_name``
    (the file's stem) names it when it has no ``Name``."""
    if not isinstance(raw, Mapping):
        raise SxcuError(f"{source}: not a JSON object (an .sxcu file is one {{...}} object)")
    reader = _Reader(raw, source)
    _check_keys(reader)
    version, parsed = _version(reader)
    destinations = _destinations(reader)
    params, headers, arguments = (reader.pairs(k) for k in PAIR_KEYS)
    values = {k: reader.string(k) for k in ("RequestURL", "FileFormName", "Data", *ANSWER_KEYS)}
    level = _legacy_needed(reader, parsed, version, values, (params, headers, arguments))
    method_text = reader.string("RequestMethod")
    body_text = reader.string("Body")
    if level:
        pairs = dict(zip(PAIR_KEYS, (params, headers, arguments), strict=True))
        try:
            method_text, body_text = _old.upgrade(raw, level, values, pairs, method_text, body_text)
        except _old.UpgradeError as exc:
            raise reader.fail(exc.key, str(exc)) from None
        reader.notices.append(
            f"{source}: written for ShareX 13.7.1 or older ($...$ syntax); converted as ShareX does"
        )
    elif any(k in raw for k in OLD_KEYS):
        reader.notices.append(
            f"{source}: old keys ({', '.join(OLD_KEYS)}) ignored for this Version"
        )
    method = _enum(reader, "RequestMethod", METHODS, method_text) if method_text else "POST"
    file_field = values["FileFormName"] or None
    if body_text is None or not body_text.strip():
        body_text = "MultipartFormData" if file_field else "None"
    body = _enum(reader, "Body", BODIES, body_text)
    if body not in FILE_BODIES:
        raise reader.fail(
            "Body",
            f"{body} cannot carry a file; use MultipartFormData (with FileFormName) or Binary",
        )
    if body == "MultipartFormData" and not (file_field and file_field.strip()):
        raise reader.fail(
            "FileFormName", "missing; Body MultipartFormData needs the file's field name"
        )
    _ignored(reader, body, arguments, values["Data"])
    _check(reader, "RequestURL", values["RequestURL"], answer_side=False)
    request_url = _request_url(reader, values["RequestURL"], params)
    for key, items in zip(PAIR_KEYS, (params, headers, arguments), strict=True):
        for name, value in items:
            _check(reader, f"{key}.{name}", value, answer_side=False)
    for key in ANSWER_KEYS:
        text = values[key]
        if key == "DeletionURL" and text:
            # It may hold {secret:NAME} (XBackBone's holds the token): the history keeps
            # the reference, the provider puts the value in only to request it.
            text = _SECRET_REF.sub("", text)
        _check(reader, key, text, answer_side=True)
    name = (reader.string("Name") or "").strip()
    if not name:
        host = re.split(r"[/:?#]", request_url.partition("://")[2], maxsplit=1)[0]
        name = default_name or host
    return CustomSpec(
        source=source,
        name=name.strip(),
        version=version,
        destination_types=destinations,
        method=method,
        request_url=request_url,
        parameters=tuple(params),
        headers=tuple(headers),
        body=body,
        arguments=tuple(arguments),
        file_form_name=file_field if body == "MultipartFormData" else None,
        data=values["Data"] or None,
        url=values["URL"] or None,
        thumbnail_url=values["ThumbnailURL"] or None,
        deletion_url=values["DeletionURL"] or None,
        error_message=values["ErrorMessage"] or None,
        notices=tuple(reader.notices),
    )


def load_sxcu(path: Path) -> CustomSpec:
    """Read and check an ``.sxcu`` file (UTF-8, a BOM allowed); every problem an SxcuError."""
    from uploader.config.paths import NotOurFileError, read_own_file

    source = str(path)
    try:
        data = read_own_file(path, MAX_FILE)  # never waits on a FIFO, never reads forever
    except NotOurFileError as exc:
        if exc.errno == errno.EFBIG:
            raise SxcuError(
                f"{source}: larger than {MAX_FILE >> 20} MiB; not an .sxcu file"
            ) from None
        what = "Is a directory" if path.is_dir() else "not a regular file"
        raise SxcuError(f"{source}: cannot be read ({what})") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SxcuError(f"{source}: cannot be read ({reason})") from None
    raw = decode_sxcu(data, source, SxcuError)
    if not isinstance(raw, dict):
        raise SxcuError(f"{source}: not a JSON object (an .sxcu file is one {{...}} object)")
    return parse_sxcu(raw, source, default_name=path.stem or None)
