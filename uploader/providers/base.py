"""The Provider protocol, and the plain functions providers share.

A provider is a small class bound to one profile and one :class:`ApiSession`. It knows its
endpoints, its request costs, how to read its rate-limit headers and how to turn its
responses (and its many error shapes) into results or :class:`UploaderError` values.
Everything it is given comes in one value, a :class:`ProviderContext`, built in
``commands/runtime.py``. Providers satisfy :class:`Provider` structurally and subclass
nothing: what they share (the session, the Authorization headers, streaming a file in a
multipart POST, reading a 429's wait hint, the local size and type checks) are functions
here that take what they need. Provider modules must not import httpx at import time
(startup matters for hotkeys).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, ClassVar, NamedTuple, Protocol

from uploader.auth.credentials import Credential, resolve_secret
from uploader.errors import AuthError, InputFileError, UnreadableAnswerError
from uploader.http.client import LowSpeed
from uploader.http.session import ApiSession, RefusalReader, UpdatesParser
from uploader.imaging.content import open_sent
from uploader.ratelimit.headers import retry_after_seconds, wait_hint_seconds
from uploader.ratelimit.limiter import Refusal

if TYPE_CHECKING:
    import httpx

    from uploader.config.settings import Profile
    from uploader.http.cache import EtagCache
    from uploader.models import (
        BucketUpdate,
        ImageFile,
        MediaInfo,
        Pending,
        UploadOptions,
        UploadResult,
    )
    from uploader.providers.recovery import RunClaims, Window
    from uploader.ratelimit.limiter import BucketSpec, RateLimiter


@dataclass(frozen=True)
class ProviderContext:
    """Everything a provider is given: its profile, the credential chosen for it, the one
    HTTP client, the profile's shared rate limiter (None: no limits, for tests), the clock,
    ``sleep``, the ETag cache (None: no caching) and the environment (where Imgur's
    refresh finds the client secret and the credential store)."""

    profile: Profile
    credential: Credential
    http: httpx.Client
    limiter: RateLimiter | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    cache: EtagCache | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold secrets
    low_speed: LowSpeed = field(default_factory=LowSpeed)

    def session(self, updates: UpdatesParser, refusal: RefusalReader) -> ApiSession:
        """The provider's session: this client and limiter, with the provider's readers of
        rate-limit headers (``rate_updates``) and of refusals (``rate_refusal``), under the
        low-speed rule of ``[defaults]`` on this clock."""
        return ApiSession(
            self.http,
            self.limiter,
            updates,
            refusal=refusal,
            low_speed=self.low_speed,
            clock=self.clock,
        )


# The extra of an upload found among the account's recent uploads (``find_upload``).
RECOVERED = ("recovered", "found among recent uploads after a lost answer")


class Limits(NamedTuple):
    """What a provider accepts: MIME types and the size limit per family."""

    mime_types: frozenset[str]
    max_image_size: int
    max_video_size: int


class Provider(Protocol):
    """What the pipeline and the commands need from a provider.

    Construction: ``cls(context)``. The provider builds its own :class:`ApiSession`
    (exposed as ``session``) with ``context.session(self.rate_updates, self.rate_refusal)``;
    ``credential`` is the one in use (``context.credential`` at first; Imgur swaps it after
    a refresh). Optional features raise :class:`UsageError` with a clear message where the
    provider has no such thing.
    """

    kind: ClassVar[str]
    display_name: ClassVar[str]
    session: ApiSession
    credential: Credential

    def __init__(self, context: ProviderContext) -> None: ...

    @classmethod
    def bucket_specs(cls, profile: Profile) -> Sequence[BucketSpec]:
        """Every rate-limit bucket this provider has, with its defaults."""
        ...

    @classmethod
    def resolve_credential(cls, profile: Profile, env: Mapping[str, str]) -> Credential:
        """Choose the credential for this profile (raises AuthError when there is none)."""
        ...

    def limits(self) -> Limits:
        """What uploads this profile accepts (checked before any upload request)."""
        ...

    def upload(
        self, image: ImageFile, options: UploadOptions, *, pending: Pending = 1
    ) -> UploadResult:
        """Send one file; ``pending`` is how many uploads the batch still has, this included."""
        ...

    def rate_updates(self, response: httpx.Response) -> list[BucketUpdate]:
        """The bucket updates this response's headers carry (never raises)."""
        ...

    def rate_refusal(self, response: httpx.Response) -> Refusal | None:
        """Whether this answer is a rate-limit refusal (whatever its status), and what it
        tells the limiter; None for any other answer (never raises)."""
        ...

    def can_find_uploads(self) -> bool:
        """Whether :meth:`find_upload` can look through the account's recent uploads."""
        ...

    def find_upload(
        self, image: ImageFile, *, window: Window, claims: RunClaims
    ) -> UploadResult | None:
        """The account's upload of this file, proven (providers/recovery.py): the result;
        None when its absence is proven; AmbiguousUploadError when the listing cannot tell."""
        ...

    def live_limits(self) -> list[BucketUpdate]:
        """One cheap live call that reports the buckets (``uploader limits --refresh``)."""
        ...

    def info(self, media_id: str) -> MediaInfo:
        """Metadata of one uploaded object (ETag-revalidated through the cache)."""
        ...

    def list_uploads(self, page: int) -> list[MediaInfo]:
        """The account's recent uploads, one page (UsageError where there is no list)."""
        ...

    def delete(self, ref: str) -> str:
        """Delete by id, delete hash or URL; returns a one-line description of what it did."""
        ...


def auth_headers(credential: Credential) -> dict[str, str]:
    """The headers of every authenticated call: the credential's Authorization, JSON wanted."""
    return {"Authorization": credential.authorization(), "Accept": "application/json"}


def refusal_on_429(response: httpx.Response, now: float) -> Refusal | None:
    """A 429 is a refusal, nothing else is; its wait is Retry-After, else a hint in the
    message text ("wait 2 minutes")."""
    if response.status_code != 429:
        return None
    wait = retry_after_seconds(response.headers.get("retry-after", ""), now)
    if wait is None:
        wait = wait_hint_seconds(response.content[:2048].decode("utf-8", "replace"))
    return Refusal(retry_after=wait)


# A gateway's timeout (a proxy's or CDN's 504; Cloudflare's 524) after the whole body went:
# the API behind it may have stored the upload. Retrying would re-send it silently.
GATEWAY_TIMEOUTS = frozenset({504, 524})


def gateway_timeout(response: httpx.Response, label: str) -> None:
    """Raise, for an upload answered by a gateway's timeout, an answer that cannot be read
    (the pipeline looks for the upload or calls it ambiguous; never sends it again
    silently); nothing for any other answer."""
    if response.status_code in GATEWAY_TIMEOUTS:
        from uploader.http.translate import describe_body

        raise UnreadableAnswerError(
            f"{label}'s gateway stopped waiting for the upload's answer (HTTP "
            f"{response.status_code}, {describe_body(response)})",
            status=response.status_code,
        )


def post_file(
    session: ApiSession,
    url: str,
    field: str,
    image: ImageFile,
    *,
    headers: Mapping[str, str],
    data: Mapping[str, str],
    costs: Mapping[str, int],
    pending: Pending,
    method: str = "POST",
    params: Mapping[str, str] | None = None,
    shown_url: str | None = None,
) -> httpx.Response:
    """POST ``image`` as multipart ``field`` (or ``method``, with the query ``params``: a
    custom host's definition says which), streamed from disk (httpx reads the file in
    pieces of ``http.client.UPLOAD_READ``: never whole into memory; through
    ``imaging/content.py: open_sent``, which sends exactly the size hashed and cuts the
    body short when the file is no longer the one hashed), or the bytes already read to hash
    it, handed to httpx as they are (no copy). Either way the bytes hashed are the bytes
    sent, and httpx knows the size: the request has a Content-Length (no chunked encoding).
    With metadata stripped (``image.plan``, ``imaging/strip.py``), the body is the plan's
    pieces of those same bytes, cut from the held bytes or read from the file."""

    def send(body: IO[bytes] | bytes) -> httpx.Response:
        extra = {"params": dict(params)} if params else {}
        return session.request(
            method,
            url,
            costs=costs,
            pending=pending,
            shown_url=shown_url,
            **extra,
            headers=dict(headers),
            data=dict(data),
            files={field: (image.filename, body, image.mime_type)},
        )

    if image.data is not None:
        if image.plan is None:
            return send(image.data)
        from uploader.imaging.strip import planned_bytes

        return send(planned_bytes(image.data, image.plan))
    with open_sent(image) as stream:
        return send(stream)  # type: ignore[arg-type]  # read, seek, tell: all httpx uses


def bearer_credential(
    profile: Profile, env: Mapping[str, str], provider: str, hint: str
) -> Credential:
    """The user token of a profile that cannot upload anonymously (Gyazo, Mastodon):
    from the environment, ``access_token_command`` or the credential store."""
    found = resolve_secret(profile, "access_token", env)
    if found is not None:
        return Credential("Bearer", found[0], found[1])
    token_var = profile.env_prefix + "ACCESS_TOKEN"
    raise AuthError(
        f"profile {profile.name!r} has no {provider} access token",
        hint=f"run `uploader auth login {profile.name}`, or set {token_var} ({hint})",
    )


def check_limits(image: ImageFile, limits: Limits, provider: str) -> None:
    """Refuse a file the provider would reject, before any request is spent."""
    if image.mime_type not in limits.mime_types:
        raise InputFileError(
            f"{image.label}: {image.mime_type} files are not accepted by {provider}",
            hint="accepted: " + ", ".join(sorted(limits.mime_types)),
        )
    is_video = image.mime_type.startswith("video/")
    limit = limits.max_video_size if is_video else limits.max_image_size
    if image.sent_size > limit:
        family = "video" if is_video else "image"
        raise InputFileError(
            f"{image.label}: {human_size(image.sent_size)} is over {provider}'s "
            f"{human_size(limit)} {family} limit",
            hint=(
                "--fit re-encodes it to fit (or use --max-dimension PX, --convert jpeg)"
                if family == "image"
                else "shorten or re-encode the video"
            )
            + f", or raise max_{family}_size in the profile if your account allows more",
        )


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover - unreachable
