"""A custom host's requests and answers, from its ShareX definition (providers/custom.py).

The request side renders the definition's templates (``{filename}``, ``{random:}``,
``{secret:NAME}``...) into the method, URL, query, headers and body; the file goes as a
multipart field (``MultipartFormData``) or as the whole body (``Binary``), streamed from
disk through ``imaging/content.py: open_sent`` like every upload. The answer side renders
``URL``, ``ThumbnailURL``, ``DeletionURL`` and ``ErrorMessage`` against the answer. The
profile's secrets (:class:`Secrets`) never leave in a message or a record: they are masked
in error text and put back as ``{secret:NAME}`` in the deletion URL kept in the history.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

from uploader.errors import (
    AuthError,
    InputFileError,
    ProviderError,
    RateLimitError,
    ServerError,
    UploaderError,
)
from uploader.imaging.content import open_sent
from uploader.providers.base import post_file
from uploader.providers.links import is_web_url
from uploader.providers.sxcu import FILE_BODIES, CustomSpec, SxcuError
from uploader.providers.sxcu_template import Answer, TemplateContext, TemplateError, render

if TYPE_CHECKING:
    import httpx

    from uploader.http.session import ApiSession
    from uploader.models import ImageFile, Pending
    from uploader.ratelimit.limiter import Refusal

log = logging.getLogger("uploader.providers.custom")

SECRET_REF = re.compile(r"\{secret:([A-Za-z0-9_]+)\}")
CHUNK = 1 << 20
EXCERPT = 160
# A 4xx other than 401/403 whose message speaks of a rejected key: hosts that answer a bad
# key with 400 (Chevereto: "Invalid API v1 key.", "No key provided") or 404 are refusing
# the credentials all the same (exit 3: fix the secret, not the file).
_CREDENTIAL_NOUN = r"(?:api[ _-]?)?(?:v\d+[ _-]?)?(?:key|token|secret|password|credentials?)"
REJECTED_CREDENTIAL = re.compile(
    r"\b(?:invalid|wrong|missing|no|bad|expired|unknown|revoked|incorrect)\b[^.\n]{0,20}?"
    + r"\b"
    + _CREDENTIAL_NOUN
    + r"\b"
    + r"|\b"
    + _CREDENTIAL_NOUN
    + r"\b[^.\n]{0,20}?\b(?:not found|invalid|required|missing|"
    r"expired|revoked|incorrect)\b|\bunauthori[sz]ed\b|\bnot logged in\b",
    re.IGNORECASE,
)


class Secrets:
    """The profile's secrets, NAME -> value (resolved by ``CustomProvider.resolve_credential``)."""

    def __init__(self, values: Mapping[str, str], source: str, profile: str, env_prefix: str):
        self.values = dict(values)
        self.source = source
        self.profile = profile
        self.env_prefix = env_prefix

    def value(self, name: str) -> str:
        """The value of ``{secret:NAME}`` (AuthError when the profile has none)."""
        found = self.values.get(name)
        if found is None:
            raise AuthError(
                f"profile {self.profile!r} has no secret {name!r}",
                hint=set_hint(self.profile, self.env_prefix, name),
            )
        return found

    def _pairs(self) -> Iterator[tuple[str, str]]:
        """(value as it may appear, name), longest first, the URL-quoted form too."""
        seen: list[tuple[str, str]] = []
        for name, value in self.values.items():
            if len(value) < 3:  # too short to tell apart from ordinary text
                continue
            seen.append((value, name))
            quoted = quote(value, safe="")
            if quoted != value:
                seen.append((quoted, name))
        yield from sorted(seen, key=lambda pair: -len(pair[0]))

    def masked(self, text: str) -> str:
        """``text`` with every secret value as ``****``."""
        for value, _name in self._pairs():
            text = text.replace(value, "****")
        return text

    def as_refs(self, text: str) -> str:
        """``text`` with every secret value as ``{secret:NAME}`` (rendered again on use)."""
        for value, name in self._pairs():
            text = text.replace(value, "{secret:" + name + "}")
        return text

    def holds_one(self, text: str) -> bool:
        return any(value in text for value, _name in self._pairs())

    def resolve_refs(self, text: str) -> str:
        """``text`` with every ``{secret:NAME}`` replaced by its value."""
        return SECRET_REF.sub(lambda found: self.value(found.group(1)), text)


SHORTEST_LITERAL = 8  # a written value shorter than this is no key (keys are long)
_FLAGS = frozenset({"true", "false", "True", "False", "TRUE", "FALSE"})
_SCHEME = re.compile(r"^(?:Bearer|Token|Basic|Client-ID|Key|Api-Key)\s+(\S+)$", re.IGNORECASE)


def literal_secrets(spec: CustomSpec) -> dict[str, str]:
    """The secret-looking values a definition holds as written (an ``.sxcu`` file named by
    ``sxcu =`` with its key in it, never imported): NAME -> value, so that they are masked
    like the store's secrets wherever an answer, a message or a log line repeats them."""
    from uploader.config.custom import SECRET_NAME

    found: dict[str, str] = {}
    for pairs in (spec.headers, spec.arguments, spec.parameters):
        for key, value in pairs:
            text = value.strip()
            scheme = _SCHEME.match(text)
            if "{" in text or not (scheme or SECRET_NAME.search(key)):
                continue
            literal = scheme.group(1) if scheme else text
            if len(literal) < SHORTEST_LITERAL or literal.isdigit() or literal in _FLAGS:
                continue  # "X-Session-Expire: 3600" says no secret: masking it would hit URLs
            name = "literal_" + (re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_") or "secret")
            found.setdefault(name, literal)
    return found


def set_hint(profile: str, env_prefix: str, name: str) -> str:
    """How to give profile ``profile`` its secret ``name``."""
    return (
        f"set {env_prefix}{name.upper()}, or store it: "
        f"`uploader auth set-token {profile} --secret {name}` (reads it from standard input)"
    )


def secret_names(spec: CustomSpec) -> tuple[str, ...]:
    """Every ``{secret:NAME}`` the definition uses, in order of first use."""
    texts = [spec.request_url, spec.data or "", spec.deletion_url or ""]
    for pairs in (spec.parameters, spec.headers, spec.arguments):
        texts += [value for _key, value in pairs]
    names: dict[str, None] = {}
    for text in texts:
        for found in SECRET_REF.finditer(text):
            names[found.group(1)] = None
    return tuple(names)


def request_context(filename: str, secrets: Secrets) -> TemplateContext:
    """What the request side's templates see: the file's name and the secrets."""
    return TemplateContext(filename=filename, input="", secret=secrets.value, random=_randbelow)


def _randbelow(count: int) -> int:
    import secrets as random_source  # {random:a|b}: ShareX picks one at random

    return random_source.randbelow(count) if count > 0 else 0


def _render_pairs(
    spec: CustomSpec, pairs: tuple[tuple[str, str], ...], ctx: TemplateContext, key: str
) -> dict[str, str]:
    return {
        name: render(value, ctx, source=spec.source, key=f"{key}.{name}") for name, value in pairs
    }


def send_upload(
    session: ApiSession,
    spec: CustomSpec,
    image: ImageFile,
    ctx: TemplateContext,
    secrets: Secrets,
    *,
    costs: Mapping[str, int],
    pending: Pending,
) -> httpx.Response:
    """Send ``image`` as the definition says (its body type must carry a file)."""
    url = render(spec.request_url, ctx, source=spec.source, key="RequestURL")
    params = _render_pairs(spec, spec.parameters, ctx, "Parameters")
    headers = _render_pairs(spec, spec.headers, ctx, "Headers")
    shown = secrets.masked(url)  # the debug log's: a secret may sit in the URL's path
    if spec.body == "MultipartFormData":
        if not spec.file_form_name:
            raise SxcuError(f"{spec.source}: FileFormName: missing: the file has no field")
        # The multipart boundary is httpx's: a Content-Type of the definition would lose it.
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        return post_file(
            session,
            url,
            spec.file_form_name,
            image,
            headers=headers,
            data=_render_pairs(spec, spec.arguments, ctx, "Arguments"),
            costs=costs,
            pending=pending,
            method=spec.method,
            params=params,
            shown_url=shown,
        )
    if spec.body != "Binary" or spec.body not in FILE_BODIES:
        raise SxcuError(f"{spec.source}: Body: {spec.body!r} cannot carry a file")
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = image.mime_type

    def send(body: Any) -> httpx.Response:
        return session.request(
            spec.method,
            url,
            costs=costs,
            pending=pending,
            params=params,
            headers=headers,
            content=body,
            shown_url=shown,
        )

    if image.data is not None:
        if image.plan is None:
            return send(image.data)
        from uploader.imaging.strip import planned_bytes

        return send(planned_bytes(image.data, image.plan))
    with open_sent(image) as sent:
        return send(_Chunks(sent))


class _Chunks:
    """A body httpx streams in pieces and measures by seeking (a Content-Length, never
    chunked encoding): the file as sent, read ``CHUNK`` bytes at a time."""

    def __init__(self, sent: IO[bytes] | Any) -> None:
        self.sent = sent

    def __iter__(self) -> Iterator[bytes]:
        self.sent.seek(0)
        while chunk := self.sent.read(CHUNK):
            yield chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        where: int = self.sent.seek(offset, whence)
        return where

    def tell(self) -> int:
        where: int = self.sent.tell()
        return where


def answer_of(response: httpx.Response) -> Answer:
    return Answer(text=response.text, headers=response.headers, url=str(response.url))


_HTML = re.compile(r"\s*(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])", re.IGNORECASE)
_HIDDEN = re.compile(r"<(script|style|head)\b.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>?")
HTML_SCAN = 64 << 10  # characters of an HTML page read for its words


def excerpt(text: str, secrets: Secrets) -> str:
    """A short, one-line, secret-free view of an answer's text; of an HTML page (a proxy's
    error page, a login page), its title and words, not its markup."""
    if not _HTML.match(text[:1024]):
        line = " ".join(secrets.masked(text).split())
        if not line:
            return "an empty answer"
        return repr(line[:EXCERPT] + ("..." if len(line) > EXCERPT else ""))
    html = text[:HTML_SCAN]
    found = _TITLE.search(html)
    title = " ".join(found.group(1).split()) if found else ""
    words = " ".join(_TAG.sub(" ", _HIDDEN.sub(" ", html)).split())
    if title and not words.startswith(title):
        words = f"{title}: {words}" if words else title
    line = " ".join(secrets.masked(html_unescape(words)).split())
    if not line:
        return "an HTML page"
    return "an HTML page " + repr(line[:EXCERPT] + ("..." if len(line) > EXCERPT else ""))


def html_unescape(text: str) -> str:
    import html  # only failed answers are shown

    return html.unescape(text)


def optional_link(
    spec: CustomSpec, template: str | None, key: str, ctx: TemplateContext, secrets: Secrets
) -> str | None:
    """A ThumbnailURL or DeletionURL: absent when the answer lacks what it names (a ``-v``
    line says so), or when it does not render to an http(s) URL."""
    if not template:
        return None
    try:
        value = render(template, ctx, source=spec.source, key=key).strip()
    except TemplateError as exc:
        log.info("%s (no %s recorded)", secrets.masked(exc.message), key)
        return None
    if not is_web_url(value):
        log.info(
            "%s: %s: %s is not an http(s) URL (not recorded)",
            spec.source,
            key,
            excerpt(value, secrets),
        )
        return None
    return value


def error_for(
    spec: CustomSpec,
    response: httpx.Response,
    ctx: TemplateContext,
    secrets: Secrets,
    refusal: Refusal | None,
    *,
    action: str,
    label: str,
) -> UploaderError:
    """The UploaderError of a non-2xx answer (``label``: the host as messages name it)."""
    status = response.status_code
    detail = None
    if spec.error_message:
        try:
            rendered = render(spec.error_message, ctx, source=spec.source, key="ErrorMessage")
            detail = excerpt(rendered, secrets) if rendered.strip() else None
        except TemplateError:
            detail = None
    if detail is None:
        detail = excerpt(response.text, secrets)
    said = f"{label} refused the {action}: {detail} (HTTP {status})"
    if refusal is not None:
        return RateLimitError(
            f"{label} refused the {action}: rate limit reached: {detail} (HTTP {status})",
            hint="see `uploader limits` for what the host said of its budget",
            retry_after=refusal.retry_after,
            from_server=True,
        )
    if status in (401, 403) or (
        400 <= status < 500 and status != 413 and REJECTED_CREDENTIAL.search(detail)
    ):
        names = [n for n in secrets.values if not n.startswith("literal_")]
        if len(names) < len(secrets.values) and not names:
            hint = (
                f"check the key written in {spec.source}, or move it to the credential "
                "store: `uploader config import-sxcu FILE --force`"
            )
        elif names:
            hint = (
                "check the secret "
                + ", ".join(names)
                + ": "
                + set_hint(secrets.profile, secrets.env_prefix, names[0])
            )
        else:
            hint = "the definition sends no secret: add {secret:NAME} where the host wants a key"
        return AuthError(f"{label} rejected the credentials: {detail} (HTTP {status})", hint=hint)
    if status == 413:
        return InputFileError(
            f"{label} refused the {action}: the file is too large (HTTP 413)",
            hint="make it smaller (--fit, --max-dimension PX, --convert jpeg), and set "
            "max_file_size in the profile to the host's limit",
        )
    if status >= 500:
        return ServerError(said, status=status)
    return ProviderError(said, status=status)
