"""A small, tolerant reader of HTTP structured fields (RFC 9651, formerly 8941): the subset
rate-limit headers use.

Lists of items with parameters (``"burst";q=100;w=60, "daily";q=1000;w=86400``) and
dictionaries (``limit=100, remaining=50, reset=30``). Bare items: strings, tokens,
integers, decimals, booleans and byte sequences (kept as their base64 text). Inner lists
are not read (no rate-limit field uses them): such a member is skipped.

Tolerant where servers are sloppy: spaces around ``;`` and ``=``, upper-case parameter
keys (read lower-cased), decimals with more digits than the RFC allows, empty members
(``a,,b``, what a proxy joining repeated fields can leave). A member that cannot be read
is skipped alone (reported through ``skipped``), never the whole field. Nothing here
raises, and every loop is bounded by the field's length (cut at MAX_FIELD characters) and
MAX_MEMBERS members.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Values a rate-limit field needs fit easily; anything longer is cut (a hostile header).
MAX_FIELD = 4096
MAX_MEMBERS = 64

Bare = str | int | float | bool
Params = dict[str, Bare]
Item = tuple[Bare, Params]

_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9:/!#$%&'*+.^_`|~-]*")
# At most 18 digits: int() of a longer string is no count any server means.
_NUMBER = re.compile(r"-?\d{1,18}(?:\.\d{1,9})?(?![\d.])", re.ASCII)
_KEY = re.compile(r"[A-Za-z*][A-Za-z0-9_.*-]*")
_DICT_KEY = re.compile(r"\s*([A-Za-z*][A-Za-z0-9_.*-]*)\s*(=)?\s*")


def members(value: str) -> list[str]:
    """The top-level members of a field, split at commas outside quoted strings, trimmed,
    empty ones dropped."""
    found: list[str] = []
    start, quoted, escaped = 0, False, False
    text = value[:MAX_FIELD]
    for at, char in enumerate(text):
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == ",":
            found.append(text[start:at].strip())
            start = at + 1
    found.append(text[start:].strip())
    return [member for member in found if member][:MAX_MEMBERS]


def _bare(text: str, at: int) -> tuple[Bare | None, int]:
    """The bare item starting at ``at`` and the position after it; (None, at) when none."""
    if at >= len(text):
        return None, at
    char = text[at]
    if char == '"':
        chars: list[str] = []
        pos = at + 1
        while pos < len(text):
            char = text[pos]
            if char == "\\" and pos + 1 < len(text):
                chars.append(text[pos + 1])
                pos += 2
            elif char == '"':
                return "".join(chars), pos + 1
            else:
                chars.append(char)
                pos += 1
        return None, at  # unclosed string
    if char == "-" or "0" <= char <= "9":
        match = _NUMBER.match(text, at)
        if match is None:
            return None, at
        number = match.group()
        return (float(number) if "." in number else int(number)), match.end()
    if char == "?" and text[at + 1 : at + 2] in ("0", "1"):
        return text[at + 1] == "1", at + 2
    if char == ":":
        end = text.find(":", at + 1)
        return (None, at) if end < 0 else (text[at + 1 : end], end + 1)
    match = _TOKEN.match(text, at)
    return (None, at) if match is None else (match.group(), match.end())


def _params(text: str, at: int) -> Params | None:
    """``;key[=value]`` parameters from ``at`` to the end of ``text``; None when malformed.
    A repeated key keeps its first value (as a comma-joined header keeps its first)."""
    params: Params = {}
    while at < len(text):  # every round consumes at least the ";"
        while at < len(text) and text[at] in " \t":
            at += 1
        if at >= len(text):
            break
        if text[at] != ";":
            return None
        at += 1
        while at < len(text) and text[at] in " \t":
            at += 1
        key = _KEY.match(text, at)
        if key is None:
            return None
        at = key.end()
        value: Bare | None = True
        probe = at
        while probe < len(text) and text[probe] in " \t":
            probe += 1
        if probe < len(text) and text[probe] == "=":
            probe += 1
            while probe < len(text) and text[probe] in " \t":
                probe += 1
            value, at = _bare(text, probe)
        if value is None:
            return None
        params.setdefault(key.group().lower(), value)
    return params


def item(member: str) -> Item | None:
    """One list member (``"name";q=100;w=60``, ``100;w=60``) as (bare item, parameters);
    None when it is not one."""
    value, at = _bare(member, 0)
    if value is None:
        return None
    params = _params(member, at)
    return None if params is None else (value, params)


def dict_member(member: str) -> tuple[str, Item] | None:
    """One dictionary member (``remaining=50``, ``reset = 30;x=1``, or a bare ``key``: true)
    as (lower-cased key, item); None when it is not one."""
    match = _DICT_KEY.match(member)
    if match is None:
        return None
    key = match.group(1).lower()
    if match.group(2) is None:  # "key" or "key;param": the value is true
        params = _params(member, match.end(1))
        return None if params is None else (key, (True, params))
    found = item(member[match.end() :])
    return None if found is None else (key, found)


def is_dictionary(value: str) -> bool:
    """Whether a field looks like a dictionary (its first member is ``key=...``) rather
    than a list of items."""
    first = members(value)[:1]
    if not first:
        return False
    match = _DICT_KEY.match(first[0])
    return match is not None and match.group(2) is not None


def read_list(value: str, skipped: Callable[[str], None]) -> list[Item]:
    """Every readable item of a list field; each unreadable member goes to ``skipped``."""
    found = []
    for member in members(value):
        parsed = item(member)
        if parsed is None:
            skipped(member)
        else:
            found.append(parsed)
    return found


def read_dict(value: str, skipped: Callable[[str], None]) -> dict[str, Item]:
    """Every readable member of a dictionary field, the first of a repeated key kept (a
    proxy joining a repeated field puts the first answer first)."""
    found: dict[str, Item] = {}
    for member in members(value):
        parsed = dict_member(member)
        if parsed is None:
            skipped(member)
        else:
            found.setdefault(*parsed)
    return found
