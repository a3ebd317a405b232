"""Mastodon and compatible servers (reference section 3).

Every call sends ``Authorization: Bearer <token>`` to ``{base_url}``, the user's own server
(``https://mastodon.social`` is only a placeholder default: set ``base_url``). Media goes to
``POST /api/v2/media``, which answers 200 when the file is processed or 202 with ``url: null``
while it is queued; then ``GET /api/v1/media/{id}`` answers 206 until it is done (reference
3.4). Rate limits come from the ``X-RateLimit-*`` headers, which describe whichever throttle
is closest to exhaustion: 300 per 5 min per token, or 30 media uploads per 30 min (3.7).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from uploader.auth.credentials import Credential
from uploader.errors import (
    NetworkError,
    ProviderError,
    UnreadableAnswerError,
    UploaderError,
    UsageError,
)
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
    Limits,
    ProviderContext,
    auth_headers,
    bearer_credential,
    check_limits,
    gateway_timeout,
    post_file,
    refusal_on_429,
)
from uploader.providers.links import in_path, text_of, web_link
from uploader.providers.mastodon_errors import error_for, read_failure
from uploader.providers.mastodon_media import (
    MIME_TYPES,
    description_limit,
    limits_from_instance,
    media_extra,
    media_info,
    media_ref,
    mime_of,
)
from uploader.providers.mastodon_posts import only_media, post_id, request_updates
from uploader.providers.mastodon_status import idempotency_key, post_status, status_form
from uploader.ratelimit.limiter import BucketSpec, Refusal

if TYPE_CHECKING:
    import httpx

    from uploader.config.settings import Profile
    from uploader.providers.recovery import RunClaims, Window

log = logging.getLogger("uploader.mastodon")

UPLOAD_COST = {"api": 1, "media": 1}
API_COST = {"api": 1}
MiB = 1024 * 1024
POLL_FIRST, POLL_CAP = 0.5, 5.0  # seconds between media polls: doubling, capped
MAX_POLLS = 120


class MastodonProvider:
    """Media uploads (and optional posts) to any Mastodon-compatible server."""

    kind: ClassVar[str] = "mastodon"
    display_name: ClassVar[str] = "Mastodon"

    def __init__(self, context: ProviderContext) -> None:
        self.profile = context.profile
        self.credential = context.credential
        self.clock = context.clock
        self.sleep = context.sleep
        self.cache = context.cache
        self.session = context.session(self.rate_updates, self.rate_refusal)
        self._limits: Limits | None = None
        self._alt_limit: int | None = None  # the server's description_limit, when it says
        self._token_var = self.profile.env_prefix + "ACCESS_TOKEN"

    def _headers(self) -> dict[str, str]:
        return auth_headers(self.credential)

    @classmethod
    def bucket_specs(cls, profile: Profile) -> Sequence[BucketSpec]:
        return (
            BucketSpec("api", "Mastodon API (per token)", 300, 300.0),
            BucketSpec("media", "Mastodon media uploads", 30, 1800.0),
        )

    @classmethod
    def resolve_credential(cls, profile: Profile, env: Mapping[str, str]) -> Credential:
        """A user token: uploads need a user."""
        return bearer_credential(
            profile,
            env,
            "Mastodon",
            "on your server: Preferences > Development > New application, scopes "
            "write:media write:statuses read:accounts",
        )

    def limits(self) -> Limits:
        """The server's accepted types and sizes (``GET /api/v2/instance``), once per process.

        Anything the server does not say (old or non-Mastodon servers, errors, no network)
        falls back to the documented defaults and the profile's max_*_size: never fatal.
        """
        if self._limits is None:
            image = int(self.profile.option("max_image_size", 16 * MiB))
            video = int(self.profile.option("max_video_size", 99 * MiB))
            try:
                response = cached_get(
                    self.session,
                    self.cache,
                    f"{self.profile.base_url}/api/v2/instance",
                    identity=self.credential.identity,
                    costs=API_COST,
                    headers=self._headers(),
                )
            except UploaderError as exc:
                log.debug("instance limits unavailable (%s); using defaults", exc.message)
                response = None
            self._limits = limits_from_instance(response, Limits(MIME_TYPES, image, video))
            self._alt_limit = description_limit(response)
        return self._limits

    def upload(
        self, image: ImageFile, options: UploadOptions, *, pending: Pending = 1
    ) -> UploadResult:
        """``POST /api/v2/media`` (description = alt text), waiting out processing; with
        ``options.post``, publish it in a status too. The printed link is the media URL.
        """
        check_limits(image, self.limits(), self.display_name)
        data: dict[str, str] = {}
        alt = options.description or options.title
        if alt and self._alt_limit is not None and len(alt) > self._alt_limit:
            raise UsageError(
                f"the description (alt text) has {len(alt)} characters; "
                f"{self.profile.base_url} accepts at most {self._alt_limit}",
                hint="shorten --description (or --title, sent when there is no description)",
            )
        if alt:
            data["description"] = alt
        if options.focus:
            data["focus"] = options.focus
        response = post_file(
            self.session,
            f"{self.profile.base_url}/api/v2/media",
            "file",
            image,
            data=data,
            costs=UPLOAD_COST,
            headers=self._headers(),
            pending=pending,
        )
        gateway_timeout(response, self.display_name)
        media = self._object(response, "upload", None)
        media_id = text_of(media.get("id"))
        if not media_id:  # a 2xx: the media was created, but cannot be named
            raise UnreadableAnswerError(
                "Mastodon reported success but sent no media id", status=response.status_code
            )
        if response.status_code == 202 or not web_link(media.get("url")):
            try:
                media = self._wait_processed(media_id)
            except UploaderError as exc:  # the media exists: the file's record keeps it
                exc.created_id = exc.created_delete_id = media_id
                raise
        url = str(web_link(media.get("url")))
        mime = mime_of(url) or image.mime_type
        extra: list[tuple[str, str | int]] = [("type", mime), *media_extra(media)]
        if options.post:
            extra.append(("status_url", self._post(media_id, options)))
        return UploadResult(
            path=image.label,
            provider=self.profile.name,
            status="uploaded",
            id=media_id,
            url=url,
            delete_id=media_id,
            extra=tuple(extra),
        )

    def _wait_processed(self, media_id: str) -> dict[str, Any]:
        """Poll ``GET /api/v1/media/{id}`` until 200 with a URL (206 means still processing).

        Waits 0.5 s, then doubling up to 5 s, for at most ``poll_timeout`` s (default 60) and
        MAX_POLLS polls; the last poll is made at the deadline itself. Transient answers
        (5xx, 429, lost connections) are polled through: the media exists, so failing here
        must not make the caller upload it again.
        """
        timeout = float(self.profile.option("poll_timeout", 60.0))
        url = f"{self.profile.base_url}/api/v1/media/{media_id}"
        started, slept, delay = self.clock(), 0.0, POLL_FIRST
        for _ in range(MAX_POLLS):
            left = timeout - max(self.clock() - started, slept)
            if left <= 0:
                break
            # The last wait is cut to the deadline, so the last poll happens at it.
            wait = min(delay, left)
            self.sleep(wait)
            slept += wait
            delay = min(delay * 2, POLL_CAP)
            try:
                response = self.session.request("GET", url, costs=API_COST, headers=self._headers())
            except NetworkError as exc:
                log.debug("media %s poll failed (%s); polling on", media_id, exc.message)
                continue
            status = response.status_code
            if status == 200:
                try:
                    media = self._object(response, "processing check", media_id)
                except UnreadableAnswerError as exc:  # a cut answer: as transient as a 503
                    log.debug("media %s poll unreadable (%s); polling on", media_id, exc.message)
                    continue
                if web_link(media.get("url")):
                    return media
            elif status == 422:
                raise ProviderError(
                    f"Mastodon could not process media {media_id}: "
                    f"{read_failure(response).message or 'no reason given'} (HTTP 422)",
                    status=status,
                    hint="the file may be damaged or in a form the server cannot convert",
                )
            elif status not in (206, 429) and status < 500:
                raise self._error(response, "processing check", media_id)
        waited = max(self.clock() - started, slept)
        raise ProviderError(
            f"Mastodon was still processing media {media_id} after {waited:.0f} s",
            hint=f"it may finish later: see `uploader info {media_id}`; raise poll_timeout "
            "in the profile to wait longer",
        )

    def _post(self, media_id: str, options: UploadOptions) -> str:
        """``POST /api/v1/statuses`` with the media; the status URL (see mastodon_status)."""
        text = options.status or ""
        visibility = options.visibility or self.profile.option("visibility")
        form = status_form(media_id, text, str(visibility) if visibility else None)
        headers = {**self._headers(), "Idempotency-Key": idempotency_key(media_id, text)}
        url = f"{self.profile.base_url}/api/v1/statuses"

        def send() -> dict[str, Any]:
            response = self.session.request("POST", url, costs=API_COST, headers=headers, data=form)
            return self._object(response, "post", None)

        return post_status(send, media_id, self.sleep)

    def can_find_uploads(self) -> bool:
        """Mastodon keeps no list of a user's uploaded media."""
        return False

    def find_upload(
        self, image: ImageFile, *, window: Window, claims: RunClaims
    ) -> UploadResult | None:
        return None

    def live_limits(self) -> list[BucketUpdate]:
        """``GET /api/v1/accounts/verify_credentials``: cheap, checks the token, has headers."""
        response = self.session.request(
            "GET",
            f"{self.profile.base_url}/api/v1/accounts/verify_credentials",
            costs=API_COST,
            headers=self._headers(),
        )
        self._object(response, "token check", None)
        return self.rate_updates(response)

    def info(self, media_id: str) -> MediaInfo:
        """``GET /api/v1/media/{id}`` through the cache (authed answers are ``no-store``,
        so in practice this is a fresh GET each time). Only unattached media is found;
        a post's link gives the post's one media, read from the post itself.
        """
        post = self._post_media(media_id)
        if post is not None:
            return media_info(post[1], post[2], self.profile.name)
        target = media_ref(media_id, self.profile.base_url)
        response = cached_get(
            self.session,
            self.cache,
            self._media_url(target),
            identity=self.credential.identity,
            costs=API_COST,
            headers=self._headers(),
        )
        return media_info(self._object(response, "lookup", target), response, self.profile.name)

    def list_uploads(self, page: int) -> list[MediaInfo]:
        raise UsageError(
            "Mastodon has no list of uploaded media",
            hint="media you posted is on your profile page; unattached media can be looked up "
            "by id with `uploader info ID`",
        )

    def delete(self, ref: str) -> str:
        """``DELETE /api/v1/media/{id}`` (Mastodon 4.4+; only media not attached to a post).

        A post's link (printed by ``upload --post``) deletes that post and its one media:
        ``DELETE /api/v1/statuses/{id}?delete_media=true`` (attached media has no delete).
        """
        post = self._post_media(ref)
        if post is not None:
            return self._delete_post(post[0], str(post[1]["id"]))
        target = media_ref(ref, self.profile.base_url)
        response = self.session.request(
            "DELETE", self._media_url(target), costs=API_COST, headers=self._headers()
        )
        status = response.status_code
        if status in (404, 422):
            reason = read_failure(response).message or "no reason given"
            raise ProviderError(
                f"Mastodon cannot delete media {target}: {reason} (HTTP {status})",
                status=status,
                hint="only your own media that is not attached to a post can be deleted "
                "(give the post's link, `status_url`, to delete the post); servers before "
                "Mastodon 4.4 cannot delete media",
            )
        self._object(response, "delete", target)
        if self.cache is not None:
            self.cache.invalidate(self._media_url(target), self.credential.identity)
        return f"deleted Mastodon media {target}"

    def _post_media(self, ref: str) -> tuple[str, dict[str, Any], httpx.Response] | None:
        """For a post's link: (status id, its one media, the answer); None for other refs."""
        status_id = post_id(ref, self.profile.base_url)
        if status_id is None:
            return None
        url = f"{self.profile.base_url}/api/v1/statuses/{in_path(status_id)}"
        response = self.session.request("GET", url, costs=API_COST, headers=self._headers())
        if response.status_code == 404:
            raise self._no_post(response, status_id)
        return status_id, only_media(self._object(response, "post lookup", None), ref), response

    def _delete_post(self, status_id: str, media_id: str) -> str:
        url = f"{self.profile.base_url}/api/v1/statuses/{in_path(status_id)}"
        response = self.session.request(
            "DELETE", url, costs=API_COST, headers=self._headers(), params={"delete_media": "true"}
        )
        if response.status_code == 404:
            raise self._no_post(response, status_id)
        self._object(response, "delete", None)
        return f"deleted Mastodon post {status_id} and its media {media_id}"

    @staticmethod
    def _no_post(response: httpx.Response, status_id: str) -> ProviderError:
        reason = read_failure(response).message or "no reason given"
        return ProviderError(
            f"Mastodon has no such post {status_id}: {reason} (HTTP 404)",
            status=404,
            hint="the post may have been deleted, or is not visible to this account",
        )

    def _media_url(self, target: str) -> str:
        return f"{self.profile.base_url}/api/v1/media/{in_path(target)}"

    def _error(self, response: httpx.Response, action: str, media_id: str | None) -> UploaderError:
        return error_for(
            response, action=action, media_id=media_id, token_var=self._token_var, now=self.clock()
        )

    def _object(
        self, response: httpx.Response, action: str, media_id: str | None
    ) -> dict[str, Any]:
        if not 200 <= response.status_code < 300:
            raise self._error(response, action, media_id)
        body = json_body(response, self.display_name, action)
        if not isinstance(body, dict):
            raise ProviderError(
                f"Mastodon answered the {action} with unexpected JSON (not an object)",
                status=response.status_code,
            )
        return body

    def rate_refusal(self, response: httpx.Response) -> Refusal | None:
        """A 429, with the wait a proxy's Retry-After or the message text gives (3.7)."""
        return refusal_on_429(response, self.clock())

    def rate_updates(self, response: httpx.Response) -> list[BucketUpdate]:
        """The ``X-RateLimit-*`` headers as an api or media bucket update
        (mastodon_posts.request_updates: a status post's and delete's are no bucket's)."""
        try:
            request = response.request
        except RuntimeError:
            return []
        return request_updates(request.method, request.url.path, response.headers, self.clock())
