"""Old ``.sxcu`` files (ShareX before 13.7.2): their ``$...$`` syntax in today's ``{...}``.

Helpers of :mod:`uploader.providers.sxcu`; pure, standard library only.

What ShareX did, and what we do:

* Files of 13.0 to 13.7.1 wrote ``$json:path$``, ``$regex:1|1$``... ShareX 14+ rewrites every
  value on load (``$`` opens and closes a call, ``{`` and ``}`` become literal). So do we,
  more carefully: a backslash-escaped character stays literal (ShareX drops it and the
  next one), ``|`` in literal text is escaped (ShareX would cut the value there), and
  ``$regex:N|G$`` / ``$regex:N,G$`` become ``{regex:PATTERN|G}`` with the N-th pattern of
  the old ``RegexList`` (1-based); a reference to a missing entry, an unknown ``$name$``
  or an unclosed ``$`` is refused.
* Files of 12.3.1 and before (or without ``Version`` but with ``RequestType``,
  ``ResponseType``, ``RegexList`` or ``$name$`` syntax) also had ``RequestType`` (today
  ``RequestMethod``), no ``Body`` (POST meant multipart; other methods sent no body,
  which we refuse: it cannot carry the file) and ``ResponseType`` (``RedirectionURL``: the URL is
  the final URL, ``LocationHeader``: the ``Location`` header; ``Headers`` cannot be
  converted). ShareX 17+ refuses these files; we convert them as ShareX 12.4 to 16 did.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

OLD_NAMES = frozenset(
    {"response", "responseurl", "header", "regex", "json", "xml", "input", "filename"}
    | {"random", "select", "prompt", "base64"}
)
_OLD_CALL = re.compile(r"\$(" + "|".join(sorted(OLD_NAMES)) + r")(?::[^$]*)?\$", re.IGNORECASE)
SYNTAX_MIGRATED_UP_TO = (13, 7, 1)
LEGACY_UP_TO = (12, 3, 1)


class LegacyError(Exception):
    """A value of an old file that cannot be converted (message without the value)."""


def looks_old(value: str) -> bool:
    """True when ``value`` uses the old ``$name$`` syntax."""
    return _OLD_CALL.search(value) is not None


def _esc(text: str) -> str:
    return re.sub(r"([\\{}|])", r"\\\1", text)


def convert(value: str, regex_list: Sequence[str]) -> str:
    """``value`` in old syntax rewritten in today's template syntax."""
    out: list[str] = []
    syntax: list[str] | None = None
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            target = out if syntax is None else syntax
            target.append(value[i + 1] if syntax is not None else _esc(value[i + 1]))
            i += 2
            continue
        if c == "$":
            if syntax is None:
                syntax = []
            else:
                out.append(_call("".join(syntax), regex_list))
                syntax = None
        elif syntax is not None:
            syntax.append(c)
        else:
            out.append(_esc(c))
        i += 1
    if syntax is not None:
        raise LegacyError("an unclosed '$' (old syntax)")
    return "".join(out)


def _call(syntax: str, regex_list: Sequence[str]) -> str:
    if not syntax:
        return ""
    name, colon, arg = syntax.partition(":")
    name = name.strip().lower()
    if name not in OLD_NAMES:
        raise LegacyError("an unknown function in old $...$ syntax")
    if name in ("response", "responseurl", "input", "filename"):
        return "{" + name + "}"
    if name == "regex":
        return _regex(arg, regex_list)
    if name in ("random", "select"):
        return "{" + name + ":" + "|".join(_esc(part) for part in arg.split("|")) + "}"
    if name == "prompt":
        return "{prompt" + (":" + _esc(arg) if colon else "") + "}"
    return "{" + name + ":" + _esc(arg) + "}"


def _regex(arg: str, regex_list: Sequence[str]) -> str:
    m = re.fullmatch(r"\s*(\d{1,6})\s*(?:[|,](.*))?", arg, re.DOTALL)
    if m is None:
        raise LegacyError("an old $regex:N$ reference without an entry number")
    index = int(m.group(1))
    if not 1 <= index <= len(regex_list):
        raise LegacyError(
            f"$regex:{index}$ refers to RegexList entry {index}, which the file lacks"
        )
    pattern = _esc(regex_list[index - 1])
    group = m.group(2)
    return "{regex:" + pattern + ("|" + _esc(group) if group else "") + "}"


def parse_version(text: str) -> tuple[int, ...] | None:
    """``"13.7.1"`` as ``(13, 7, 1)``; None when it is not such a version."""
    m = re.fullmatch(r"\s*(\d{1,6}(?:\.\d{1,9}){0,3})\s*", text)
    if m is None:
        return None
    return tuple(int(part) for part in m.group(1).split("."))


def at_most(version: tuple[int, ...], limit: tuple[int, ...]) -> bool:
    """``version <= limit`` with missing parts read as 0 (ShareX's CompareVersion)."""
    width = max(len(version), len(limit))
    return version + (0,) * (width - len(version)) <= limit + (0,) * (width - len(limit))


class UpgradeError(Exception):
    """An old file that cannot be converted; ``key`` names the key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


_RESPONSE_TYPES = {
    "text": "",
    "redirectionurl": "$responseurl$",
    "locationheader": "$header:Location$",
}


def _regex_list(raw: Mapping[str, Any]) -> list[str]:
    value = raw.get("RegexList")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UpgradeError("RegexList", "must be a list of strings")
    return [str(v) for v in value]


def upgrade(
    raw: Mapping[str, Any],
    level: int,
    values: dict[str, str | None],
    pairs: dict[str, list[tuple[str, str]]],
    method: str | None,
    body: str | None,
) -> tuple[str | None, str | None]:
    """Convert an old definition in place (``values``: the string keys, ``pairs``: the
    ``Parameters`` / ``Headers`` / ``Arguments`` lists); the method and body to use.
    ``level`` 2: a file of 12.3.1 or before, 1: of 13.0 to 13.7.1."""
    if level == 2:
        old_method = raw.get("RequestType")
        if method is None and isinstance(old_method, str):
            method = old_method
        if body is None or not body.strip():
            # POST meant multipart; other methods sent no body (refused: no file in it)
            post = (method or "POST").strip().upper() == "POST"
            body = "MultipartFormData" if post else "None"
        _response_type(raw, values)
    regexes = _regex_list(raw)
    for key in ("RequestURL", "URL", "ThumbnailURL", "DeletionURL", "ErrorMessage"):
        value = values.get(key)
        if value:
            try:
                values[key] = convert(value, regexes)
            except LegacyError as exc:
                raise UpgradeError(key, str(exc)) from None
    for group, items in pairs.items():
        for index, (name, value) in enumerate(items):
            try:
                items[index] = (name, convert(value, regexes))
            except LegacyError as exc:
                raise UpgradeError(f"{group}.{name}", str(exc)) from None
    data = values.get("Data")
    if data:
        data = re.sub(r"\$input\$", "{input}", data, flags=re.IGNORECASE)
        values["Data"] = re.sub(r"\$filename\$", "{filename}", data, flags=re.IGNORECASE)
    return method, body


def _response_type(raw: Mapping[str, Any], values: dict[str, str | None]) -> None:
    kind = raw.get("ResponseType")
    if kind is None:
        return
    if not isinstance(kind, str):
        raise UpgradeError("ResponseType", "must be a string")
    if kind.strip().lower() == "headers":
        raise UpgradeError(
            "ResponseType", "Headers cannot be converted; write URL with {header:Name} instead"
        )
    if kind.strip().lower() not in _RESPONSE_TYPES:
        raise UpgradeError("ResponseType", "must be Text, RedirectionURL or LocationHeader")
    target = _RESPONSE_TYPES[kind.strip().lower()]
    if not target:
        return
    if not values.get("URL"):
        values["URL"] = target
    for key in ("URL", "ThumbnailURL", "DeletionURL"):
        value = values.get(key)
        if value:
            values[key] = value.replace("$response$", target)
