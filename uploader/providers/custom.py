"""Any host with a ShareX custom uploader definition (``kind = "custom"``, issue 17).

The profile's definition (an ``.sxcu`` file or the same keys inline, located by
``config/custom.py`` and checked by ``providers/sxcu.py``) says how to send a file and how to
read the answer; the requests and answers themselves are in ``custom_request.py``. Every
request goes through the profile's :class:`ApiSession` (limiter, retries, error
translation) and costs one credit of the host's one bucket, ``requests``, whose size the
host's rate-limit headers tell (``Retry-After``, ``RateLimit``, ``X-RateLimit-*``:
``ratelimit/headers.py``). Secrets are written ``{secret:NAME}`` in the definition and
resolved like every credential (``UPLOADER_<PROFILE>_<NAME>``, then the credential store).
A custom host has no listing: a lost answer is ambiguous, never re-sent silently.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urljoin, urlsplit

from uploader.auth.credentials import Credential, resolve_secret
from uploader.config.options import CUSTOM_MAX_FILE_SIZE
from uploader.errors import (
    AuthError,
    ConfigError,
    ProviderError,
    UnreadableAnswerError,
    UsageError,
)
from uploader.imaging.inspect import EXTENSIONS
from uploader.models import BucketUpdate, ImageFile, MediaInfo, Pending, UploadOptions, UploadResult
from uploader.providers.base import GATEWAY_TIMEOUTS, Limits, ProviderContext, check_limits
from uploader.providers.custom_request import (
    Secrets,
    answer_of,
    error_for,
    excerpt,
    literal_secrets,
    optional_link,
    request_context,
    secret_names,
    send_upload,
    set_hint,
)
from uploader.providers.links import is_web_url
from uploader.providers.recovery import RunClaims, Window
from uploader.ratelimit.limiter import BucketSpec, Refusal

if TYPE_CHECKING:
    import httpx

    from uploader.config.settings import Profile
    from uploader.providers.sxcu import CustomSpec
    from uploader.providers.sxcu_template import TemplateContext

log = logging.getLogger("uploader.providers.custom")

COST = {"requests": 1}
SCHEME = "Custom"  # the Credential of a custom profile: its host and secrets, never sent as is
IMAGE_TYPES = frozenset(t for t in EXTENSIONS if t.startswith("image/"))
VIDEO_TYPES = frozenset(t for t in EXTENSIONS if t.startswith("video/"))
_SPECS: dict[int, tuple[Profile, CustomSpec]] = {}


def spec_of(profile: Profile) -> CustomSpec:
    """The checked definition of a custom profile (checked once per profile and process);
    SxcuError (exit 2, naming the file or the config table, and the key) when unusable."""
    cached = _SPECS.get(id(profile))
    if cached is not None and cached[0] is profile:
        return cached[1]
    if profile.problem is not None:
        raise profile.problem
    if profile.definition is None:
        raise ConfigError(f"profile {profile.name!r} has no custom uploader definition")
    from uploader.providers.sxcu import parse_sxcu

    sxcu = profile.option("sxcu")
    stem = Path(str(sxcu)).stem if sxcu else profile.name
    spec = parse_sxcu(profile.definition, profile.source, default_name=stem)
    _SPECS[id(profile)] = (profile, spec)
    for notice in spec.notices:  # unknown keys, a newer version...: said, not ignored
        log.warning("%s", notice)
    return spec


class CustomProvider:
    """Uploads, and deletes, through a ShareX custom uploader definition."""

    kind: ClassVar[str] = "custom"
    display_name: ClassVar[str] = "custom host"

    def __init__(self, context: ProviderContext) -> None:
        self.profile = context.profile
        self.spec = spec_of(self.profile)
        self.credential = context.credential
        self.clock = context.clock
        self.host = urlsplit(self.profile.base_url).netloc
        self.label = f"{self.host} ({self.profile.name})"
        known = secrets_of(context.credential)
        for name, value in literal_secrets(self.spec).items():
            known.setdefault(name, value)
        self.secrets = Secrets(
            known,
            context.credential.source,
            self.profile.name,
            self.profile.env_prefix,
        )
        self.session = context.session(self.rate_updates, self.rate_refusal)

    @classmethod
    def bucket_specs(cls, profile: Profile) -> Sequence[BucketSpec]:
        """One bucket per host, ``requests``: its size is unknown until the host says
        (no default limit: nothing is held back on a made-up number); a reset or a pause
        the host asks for may lie up to a day ahead."""
        host = urlsplit(profile.base_url).netloc or profile.name
        return (BucketSpec("requests", f"requests to {host}", None, 86400.0),)

    @classmethod
    def resolve_credential(cls, profile: Profile, env: Mapping[str, str]) -> Credential:
        """The host and the secrets the definition names (``{secret:NAME}``), each from
        ``UPLOADER_<PROFILE>_<NAME>`` or the credential store; none: anonymous. Its
        identity (the rate-limit state's key) is stable per host and secrets."""
        spec = spec_of(profile)
        values: dict[str, str] = {}
        sources: list[str] = []
        for name in secret_names(spec):
            found = resolve_secret(profile, name, env)
            if found is None:
                raise AuthError(
                    f"profile {profile.name!r} has no secret {name!r} "
                    f"(its definition sends {{secret:{name}}})",
                    hint=set_hint(profile.name, profile.env_prefix, name),
                )
            values[name] = found[0]
            if found[1] not in sources:
                sources.append(found[1])
        packed = json.dumps({"host": profile.base_url, "secrets": values}, separators=(",", ":"))
        return Credential(SCHEME, packed, ", ".join(sources) or "none (anonymous)")

    def limits(self) -> Limits:
        """Images for an image uploader; images and videos for a file uploader; at most
        ``max_file_size`` bytes (default 100 MiB: a guard, the host's own limit unknown)."""
        size = int(self.profile.option("max_file_size", CUSTOM_MAX_FILE_SIZE))
        types = IMAGE_TYPES
        if "FileUploader" in self.spec.destination_types:
            types = IMAGE_TYPES | VIDEO_TYPES
        return Limits(mime_types=types, max_image_size=size, max_video_size=size)

    def upload(
        self, image: ImageFile, options: UploadOptions, *, pending: Pending = 1
    ) -> UploadResult:
        """Send the file as the definition says and read the links from the answer: the
        URL must be an http(s) URL, or the upload failed (never "uploaded" with garbage)."""
        check_limits(image, self.limits(), self.label)
        ctx = request_context(image.filename, self.secrets)
        response = send_upload(
            self.session, self.spec, image, ctx, self.secrets, costs=COST, pending=pending
        )
        answer_ctx = _with_answer(ctx, response)
        if 300 <= response.status_code < 400:
            answer_ctx = self._redirected(answer_ctx, response)
        elif response.status_code in GATEWAY_TIMEOUTS:
            # A proxy in front of the host (nginx, Cloudflare) stopped waiting: the host
            # got the whole file and may have stored it. Retrying would re-send it
            # silently: it is an answer that cannot be read (ambiguous, kept as such).
            raise UnreadableAnswerError(
                f"{self.label}: a gateway in front of the host stopped waiting for its "
                f"answer (HTTP {response.status_code}): " + excerpt(response.text, self.secrets),
                hint="look for it on the host before sending it again",
                status=response.status_code,
            )
        elif not 200 <= response.status_code < 300:
            raise error_for(
                self.spec,
                response,
                answer_ctx,
                self.secrets,
                self.rate_refusal(response),
                action="upload",
                label=self.label,
            )
        url = self._link(answer_ctx, response)
        thumb = optional_link(
            self.spec, self.spec.thumbnail_url, "ThumbnailURL", answer_ctx, self.secrets
        )
        if thumb is not None and self.secrets.holds_one(thumb):
            thumb = None
        deletion = optional_link(
            self.spec, self.spec.deletion_url, "DeletionURL", answer_ctx, self.secrets
        )
        return UploadResult(
            path=image.label,
            provider=self.profile.name,
            status="uploaded",
            id=_last_segment(url),
            url=url,
            delete_id=self.secrets.as_refs(deletion) if deletion else None,
            extra=(("thumbnail", thumb),) if thumb else (),
        )

    def _redirected(self, ctx: TemplateContext, response: httpx.Response) -> TemplateContext:
        """An upload answered with a redirect: the host took the file and sends the browser
        on (Chevereto's ``format=redirect``; ShareX follows it, and ``{responseurl}`` is where
        it lands). Not followed: the templates read the redirect itself, ``{responseurl}``
        being its ``Location``. One that would re-send the body (307, 308), or that goes
        nowhere, is unreadable: the file may exist, so it is never re-sent silently."""
        status = response.status_code
        location = (response.headers.get("location") or "").strip()
        target = ""
        if status in (301, 302, 303) and location:
            try:
                target = urljoin(str(response.url), location)
            except ValueError:
                target = ""
        if not is_web_url(target):
            raise UnreadableAnswerError(
                f"{self.label} answered the upload with a redirect (HTTP {status}) "
                + ("that re-sends the file elsewhere" if status in (307, 308) else "to no link")
                + ", not followed",
                hint="check the definition's RequestURL (and a format=redirect argument)",
                status=status,
            )
        return replace(ctx, answer=replace(answer_of(response), url=target))

    def _link(self, ctx: TemplateContext, response: httpx.Response) -> str:
        """The upload's URL: the URL template rendered against the answer (none: the whole
        answer, trimmed, as ShareX). A 2xx whose link cannot be read is unreadable, not a
        refusal: the host most likely stored the file (the pipeline reports it ambiguous,
        never sent again silently)."""
        from uploader.providers.sxcu_template import TemplateError, render

        try:
            if self.spec.url:
                url = render(self.spec.url, ctx, source=self.spec.source, key="URL").strip()
            else:
                url = response.text.strip()
        except TemplateError as exc:
            raise UnreadableAnswerError(
                self.secrets.masked(exc.message),
                hint="check the definition's URL template against what the host answers",
                status=response.status_code,
            ) from exc
        if not is_web_url(url) or self.secrets.holds_one(url):
            raise UnreadableAnswerError(
                f"{self.spec.source}: URL: the answer gave {excerpt(url, self.secrets)}, "
                "not an http(s) URL",
                hint="check the definition's URL template against what the host answers",
                status=response.status_code,
            )
        return url

    def rate_updates(self, response: httpx.Response) -> list[BucketUpdate]:
        """Whatever rate-limit headers the host sends (``ratelimit/generic.py``); a count
        that comes without a reset is not used (:func:`counted_with_reset`)."""
        from uploader.ratelimit.generic import counted_with_reset, generic_updates

        updates = generic_updates(response.headers, self.clock(), bucket="requests")
        return counted_with_reset(updates)

    def rate_refusal(self, response: httpx.Response) -> Refusal | None:
        """A 429 (or a 503 with a wait), with the wait its headers give."""
        from uploader.ratelimit.generic import generic_refusal

        return generic_refusal(
            response.status_code,
            response.headers,
            response.content[:2048].decode("utf-8", "replace"),
            self.clock(),
        )

    def can_find_uploads(self) -> bool:
        return False

    def find_upload(
        self, image: ImageFile, *, window: Window, claims: RunClaims
    ) -> UploadResult | None:
        raise UsageError(f"{self.label}: custom hosts have no listing of uploads")

    def live_limits(self) -> list[BucketUpdate]:
        raise UsageError(
            f"{self.label}: custom hosts have no live rate-limit check",
            hint="`uploader limits` shows what the host's last answer said",
        )

    def info(self, media_id: str) -> MediaInfo:
        raise UsageError(f"{self.label}: custom hosts have no metadata lookup")

    def list_uploads(self, page: int) -> list[MediaInfo]:
        raise UsageError(
            f"{self.label}: custom hosts have no listing of uploads",
            hint="`uploader history -p " + self.profile.name + "` shows what was sent",
        )

    def delete(self, ref: str) -> str:
        """Request a deletion URL (ShareX opens it in a browser: a GET): the history's
        delete id (``{secret:NAME}`` put back), or a URL the user gives, on the profile's
        host. A 404 is "already gone" (``status`` 404)."""
        if not self.spec.deletion_url:
            raise UsageError(
                f"{self.label}: the definition has no DeletionURL: nothing to delete with",
                hint="delete the upload on the host's own page",
            )
        url = self.secrets.resolve_refs(ref.strip())
        shown = self.secrets.as_refs(url)
        if not is_web_url(url) or not self._on_host(url):
            raise UsageError(
                f"{self.secrets.masked(ref)!r} is not a deletion URL on {self.host}",
                hint="give the DeletionURL of an upload to this profile, or the uploaded "
                "file (`uploader delete FILE -p " + self.profile.name + "`)",
            )
        response = self.session.request("GET", url, costs=COST, shown_url=shown)
        if response.status_code == 404:
            raise ProviderError(
                f"{self.label}: {shown} is not there (HTTP 404): already deleted?", status=404
            )
        if 300 <= response.status_code < 400:
            # A browser would follow it (to the host's page, or to a login form): whether
            # the upload is gone is not known. Neither "deleted" nor "refused".
            raise ProviderError(
                f"{self.label} answered the delete of {shown} with a redirect "
                f"(HTTP {response.status_code}), not followed: whether it is deleted is "
                "not known",
                hint="open the deletion URL in a browser to see",
                status=response.status_code,
            )
        if not 200 <= response.status_code < 300:
            ctx = _with_answer(request_context("", self.secrets), response)
            raise error_for(
                self.spec,
                response,
                ctx,
                self.secrets,
                self.rate_refusal(response),
                action="delete",
                label=self.label,
            )
        return f"deleted {shown} on {self.host}"

    def _on_host(self, url: str) -> bool:
        mine, theirs = urlsplit(self.profile.base_url), urlsplit(url)
        if (theirs.hostname or "").lower() != (mine.hostname or "").lower():
            return False
        return theirs.scheme in ("https", mine.scheme)


def secrets_of(credential: Credential) -> dict[str, str]:
    """The secrets a custom profile's credential carries (none for another credential)."""
    if credential.scheme != SCHEME:
        return {}
    try:
        packed = json.loads(credential.secret)
        found = packed["secrets"]
    except (ValueError, KeyError, TypeError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _with_answer(ctx: TemplateContext, response: httpx.Response) -> TemplateContext:
    """``ctx`` for the answer side: the same, plus what the answer offers."""
    return replace(ctx, answer=answer_of(response))


def _last_segment(url: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    return path.rsplit("/", 1)[-1] or urlsplit(url).netloc
