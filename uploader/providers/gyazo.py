"""Gyazo (reference section 2).

Uploads go to a separate host: ``POST {upload_url}/api/upload`` (multipart only, the file in
``imagedata`` with a filename); lookups, listing and deletes go to ``{base_url}/api/images``.
Every call sends ``Authorization: Bearer <token>`` (reference 2.1). Gyazo documents one
budget, 12,500 API requests a day, and sends no rate-limit headers (reference 2.5): the
limiter counts each request locally and learns from 429s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from uploader.auth.credentials import Credential
from uploader.errors import ProviderError, UnreadableAnswerError
from uploader.http.cache import cached_get
from uploader.http.translate import json_body
from uploader.models import (
    BucketUpdate,
    ImageFile,
    MediaInfo,
    Pending,
    UploadOptions,
    UploadResult,
)
from uploader.providers.base import (
    RECOVERED,
    Limits,
    ProviderContext,
    auth_headers,
    bearer_credential,
    check_limits,
    gateway_timeout,
    post_file,
    refusal_on_429,
)
from uploader.providers.gyazo_errors import TOKEN_PAGE, error_for
from uploader.providers.gyazo_media import (
    PageInfo,
    extra_of,
    gyazo_id,
    listed_of,
    media_info,
    thumb_key,
    thumb_key_of,
)
from uploader.providers.links import in_path, text_of, web_link
from uploader.providers.recovery import RunClaims, Window, identify
from uploader.ratelimit.limiter import BucketSpec, Refusal

if TYPE_CHECKING:
    import httpx

    from uploader.config.settings import Profile

COST = {"daily": 1}  # every call counts against the 12,500 a day (reference 2.5)
PER_PAGE = 20
THUMB_PAGES = 5  # a thumb link is looked for among the 500 most recent uploads
MiB = 1024 * 1024
# The API lists no accepted types; these are the still-image formats Gyazo shows. No video.
IMAGE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/tiff", "image/heic"}
)


class GyazoProvider:
    """Uploads and lookups against Gyazo (or the sandbox's ``/gyazo`` and ``/gyazo-upload``)."""

    kind: ClassVar[str] = "gyazo"
    display_name: ClassVar[str] = "Gyazo"

    def __init__(self, context: ProviderContext) -> None:
        self.profile = context.profile
        self.credential = context.credential
        self.clock = context.clock
        self.cache = context.cache
        self.session = context.session(self.rate_updates, self.rate_refusal)
        self.upload_url = str(self.profile.option("upload_url", "https://upload.gyazo.com"))
        self._page: PageInfo | None = None
        # Ids this process uploaded: never "recovered" as another file's lost upload.
        self._uploaded: set[str] = set()

    def _headers(self) -> dict[str, str]:
        return auth_headers(self.credential)

    @classmethod
    def bucket_specs(cls, profile: Profile) -> Sequence[BucketSpec]:
        return (BucketSpec("daily", "Gyazo API requests (daily)", 12500, 86400.0, counted=True),)

    @classmethod
    def resolve_credential(cls, profile: Profile, env: Mapping[str, str]) -> Credential:
        """A user token: Gyazo has no anonymous upload."""
        return bearer_credential(profile, env, "Gyazo", f"create a token at {TOKEN_PAGE}")

    def limits(self) -> Limits:
        size = int(self.profile.option("max_image_size", 10 * MiB))
        return Limits(mime_types=IMAGE_TYPES, max_image_size=size, max_video_size=size)

    def upload(
        self, image: ImageFile, options: UploadOptions, *, pending: Pending = 1
    ) -> UploadResult:
        """``POST {upload_url}/api/upload``; the result's delete id is the image id.

        ``created_at`` is not sent: Gyazo would date the image by the file's mtime, and
        :meth:`find_upload` recognises a lost upload by its server-side time.
        """
        check_limits(image, self.limits(), self.display_name)
        data = self._fields(options)
        response = post_file(
            self.session,
            f"{self.upload_url}/api/upload",
            "imagedata",
            image,
            data=data,
            costs=COST,
            headers=self._headers(),
            pending=pending,
        )
        gateway_timeout(response, "Gyazo")
        info = self._object(response, "upload")
        image_id, url = text_of(info.get("image_id")), web_link(info.get("url"))
        if not image_id or not url:
            # A 200 says the image was stored: without a link to show for it, the answer
            # cannot be read (ambiguous: looked for, never sent again silently).
            error = UnreadableAnswerError(
                "Gyazo reported success but sent no image id or URL", status=response.status_code
            )
            if image_id:  # the image exists: the file's record keeps it (info, delete)
                error.created_id = error.created_delete_id = image_id
            raise error
        return self._result(image, image_id, url, extra_of(info, ("permalink_url", "thumb_url")))

    def _result(
        self, image: ImageFile, image_id: str, url: str, extra: tuple[tuple[str, Any], ...]
    ) -> UploadResult:
        """The record of ``image`` uploaded as ``image_id``, noted as this process's own."""
        self._uploaded.add(image_id)
        return UploadResult(
            path=image.label,
            provider=self.profile.name,
            status="uploaded",
            id=image_id,
            url=url,
            delete_id=image_id,
            extra=extra,
        )

    def _fields(self, options: UploadOptions) -> dict[str, str]:
        """The form fields besides the file (reference 2.2): options first, then the profile."""
        data: dict[str, str] = {}
        if options.title:
            data["title"] = options.title
        if options.description:
            data["desc"] = options.description
        policy = options.access_policy or self.profile.option("access_policy")
        if policy:
            data["access_policy"] = str(policy)
        public = self.profile.option("metadata_is_public")
        if public is not None:
            data["metadata_is_public"] = "true" if public else "false"
        for key in ("referer_url", "app", "collection_id"):
            value = self.profile.option(key)
            if value:
                data[key] = str(value)
        return data

    def can_find_uploads(self) -> bool:
        return True

    def find_upload(
        self, image: ImageFile, *, window: Window, claims: RunClaims
    ) -> UploadResult | None:
        """A lost upload, proven by what Gyazo's listing keeps: the type and the time
        (no name, size or dimensions, reference 2.3), and by being the only unclaimed
        candidate that no other unresolved file of the run matches as well. None when
        proven absent; otherwise AmbiguousUploadError (providers/recovery.py)."""
        response = self.session.request(
            "GET",
            f"{self.profile.base_url}/api/images",
            costs=COST,
            headers=self._headers(),
            params={"page": 1, "per_page": 100},
        )
        items = self._list(response, "recent-uploads lookup")
        paging = PageInfo.from_headers(response.headers)
        pairs = [(entry, item) for item in items if (entry := listed_of(item)) is not None]
        found = identify(
            image,
            [entry for entry, _ in pairs],
            window=window,
            headers=response.headers,
            local_now=self.clock(),
            claims=RunClaims(claims.claimed | self._uploaded, claims.unresolved),
            # The page holds everything when it is shorter than the page size the server
            # says it used (X-Per-Page), or than its default (20) when it does not say,
            # or when it holds the whole count (X-Total-Count).
            complete=len(items) < min(paging.per_page or PER_PAGE, 100)
            or (paging.total is not None and 0 < paging.total <= len(items)),
            provider=self.display_name,
        )
        if found is None:
            return None
        item = next(item for entry, item in pairs if entry is found)
        extra = (*extra_of(item, ("permalink_url", "thumb_url")), RECOVERED)
        return self._result(image, found.id, str(web_link(item.get("url"))), extra)

    def live_limits(self) -> list[BucketUpdate]:
        """Gyazo reports no budget anywhere: the local count is all there is (no request)."""
        return []

    def info(self, media_id: str) -> MediaInfo:
        """``GET {base}/api/images/{id}`` through the ETag cache (a thumb link is looked
        up in the listing first: :meth:`_resolve`)."""
        response = cached_get(
            self.session,
            self.cache,
            self._image_url(self._resolve(media_id)),
            identity=self.credential.identity,
            costs=COST,
            headers=self._headers(),
        )
        return media_info(self._object(response, "lookup"), response, self.profile.name)

    def list_uploads(self, page: int) -> list[MediaInfo]:
        """One page (from 1; lower values mean 1) of 20 images, newest first.

        Old entries of free accounts may lack ``image_id`` and ``url`` (reference 2.3); they
        are kept, with an empty id and no URL. The paging headers are kept for
        :meth:`last_page_info`.
        """
        response = cached_get(
            self.session,
            self.cache,
            f"{self.profile.base_url}/api/images",
            identity=self.credential.identity,
            costs=COST,
            headers=self._headers(),
            params={"page": max(1, page), "per_page": PER_PAGE},
        )
        items = self._list(response, "listing")
        self._page = PageInfo.from_headers(response.headers)
        return [media_info(item, response, self.profile.name) for item in items]

    def last_page_info(self) -> PageInfo | None:
        """Totals of the last :meth:`list_uploads` (None before the first listing)."""
        return self._page

    def delete(self, ref: str) -> str:
        """Delete by image id or by any link of the image (``gyazo.com/<id>``,
        ``i.gyazo.com/<id>.png``, its thumb_url)."""
        target = self._resolve(ref)
        response = self.session.request(
            "DELETE", self._image_url(target), costs=COST, headers=self._headers()
        )
        self._object(response, "delete")
        if self.cache is not None:
            self.cache.invalidate(self._image_url(target), self.credential.identity)
        return f"deleted Gyazo image {target}"

    def _resolve(self, ref: str) -> str:
        """The image id ``ref`` names. A thumb link names none (its token holds a storage
        key): the image whose ``thumb_url`` carries the same token is looked for in the
        account's listing, newest first, at most THUMB_PAGES pages of 100."""
        token = thumb_key(ref, self.profile.base_url)
        if token is None:
            return gyazo_id(ref, self.profile.base_url)
        for page in range(1, THUMB_PAGES + 1):
            response = self.session.request(
                "GET",
                f"{self.profile.base_url}/api/images",
                costs=COST,
                headers=self._headers(),
                params={"page": page, "per_page": 100},
            )
            items = self._list(response, "listing")
            for item in items:
                image_id = text_of(item.get("image_id"))
                if image_id and thumb_key_of(item) == token:
                    return gyazo_id(image_id, self.profile.base_url)
            if len(items) < (PageInfo.from_headers(response.headers).per_page or 100):
                break  # the last page
        raise ProviderError(
            f"Gyazo has no such image: no upload among the account's "
            f"{THUMB_PAGES * 100} most recent has the thumbnail {ref!r}",
            hint="give the image id, its url or its permalink_url",
            status=404,
        )

    def _image_url(self, target: str) -> str:
        return f"{self.profile.base_url}/api/images/{in_path(target)}"

    def _check(self, response: httpx.Response, action: str) -> Any:
        if not 200 <= response.status_code < 300:
            raise error_for(
                response,
                action=action,
                token_var=self.profile.env_prefix + "ACCESS_TOKEN",
                now=self.clock(),
            )
        return json_body(response, self.display_name, action)

    def _object(self, response: httpx.Response, action: str) -> dict[str, Any]:
        body = self._check(response, action)
        if not isinstance(body, dict):
            raise ProviderError(
                f"Gyazo answered the {action} with unexpected JSON (not an object)",
                status=response.status_code,
            )
        return body

    def _list(self, response: httpx.Response, action: str) -> list[dict[str, Any]]:
        body = self._check(response, action)
        if not isinstance(body, list):
            raise ProviderError(
                f"Gyazo answered the {action} with unexpected JSON (not a list)",
                status=response.status_code,
            )
        return [item for item in body if isinstance(item, dict)]

    def rate_refusal(self, response: httpx.Response) -> Refusal | None:
        """A 429, with the wait its Retry-After or message text gives (reference 2.5)."""
        return refusal_on_429(response, self.clock())

    def rate_updates(self, response: httpx.Response) -> list[BucketUpdate]:
        """Gyazo sends no rate-limit headers (reference 2.5): always []."""
        return []
