"""Imgur API v3 (reference section 1).

Anonymous uploads send ``Authorization: Client-ID <client_id>``; with a user token,
``Authorization: Bearer <token>``. ``POST {base_url}/3/image`` takes multipart with the file,
streamed from disk, in the ``image`` (or ``video``) field. An upload costs 10 user and 10
client credits and 1 POST credit; other calls cost 1 credit (reference 1.10).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from uploader.auth.credentials import Credential
from uploader.errors import (
    AuthError,
    ProviderError,
    UnreadableAnswerError,
    UploaderError,
)
from uploader.http.cache import cached_get
from uploader.http.translate import describe_body, json_body
from uploader.models import (
    BucketUpdate,
    ImageFile,
    MediaInfo,
    Pending,
    UploadOptions,
    UploadResult,
)
from uploader.providers import imgur_auth
from uploader.providers.base import (
    RECOVERED,
    Limits,
    ProviderContext,
    auth_headers,
    check_limits,
    gateway_timeout,
    post_file,
)
from uploader.providers.imgur_media import (
    IMAGE_TYPES,
    READ_COST,
    UPLOAD_COST,
    VIDEO_TYPES,
    extra_of,
    imgur_id,
    listed_of,
    media_info,
)
from uploader.providers.links import in_path, text_of, web_link
from uploader.providers.recovery import RunClaims, Window, identify
from uploader.ratelimit.headers import imgur_updates, parse_reset, server_skew
from uploader.ratelimit.limiter import BucketSpec, Refusal

if TYPE_CHECKING:
    import httpx

    from uploader.config.settings import Profile

T = TypeVar("T")

MiB = 1024 * 1024
PER_PAGE = 100  # the most one page holds (reference 1.7)
DEFAULT_PER_PAGE = 50  # what a page holds when perPage is not given (or not honoured)


class ImgurProvider:
    """Uploads and lookups against Imgur API v3 (or the sandbox's ``/imgur``)."""

    kind: ClassVar[str] = "imgur"
    display_name: ClassVar[str] = "Imgur"

    def __init__(self, context: ProviderContext) -> None:
        self.profile = context.profile
        self.credential = context.credential
        self.clock = context.clock
        self.cache = context.cache
        self.env = context.env
        self.session = context.session(self.rate_updates, self.rate_refusal)

    def _headers(self) -> dict[str, str]:
        return auth_headers(self.credential)

    @classmethod
    def bucket_specs(cls, profile: Profile) -> Sequence[BucketSpec]:
        reserve = int(profile.option("reserve_uploads", 10)) * UPLOAD_COST["client"]
        return (
            BucketSpec("user", "Imgur user bucket (per IP)", 500, 3600.0),
            BucketSpec(
                "client", "Imgur client bucket (per app, daily)", 12500, 86400.0, reserve=reserve
            ),
            BucketSpec("post", "Imgur POST bucket (per IP)", 1250, 3600.0),
        )

    @classmethod
    def resolve_credential(cls, profile: Profile, env: Mapping[str, str]) -> Credential:
        """Bearer when a user token is available (unless pinned anonymous), else Client-ID."""
        return imgur_auth.resolve_credential(profile, env)

    def _refresh_if_due(self, *, force: bool = False) -> bool:
        """Refresh a stored token shortly before it expires (or now, after a rejection)."""
        if not self.credential.refreshable:
            return False
        fresh = imgur_auth.refresh_if_due(
            self.profile, self.env, self.credential, self.session.http, self.clock, force=force
        )
        if fresh is None:
            return False
        self.credential = fresh
        return True

    def _authed(self, call: Callable[[], T]) -> T:
        """Run a call with a fresh token; after a rejection (401, or a 403 about the token:
        reference 1.9), refresh once and try again. Other 403s are not AuthErrors."""
        self._refresh_if_due()
        try:
            return call()
        except AuthError:
            if not self._refresh_if_due(force=True):
                raise
        return call()

    def limits(self) -> Limits:
        return Limits(
            mime_types=IMAGE_TYPES | VIDEO_TYPES,
            max_image_size=int(self.profile.option("max_image_size", 20 * MiB)),
            max_video_size=int(self.profile.option("max_video_size", 200 * MiB)),
        )

    def upload(
        self, image: ImageFile, options: UploadOptions, *, pending: Pending = 1
    ) -> UploadResult:
        return self._authed(lambda: self._upload(image, options, pending))

    def info(self, media_id: str) -> MediaInfo:
        imgur_id(media_id, self.profile.base_url)  # a bad id: refused before a refresh
        return self._authed(lambda: self._info(media_id))

    def list_uploads(self, page: int) -> list[MediaInfo]:
        return self._authed(lambda: self._list_uploads(page))

    def delete(self, ref: str) -> str:
        imgur_id(ref, self.profile.base_url)
        return self._authed(lambda: self._delete(ref))

    def _upload(self, image: ImageFile, options: UploadOptions, pending: Pending) -> UploadResult:
        check_limits(image, self.limits(), self.display_name)
        field = "video" if image.mime_type.startswith("video/") else "image"
        data = {"type": "file", "name": image.filename}
        if options.title:
            data["title"] = options.title
        if options.description:
            data["description"] = options.description
        if options.album:
            data["album"] = options.album
        response = post_file(
            self.session,
            f"{self.profile.base_url}/3/image",
            field,
            image,
            data=data,
            costs=UPLOAD_COST,
            headers=self._headers(),
            pending=pending,
        )
        gateway_timeout(response, "Imgur")  # Fastly in front of the API stopped waiting
        info = self._data(response, "upload")
        if not isinstance(info, dict) or web_link(info.get("link")) is None:
            # "success": true says the image was stored; with no usable link to show for
            # it, it is an answer that cannot be read: the pipeline looks for it (or calls
            # it ambiguous), never sends it again silently (UnreadableAnswerError).
            link = info.get("link") if isinstance(info, dict) else None
            error = UnreadableAnswerError(
                "Imgur reported success but sent "
                + ("no image link" if link in (None, "") else "an image link that is not a URL"),
                status=response.status_code,
            )
            if isinstance(info, dict) and text_of(info.get("id")):
                # The image it named exists: the file's record keeps it (info, delete).
                error.created_id = text_of(info.get("id"))
                error.created_delete_id = text_of(info.get("deletehash"))
            raise error
        return self._result(image, info, extra_of(info, ("type", "width", "height")))

    def _result(
        self, image: ImageFile, info: dict[str, Any], extra: tuple[tuple[str, Any], ...]
    ) -> UploadResult:
        """The record of ``image`` uploaded as the image object ``info`` (it has a link)."""
        return UploadResult(
            path=image.label,
            provider=self.profile.name,
            status="uploaded",
            id=text_of(info.get("id")),
            url=str(web_link(info.get("link"))),
            delete_id=text_of(info.get("deletehash")),
            extra=extra,
        )

    def can_find_uploads(self) -> bool:
        """Only a signed-in account has a list of its own uploads."""
        return self.credential.scheme == "Bearer"

    def find_upload(
        self, image: ImageFile, *, window: Window, claims: RunClaims
    ) -> UploadResult | None:
        """The account's upload of this file, proven by every field Imgur keeps (name, size,
        type, width, height, datetime); None when proven absent; otherwise (or when the
        listing cannot be read) AmbiguousUploadError (providers/recovery.py)."""
        if not self.can_find_uploads():
            return None
        response, items = self._recent(0)
        # A server that ignores perPage sends its default page (50, reference 1.7): only a
        # page shorter than that surely holds everything. A page between the two sizes may
        # be cut: the next page says (empty, or short: the rest of it).
        complete = len(items) < DEFAULT_PER_PAGE
        if not complete and len(items) < PER_PAGE:
            more = self._recent(1)[1]
            items = [*items, *more]
            complete = len(more) < DEFAULT_PER_PAGE
        pairs = [(entry, info) for info in items if (entry := listed_of(info)) is not None]
        found = identify(
            image,
            [entry for entry, _ in pairs],
            window=window,
            headers=response.headers,
            local_now=self.clock(),
            claims=claims,
            complete=complete,
            provider=self.display_name,
        )
        if found is None:
            return None
        info = next(info for entry, info in pairs if entry is found)
        return self._result(image, info, (RECOVERED,))

    def _recent(self, page: int) -> tuple[httpx.Response, list[Any]]:
        """One page of the account's uploads, newest first (``GET /3/account/me/images``)."""
        response = self.session.request(
            "GET",
            f"{self.profile.base_url}/3/account/me/images",
            costs=READ_COST,
            headers=self._headers(),
            params={"page": page, "perPage": PER_PAGE},
        )
        items = self._data(response, "recent-uploads lookup")
        if not isinstance(items, list):
            raise ProviderError("Imgur's recent-uploads answer has no list")
        return response, items

    def live_limits(self) -> list[BucketUpdate]:
        """A live reading of the user and client buckets (``GET /3/credits``, free)."""
        response = self.session.request(
            "GET", f"{self.profile.base_url}/3/credits", costs={}, headers=self._headers()
        )
        data = self._data(response, "credits lookup")
        if not isinstance(data, dict):
            raise ProviderError("Imgur's credits answer has no data")
        now = self.clock()

        def num(key: str) -> int | None:
            value = data.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            # json reads 1e400 as inf and NaN as nan: neither is a count (int() would raise).
            return int(value) if -(2**53) < value < 2**53 else None

        # The docs give UserReset as an epoch (server time); small values are read as
        # seconds from now, as in the X-RateLimit-UserReset header (reference 1.8, 1.10).
        user_reset = num("UserReset")
        reset_at = None
        if user_reset is not None:
            reset_at = parse_reset(str(user_reset), now, server_skew(response.headers, now))
        return [
            BucketUpdate("user", num("UserLimit"), num("UserRemaining"), reset_at),
            BucketUpdate("client", num("ClientLimit"), num("ClientRemaining"), None),
        ]

    def _info(self, media_id: str) -> MediaInfo:
        """``GET /3/image/{id}`` through the ETag cache (1 credit, 304s included)."""
        image_id = in_path(imgur_id(media_id, self.profile.base_url))
        response = cached_get(
            self.session,
            self.cache,
            f"{self.profile.base_url}/3/image/{image_id}",
            identity=self.credential.identity,
            costs=READ_COST,
            headers=self._headers(),
        )
        info = self._data(response, "lookup")
        if not isinstance(info, dict):
            raise ProviderError("Imgur's image answer has no data")
        found = media_info(info, response, self.profile.name)
        # An answer without its id (null, missing) is still about the id asked for.
        return found if found.id else replace(found, id=image_id)

    def _list_uploads(self, page: int) -> list[MediaInfo]:
        """``GET /3/account/me/images`` (Bearer only); pages start at 0 (reference 1.7)."""
        if self.credential.scheme != "Bearer":
            # Missing credentials are exit 3 (design section 4), not a usage error.
            raise AuthError(
                f"profile {self.profile.name!r} is anonymous: listing uploads needs a "
                "signed-in Imgur account (anonymous uploads have no list)",
                hint=f"run `uploader auth login {self.profile.name}` or set "
                f"{self.profile.env_prefix}ACCESS_TOKEN",
            )
        response = cached_get(
            self.session,
            self.cache,
            f"{self.profile.base_url}/3/account/me/images",
            identity=self.credential.identity,
            costs=READ_COST,
            headers=self._headers(),
            params={"page": max(0, page)},
        )
        items = self._data(response, "listing")
        if not isinstance(items, list):  # not "no uploads": an answer without its list
            raise ProviderError("Imgur's listing answer has no list", status=200)
        return [media_info(i, response, self.profile.name) for i in items if isinstance(i, dict)]

    def _delete(self, ref: str) -> str:
        """By deletehash (anonymous uploads) or by id (the owner, with a Bearer token)."""
        target = in_path(imgur_id(ref, self.profile.base_url))
        response = self.session.request(
            "DELETE",
            f"{self.profile.base_url}/3/image/{target}",
            costs=READ_COST,
            headers=self._headers(),
        )
        if self._data(response, "delete") is False:  # Basic model: data true (reference 1.5)
            raise ProviderError(
                f'Imgur did not delete image {target}: it answered "data": false (HTTP 200)',
                status=response.status_code,
            )
        if self.cache is not None:
            self.cache.invalidate(
                f"{self.profile.base_url}/3/image/{target}", self.credential.identity
            )
        return f"deleted Imgur image {target}"

    def _data(self, response: httpx.Response, action: str) -> Any:
        """``data`` of a 200 whose envelope says ``"success": true`` (reference 1.2).

        A 200 in one of Imgur's error shapes is that error; a 200 whose JSON is neither
        (no envelope, ``"success": "yes"``) is an answer that cannot be read, as one that
        is not JSON: for an upload, the image may have been stored.
        """
        if response.status_code != 200:
            raise self._failure(response, action)
        body = json_body(response, self.display_name, action)
        if isinstance(body, dict) and body.get("success") is True:
            return body.get("data")
        from uploader.providers.imgur_errors import read_failure  # only on a failure

        if isinstance(body, dict) and read_failure(response) is not None:
            raise self._failure(response, action)
        raise UnreadableAnswerError(
            f"Imgur answered the {action} with HTTP 200 and JSON that is not one of its "
            f'answers (no "success": true; {describe_body(response)})',
            status=response.status_code,
        )

    def _failure(self, response: httpx.Response, action: str) -> UploaderError:
        # Imported on use: the error shapes are needed only when something failed.
        from uploader.providers.imgur_errors import error_for

        return error_for(
            response, action=action, now=self.clock(), rejected_hint=self._rejected_hint()
        )

    def _rejected_hint(self) -> str:
        return imgur_auth.rejected_hint(self.profile, self.credential)

    def rate_refusal(self, response: httpx.Response) -> Refusal | None:
        """Any rate-limit refusal, whatever its status (reference 1.2 #2, 1.10)."""
        if response.status_code < 400:
            return None
        # Imported on use: only a failed answer can be a refusal (see _failure).
        from uploader.providers.imgur_errors import refusal_for

        return refusal_for(response, now=self.clock())

    def rate_updates(self, response: httpx.Response) -> list[BucketUpdate]:
        return imgur_updates(response.headers, self.clock())
