"""The ShareX template syntax inside custom uploader values: ``{json:image.url}``...

INTERFACE SKELETON (issue 17): the helper "sxcu" fills it in; the others code against it.

Request side (RequestURL, Parameters, Headers, Arguments, Data): ``{filename}``,
``{input}``, ``{random:a|b}``, ``{base64:...}`` and our own ``{secret:NAME}`` (a value kept
in the credential store by ``uploader config import-sxcu``). Answer side (URL,
ThumbnailURL, DeletionURL, ErrorMessage) adds ``{response}``, ``{responseurl}``,
``{header:Name}``, ``{json:path}``, ``{xml:xpath}``, ``{regex:...}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from uploader.errors import ProviderError


class TemplateError(ProviderError):
    """A template that cannot be rendered against this answer (a ``{json:}`` path it lacks):
    one line naming the source and the key (exit 5)."""


class TemplateSyntaxError(ValueError):
    """A template that can never be rendered (unclosed brace, unknown or interactive
    function); ``str()`` says what and where, without the source (the caller adds it)."""


@dataclass(frozen=True)
class Answer:
    """What an answer offers to templates: its text, headers and final URL."""

    text: str
    headers: Mapping[str, str]
    url: str


@dataclass(frozen=True)
class TemplateContext:
    """What a template may refer to. ``answer`` is None on the request side."""

    filename: str = ""
    input: str = ""
    secret: Callable[[str], str] | None = None  # NAME -> value; None: {secret:} is an error
    answer: Answer | None = None
    random: Callable[[int], int] = field(default=lambda n: 0)  # index in 0..n-1


def check_template(text: str, *, answer_side: bool) -> None:
    """Raise TemplateSyntaxError when ``text`` can never be rendered (request-side values
    may not use answer functions)."""
    raise NotImplementedError


def render(text: str, context: TemplateContext, *, source: str, key: str) -> str:
    """``text`` with every template replaced; TemplateError ("SOURCE: KEY: ...") when the
    answer lacks what it names."""
    raise NotImplementedError
