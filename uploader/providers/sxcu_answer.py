"""What ``{json:}``, ``{xml:}`` and ``{regex:}`` read from an answer (helpers of sxcu_template).

Pure and standard library only. Two exceptions, both turned into the template errors by
:mod:`uploader.providers.sxcu_template`: :class:`PatternInvalid` (the path or pattern can
never work: a syntax error at check time) and :class:`AnswerMiss` (this answer lacks it).
Messages never quote the answer.

JSON paths follow what ShareX accepts (Newtonsoft ``SelectToken`` with ``$.`` implied), the
part of it a single value needs: ``a.b``, ``a[0].b``, ``['k']`` / ``["k"]``, ``[0].a``, a
leading ``$`` or ``$.``. Not supported (refused at check): wildcards, ``..``, filters,
slices, negative indexes (Newtonsoft has no ``[-1]`` either). Values render as ShareX casts
them to a string: strings as they are, numbers in the shortest form (``1.0`` reads ``1``),
booleans ``True`` / ``False``; objects and arrays (which ShareX cannot cast) as compact
JSON; ``null`` is a miss.

XPath: ElementTree's subset (tags, ``*``, ``.``, ``..``, ``//``, ``[@a]``, ``[@a='v']``,
``[tag]``, ``[tag='text']``, ``[n]``, ``[last()]``), evaluated from the document as XPath
does: ``/files/file[1]/url`` and ``files/file[1]/url`` both start at the root element;
a last step ``@name`` selects an attribute, ``text()`` the text. A node's value is its
text with its descendants' (XPath ``string()``). A document with a DTD is refused.

Regex: Python ``re`` with ``re.search`` (the first match, like .NET ``Regex.Match``). .NET
group syntax is translated: ``(?<name>...)`` and ``(?'name'...)`` to ``(?P<name>...)``,
``\\k<name>`` to ``(?P=name)``. Other .NET-only constructs (balancing groups, ``(?n)``,
possessive classes) are refused by ``re``; ``\\d`` and ``\\w`` match Unicode in both.
Guard: patterns with a quantified group that itself holds a quantifier (``(a+)+``,
exponential backtracking) are refused, and at most 1 MiB of input is searched.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

MAX_REGEX_INPUT = 1 << 20  # characters searched by {regex:}


class PatternInvalid(Exception):
    """A path or pattern that can never be used."""


class AnswerMiss(Exception):
    """This answer does not have what the template names."""


# ---- JSON -------------------------------------------------------------------------


def parse_json_path(path: str) -> list[str | int]:
    """The steps of ``path`` (names and indexes); PatternInvalid when unsupported."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    if not text:
        raise PatternInvalid("an empty json path")
    steps: list[str | int] = []
    i, n = 0, len(text)
    first = True
    while i < n:
        c = text[i]
        if c == ".":
            if text.startswith("..", i):
                raise PatternInvalid("'..' (recursive descent) is not supported in a json path")
            i += 1
            if not text.startswith("[", i):  # "$.[0]": what ShareX makes of "[0]"
                i = _json_name(text, i, steps)
        elif c == "[":
            i = _json_bracket(text, i, steps)
        elif first:
            i = _json_name(text, i, steps)
        else:
            raise PatternInvalid(f"unexpected {c!r} at {i + 1} in a json path")
        first = False
    return steps


def _json_name(text: str, i: int, steps: list[str | int]) -> int:
    j = i
    while j < len(text) and text[j] not in ".[]":
        j += 1
    name = text[i:j]
    if not name:
        raise PatternInvalid("an empty name in a json path")
    if name == "*" or "(" in name or ")" in name:
        raise PatternInvalid("wildcards and functions are not supported in a json path")
    steps.append(name)
    return j


def _json_bracket(text: str, i: int, steps: list[str | int]) -> int:
    close = text.find("]", i)
    if close < 0:
        raise PatternInvalid("an unclosed '[' in a json path")
    inner = text[i + 1 : close].strip()
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        quote = inner[0]
        close = text.find(quote + "]", i + 2)
        inner = text[i + 2 : close]
        steps.append(inner)
        return close + 2
    if re.fullmatch(r"\d{1,9}", inner):
        steps.append(int(inner))
        return close + 1
    if re.fullmatch(r"-\d+", inner):
        raise PatternInvalid("negative indexes are not supported in a json path (ShareX has none)")
    raise PatternInvalid("only [N] and ['name'] are supported in a json path")


def json_lookup(text: str, path: str) -> str:
    """The value at ``path`` in the JSON ``text``, rendered as ShareX renders it."""
    steps = parse_json_path(path)
    try:
        node: object = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise AnswerMiss("the answer is not JSON") from exc
    for step in steps:
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            node = node[step]
        elif isinstance(step, str) and isinstance(node, dict) and step in node:
            node = node.get(step)
        else:
            raise AnswerMiss(f"the answer has no json path {path!r}")
    if node is None:
        raise AnswerMiss(f"the answer's json path {path!r} is null")
    return json_scalar(node)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def json_scalar(value: object) -> str:
    """A JSON value as ShareX's string cast shows it (objects/arrays: compact JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, RecursionError) as exc:
        raise AnswerMiss("the json value cannot be shown") from exc


# ---- XML --------------------------------------------------------------------------


def _split_xpath(xpath: str) -> tuple[str, str | None]:
    """ElementTree path relative to a wrapper of the root, and the attribute (or
    ``"text()"``) the last step names."""
    path = xpath.strip()
    if not path:
        raise PatternInvalid("an empty xpath")
    tail: str | None = None
    head, sep, last = path.rpartition("/")
    if last.startswith("@") or last == "text()":
        tail = last[1:] if last.startswith("@") else last
        path = head if sep else "."
        if sep and not head:
            raise PatternInvalid("an xpath cannot select an attribute of the document")
        if tail != "text()" and not re.fullmatch(r"[A-Za-z_][\w.\-]*", tail):
            raise PatternInvalid("an invalid attribute name in an xpath")
    if path.startswith("/"):  # "/a" and "//a" from the document
        path = "." + path
    elif path != ".":
        path = "./" + path
    return path, tail


def check_xpath(xpath: str) -> None:
    """PatternInvalid when ElementTree cannot evaluate ``xpath``."""
    path, _ = _split_xpath(xpath)
    _find(ET.Element("doc"), path)


def _find(root: ET.Element, path: str) -> ET.Element | None:
    try:
        return root.find(path)
    except (SyntaxError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise PatternInvalid("an xpath ElementTree cannot evaluate") from exc


def xml_lookup(text: str, xpath: str) -> str:
    """The string value of the first node ``xpath`` selects in the XML ``text``."""
    path, tail = _split_xpath(xpath)
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise AnswerMiss("the answer's XML declares a DTD (refused)")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD (checked above): no entities
    except (ET.ParseError, ValueError, RecursionError) as exc:
        raise AnswerMiss("the answer is not XML") from exc
    wrapper = ET.Element("\x00doc")
    wrapper.append(root)
    node = _find(wrapper, path)
    if node is None or (node is wrapper and path != "."):
        raise AnswerMiss(f"the answer has no xml node {xpath!r}")
    if tail == "text()":
        return node.text or ""
    if tail is not None:
        value = node.get(tail)
        if value is None:
            raise AnswerMiss(f"the answer has no xml node {xpath!r}")
        return value
    return "".join(node.itertext())


# ---- regex ------------------------------------------------------------------------

_QUANT = re.compile(r"[*+]|\{\d*,\d*\}")


def translate_regex(pattern: str) -> str:
    """A .NET pattern in Python ``re`` syntax (named groups and backreferences)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            m = re.match(r"\\k<([A-Za-z_]\w*)>", pattern[i:])
            if m and not in_class:
                out.append(f"(?P={m.group(1)})")
                i += m.end()
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            m = re.match(r"\(\?(?:<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')", pattern[i:])
            if m:
                out.append(f"(?P<{m.group(1) or m.group(2)}>")
                i += m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _nested_quantifier(pattern: str) -> bool:
    """True for a group holding a quantifier that is itself quantified: ``(a+)+``."""
    stack: list[bool] = []  # per open group: has a quantifier inside
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            stack.append(False)
        elif c == ")" and stack:
            inner = stack.pop()
            after = _QUANT.match(pattern, i + 1)
            if inner and after:
                return True
            if stack and (inner or after):
                stack[-1] = True
        elif _QUANT.match(pattern, i) and stack:
            stack[-1] = True
        i += 1
    return False


def compile_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled (after translation); PatternInvalid when unusable."""
    if not pattern:
        raise PatternInvalid("an empty regex")
    translated = translate_regex(pattern)
    if _nested_quantifier(translated):
        raise PatternInvalid("a regex with a nested quantifier such as (a+)+ (it can take forever)")
    try:
        return re.compile(translated)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise PatternInvalid("an invalid regex") from exc


def regex_group(compiled: re.Pattern[str], group: str) -> int | str | None:
    """The group ``group`` names (None: the whole match); PatternInvalid if absent."""
    name = group.strip()
    if not name:
        return None
    if re.fullmatch(r"\+?\d{1,9}", name):
        index = int(name)
        if index > compiled.groups:
            raise PatternInvalid(f"the regex has no group {index}")
        return index
    if name not in compiled.groupindex:
        raise PatternInvalid(f"the regex has no group {name!r}")
    return name


def regex_lookup(text: str, pattern: str, group: str) -> str:
    """The first match of ``pattern`` in ``text`` (or its group)."""
    compiled = compile_regex(pattern)
    which = regex_group(compiled, group)
    if len(text) > MAX_REGEX_INPUT:
        raise AnswerMiss("the text for {regex:} is longer than 1 MiB")
    try:
        match = compiled.search(text)
    except (RecursionError, MemoryError) as exc:  # pragma: no cover - defensive
        raise AnswerMiss("the regex could not be run") from exc
    if match is None:
        raise AnswerMiss("the answer has no match for the regex")
    value = match.group(0) if which is None else match.group(which)
    if value is None:
        raise AnswerMiss(f"the regex group {group.strip()!r} took no part in the match")
    return value
