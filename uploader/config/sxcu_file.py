"""The bytes of an ``.sxcu`` file as JSON: one reader for ``config import-sxcu``
(:mod:`uploader.providers.sxcu`) and a profile's ``sxcu = "FILE"`` (:mod:`.custom`).

UTF-8 with or without a BOM; numbers kept as written (:class:`RawNumber`, a ``str``: how
ShareX's reader reads a number into a string, and no limit on digits to trip over);
``NaN`` / ``Infinity`` refused; a key twice in one object refused (JSON leaves it open;
ShareX's reader takes the last, which would hide the first from a reader of the file).
Comments (``// ...``, ``/* ... */``) and a trailing comma before ``}`` or ``]`` are read
as ShareX's reader (Newtonsoft) reads them, by default: ignored. They are blanked out
with spaces, so a position in an error still points into the file as written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


class RawNumber(str):
    """A JSON number as written in the file (how ShareX's reader reads it as a string)."""


def scalar(value: object) -> str | None:
    """A scalar as ShareX reads it into a string; None when it is not a scalar."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return None


def kind_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"  # a TOML date, for one


class _Duplicate(Exception):
    pass


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _Unclosed(ValueError):
    pass


def _blank(text: str) -> str:
    """``text`` with comments and trailing commas (outside strings) as spaces, line
    breaks kept; _Unclosed for a ``/*`` that never ends."""
    out = list(text)
    i, n = 0, len(text)
    comma = -1  # the last ',' seen outside strings, until a value follows it
    while i < n:
        c = text[i]
        if c == '"':
            comma = -1
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            continue
        if c == "/" and text.startswith("//", i):
            end = n
            for stop in ("\n", "\r"):
                found = text.find(stop, i)
                if found >= 0:
                    end = min(end, found)
        elif c == "/" and text.startswith("/*", i):
            found = text.find("*/", i + 2)
            if found < 0:
                raise _Unclosed(text.count("\n", 0, i) + 1)
            end = found + 2
        else:
            if c == ",":
                comma = i
            elif c in "}]" and comma >= 0:
                out[comma] = " "
                comma = -1
            elif not c.isspace():
                comma = -1
            i += 1
            continue
        for k in range(i, end):
            if out[k] not in "\r\n":
                out[k] = " "
        i = end
    return "".join(out)


def decode_sxcu(data: bytes, source: str, error: type[Exception]) -> Any:
    """The JSON value of an ``.sxcu`` file's bytes; SxcuError when it is not JSON."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{source}: not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        return _parse(text, source, error)
    except json.JSONDecodeError as exc:
        strict = exc  # the file as written is no strict JSON: ShareX's leniency, then
    try:
        blanked = _blank(text)
    except _Unclosed as exc:
        raise error(f"{source}: not JSON (line {exc.args[0]}: a /* comment never ends)") from None
    except RecursionError:  # pragma: no cover - _blank does not recurse
        blanked = text
    try:
        if blanked == text:
            raise strict
        return _parse(blanked, source, error)
    except json.JSONDecodeError as exc:
        raise error(
            f"{source}: not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None


def _parse(text: str, source: str, error: type[Exception]) -> Any:
    """``text`` parsed; ``error`` for what no leniency mends, JSONDecodeError for syntax."""
    try:
        return _loads(text)
    except json.JSONDecodeError:
        raise
    except _Duplicate as exc:
        raise error(f"{source}: key {exc.args[0]!r} appears twice") from None
    except RecursionError:
        raise error(f"{source}: not JSON (nested too deep)") from None
    except ValueError:
        raise error(f"{source}: not JSON (NaN and Infinity are not JSON numbers)") from None


def _loads(text: str) -> Any:
    return json.loads(
        text,
        object_pairs_hook=_pairs_hook,
        parse_int=RawNumber,
        parse_float=RawNumber,
        parse_constant=_no_constant,
    )
