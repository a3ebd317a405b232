"""The ShareX template syntax inside custom uploader values: ``{json:image.url}``...

Request side (RequestURL, Parameters, Headers, Arguments, Data): ``{filename}``,
``{input}``, ``{random:a|b}``, ``{base64:...}`` and our own ``{secret:NAME}`` (a value kept
in the credential store by ``uploader config import-sxcu``). Answer side (URL,
ThumbnailURL, DeletionURL, ErrorMessage) adds ``{response}``, ``{responseurl}``,
``{header:Name}``, ``{json:path}``, ``{xml:xpath}``, ``{regex:...}``; ``{secret:}`` is
request side only (an answer-side value is shown and stored: a secret must not be).

The syntax is ShareX 13+'s: ``{name}`` or ``{name:arg|arg}``; arguments are templates
themselves, rendered first (``{json:{response}|files[0].url}``). A backslash makes the
next character literal, whatever it is (as in ShareX: ``\\{``, ``\\}``, ``\\|``,
``\\\\``, and also ``\\d`` reads ``d``: write ``\\\\d`` for a regex digit). Function
names are case-insensitive. Where ShareX is lenient we refuse at check time, because
ShareX then silently sends or shows something else: an unknown function name (ShareX
throws at upload time; it never leaves ``{foo}`` as literal text), an unclosed ``{``
(ShareX runs to the end), a ``}`` or ``|`` outside a function (ShareX cuts the value
there), a lone trailing backslash (ShareX drops it), too few or too many arguments, an
empty json path / xpath / regex, and a literal path or pattern that cannot work.

Where ShareX renders an empty string for a miss (no json path, no xml node, no regex
match, no header), :func:`render` raises :class:`TemplateError` with ``.key`` set, so the
caller can fail (URL) or treat the value as absent (ThumbnailURL, DeletionURL).
``{input}`` is empty for file uploads (ShareX passes no input to image/file uploaders).
ShareX's ``%y``-style name patterns in values are not supported (kept literally).
Error messages never quote template text (a header value may hold a key): they say what
and where (1-based character position).
"""

from __future__ import annotations

import base64
import random as _random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote
from xml.sax.saxutils import escape as _xml_escape

from uploader.errors import ProviderError
from uploader.providers import sxcu_answer as _ans


class TemplateError(ProviderError):
    """A template that cannot be rendered against this answer (a ``{json:}`` path it lacks):
    one line naming the source and the key (exit 5). ``key`` is the key rendered."""

    def __init__(self, message: str, *, key: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key


class TemplateSyntaxError(ValueError):
    """A template that can never be rendered (unclosed brace, unknown or interactive
    function); ``str()`` says what and where, without the source (the caller adds it)."""


@dataclass(frozen=True)
class Answer:
    """What an answer offers to templates: its text, headers and final URL."""

    text: str
    headers: Mapping[str, str]
    url: str


def _random_index(n: int) -> int:
    return _random.randrange(n)  # noqa: S311 - picks a host, not a secret


@dataclass(frozen=True)
class TemplateContext:
    """What a template may refer to. ``answer`` is None on the request side."""

    filename: str = ""
    input: str = ""
    secret: Callable[[str], str | None] | None = None  # NAME -> value; None: an error
    answer: Answer | None = None
    random: Callable[[int], int] = field(default=_random_index)  # index in 0..n-1


ANSWER_FUNCTIONS = frozenset({"response", "responseurl", "header", "json", "xml", "regex"})
REQUEST_FUNCTIONS = frozenset({"filename", "input", "random", "base64", "secret"})
INTERACTIVE = frozenset({"prompt", "inputbox", "select", "outputbox", "output"})
# name -> (fewest, most) arguments; 0/0: takes none (``{filename}``)
_ARITY = {
    "response": (0, 0),
    "responseurl": (0, 0),
    "filename": (0, 0),
    "input": (0, 0),
    "header": (1, 1),
    "json": (1, 2),
    "xml": (1, 2),
    "regex": (1, 3),
    "random": (2, 1000),
    "base64": (1, 1),
    "secret": (1, 1),
}
MAX_DEPTH = 16
MAX_OUTPUT = 8 << 20  # characters one rendered value may reach
URL_KEYS = frozenset({"RequestURL", "URL", "ThumbnailURL", "DeletionURL", "ErrorMessage"})


@dataclass(frozen=True)
class _Call:
    name: str  # lower case
    args: tuple[tuple[_Node, ...], ...] | None  # None: no ':' at all
    at: int  # 1-based position of its '{'


_Node = str | _Call


class _Parser:
    def __init__(self, text: str, answer_side: bool | None = None) -> None:
        self.text = text
        self.i = 0
        self.answer_side = answer_side  # None: render (no side check)

    def parse(self) -> tuple[_Node, ...]:
        nodes = self._sequence(0, in_args=False)
        if self.i < len(self.text):  # stopped on a '}' or '|' at the top
            c = self.text[self.i]
            what = "unmatched '}'" if c == "}" else "'|' outside a function"
            raise TemplateSyntaxError(f"{what} at {self.i + 1} (write \\{c} for a literal {c})")
        return nodes

    def _sequence(self, depth: int, *, in_args: bool) -> tuple[_Node, ...]:
        """Text and calls up to an unescaped '}' or '|' (not consumed) or the end."""
        nodes: list[_Node] = []
        buf: list[str] = []
        text = self.text
        while self.i < len(text):
            c = text[self.i]
            if c == "\\":
                if self.i + 1 >= len(text):
                    raise TemplateSyntaxError(
                        f"a lone '\\' at {self.i + 1}, the end (write \\\\ for a backslash)"
                    )
                buf.append(text[self.i + 1])
                self.i += 2
            elif c in "}|":
                break
            elif c == "{":
                if buf:
                    nodes.append("".join(buf))
                    buf = []
                nodes.append(self._call(depth + 1))
            else:
                buf.append(c)
                self.i += 1
        if buf:
            nodes.append("".join(buf))
        return tuple(nodes)

    def _call(self, depth: int) -> _Call:
        text = self.text
        start = self.i
        if depth > MAX_DEPTH:
            raise TemplateSyntaxError(f"templates nested more than {MAX_DEPTH} deep at {start + 1}")
        self.i += 1
        j = self.i
        while j < len(text) and text[j] not in ":}|{\\":
            j += 1
        name = text[self.i : j].strip().lower()
        if j >= len(text):
            raise TemplateSyntaxError(f"unclosed '{{' at {start + 1}")
        if text[j] in "{\\|":
            raise TemplateSyntaxError(f"a function name cannot hold '{text[j]}' (at {j + 1})")
        if not name:
            raise TemplateSyntaxError(f"an empty function name at {start + 1}")
        self.i = j
        args: list[tuple[_Node, ...]] | None = None
        if text[j] == ":":
            args = []
            while True:
                self.i += 1
                args.append(self._sequence(depth, in_args=True))
                if self.i >= len(text):
                    raise TemplateSyntaxError(f"unclosed '{{' at {start + 1}")
                if text[self.i] == "}":
                    break
        self.i += 1  # the '}'
        call = _Call(name, None if args is None else tuple(args), start + 1)
        _check_call(call, self.answer_side)
        return call


def _check_call(call: _Call, answer_side: bool | None) -> None:
    name, at = call.name, call.at
    if name in INTERACTIVE:
        raise TemplateSyntaxError(
            f"{{{name}}} at {at} asks for input at upload time; cron has no one to ask"
        )
    if name not in _ARITY:
        raise TemplateSyntaxError(
            f"an unknown function at {at} (known: {', '.join(sorted(_ARITY))})"
        )
    low, high = _ARITY[name]
    count = 0 if call.args is None else len(call.args)
    if high == 0 and call.args is not None:
        raise TemplateSyntaxError(f"{{{name}}} at {at} takes no arguments")
    if count < low:
        raise TemplateSyntaxError(f"{{{name}}} at {at} needs at least {low} argument(s)")
    if count > high:
        raise TemplateSyntaxError(f"{{{name}}} at {at} takes at most {high} argument(s)")
    if answer_side is False and name in ANSWER_FUNCTIONS:
        raise TemplateSyntaxError(
            f"{{{name}}} at {at} reads the answer, which a request value cannot"
        )
    if answer_side and name == "secret":
        raise TemplateSyntaxError(
            f"{{secret}} at {at}: an answer value is shown and stored, never a secret"
        )
    literal = [_literal(a) for a in call.args or ()]
    try:
        _check_literals(name, literal)
    except _ans.PatternInvalid as exc:
        raise TemplateSyntaxError(f"{{{name}}} at {at}: {exc}") from None


def _literal(nodes: tuple[_Node, ...]) -> str | None:
    """The text of an argument without templates, None when it holds one."""
    if all(isinstance(n, str) for n in nodes):
        return "".join(n for n in nodes if isinstance(n, str))
    return None


def _check_literals(name: str, args: list[str | None]) -> None:
    last = args[-1] if args else None
    if name == "json" and last is not None:
        _ans.parse_json_path(last)
    elif name == "xml" and last is not None:
        _ans.check_xpath(last)
    elif name == "regex":
        pattern, group = (
            (args[1], args[2]) if len(args) == 3 else (args[0], args[1] if len(args) > 1 else "")
        )
        if pattern is not None:
            compiled = _ans.compile_regex(pattern)
            if group is not None:
                _ans.regex_group(compiled, group)
    elif name in ("header", "secret") and last is not None and not last.strip():
        raise _ans.PatternInvalid("an empty name")


def check_template(text: str, *, answer_side: bool) -> None:
    """Raise TemplateSyntaxError when ``text`` can never be rendered (request-side values
    may not use answer functions, answer-side values not ``{secret:}``)."""
    _Parser(text, answer_side).parse()


def render(
    text: str, context: TemplateContext, *, source: str, key: str, encode: str = "auto"
) -> str:
    """``text`` with every template replaced; TemplateError ("SOURCE: KEY: ...") when the
    answer lacks what it names. ``encode`` applies to ``{filename}`` and ``{input}`` as in
    ShareX: ``"url"`` (percent-encoded), ``"json"``, ``"xml"``, ``"none"``; ``"auto"``:
    ``"url"`` for the URL keys and any answer-side value, else ``"none"``."""
    if encode == "auto":
        encode = "url" if key in URL_KEYS or context.answer is not None else "none"
    try:
        nodes = _Parser(text).parse()
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{source}: {key}: {exc}", key=key) from None
    renderer = _Renderer(context, encode)
    try:
        return renderer.seq(nodes)
    except (_ans.AnswerMiss, _ans.PatternInvalid, _Fail) as exc:
        raise TemplateError(f"{source}: {key}: {exc}", key=key) from None


class _Fail(Exception):
    pass


class _Renderer:
    def __init__(self, context: TemplateContext, encode: str) -> None:
        self.ctx = context
        self.encode = encode

    def seq(self, nodes: tuple[_Node, ...]) -> str:
        parts: list[str] = []
        size = 0
        for node in nodes:
            part = node if isinstance(node, str) else self.call(node)
            size += len(part)
            if size > MAX_OUTPUT:
                raise _Fail("the rendered value is longer than 8 MiB")
            parts.append(part)
        return "".join(parts)

    def call(self, call: _Call) -> str:
        args = [self.seq(a) for a in call.args or ()]
        name = call.name
        if name in ("filename", "input"):
            return self._encoded(self.ctx.filename if name == "filename" else self.ctx.input)
        if name == "random":
            index = self.ctx.random(len(args))
            return args[index % len(args) if isinstance(index, int) else 0]
        if name == "base64":
            return base64.b64encode(args[0].encode("utf-8", "surrogatepass")).decode("ascii")
        if name == "secret":
            return self._secret(args[0].strip())
        answer = self.ctx.answer
        if answer is None:
            raise _Fail(f"{{{name}}} reads the answer, and there is none yet")
        if name == "response":
            return answer.text
        if name == "responseurl":
            return answer.url
        if name == "header":
            return self._header(answer, args[0].strip())
        if name == "json":
            body, path = (args[0], args[1]) if len(args) == 2 else (answer.text, args[0])
            return _ans.json_lookup(body, path)
        if name == "xml":
            body, path = (args[0], args[1]) if len(args) == 2 else (answer.text, args[0])
            return _ans.xml_lookup(body, path)
        if len(args) == 3:
            return _ans.regex_lookup(args[0], args[1], args[2])
        return _ans.regex_lookup(answer.text, args[0], args[1] if len(args) == 2 else "")

    def _encoded(self, value: str) -> str:
        if self.encode == "url":
            return quote(value, safe="", errors="surrogatepass")
        if self.encode == "json":
            return _json_inner(value)
        if self.encode == "xml":
            return _xml_escape(value, {'"': "&quot;", "'": "&apos;"})
        return value

    def _secret(self, name: str) -> str:
        lookup = self.ctx.secret
        if lookup is None:
            raise _Fail(f"{{secret:{name}}} has no credential store to read")
        try:
            value = lookup(name)
        except LookupError:
            value = None
        if value is None:
            raise _Fail(f"no secret {name!r} in the credential store")
        return value

    @staticmethod
    def _header(answer: Answer, name: str) -> str:
        wanted = name.lower()
        for header, value in answer.headers.items():
            if header.lower() == wanted:
                return value
        raise _Fail(f"the answer has no header {name!r}")


def _json_inner(value: str) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)[1:-1]
