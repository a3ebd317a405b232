"""Mastodon's media objects and instance limits (reference 3.4, 3.5, 3.6)."""

from __future__ import annotations

import logging
import mimetypes
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from uploader.errors import UsageError
from uploader.http.cache import CACHE_STATUS_HEADER
from uploader.http.translate import json_or_none
from uploader.models import MediaInfo
from uploader.providers.base import Limits
from uploader.providers.links import checked_id, link_path, own_domain, text_of, web_link

if TYPE_CHECKING:
    import httpx

# Reference 3.6: the documented default configuration.media_attachments.
MIME_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/heic",
        "image/heif",
        "image/webp",
        "image/avif",
        "video/webm",
        "video/mp4",
        "video/quicktime",
        "video/ogg",
        "video/x-ms-asf",
        "audio/wave",
        "audio/wav",
        "audio/x-wav",
        "audio/x-pn-wave",
        "audio/vnd.wave",
        "audio/ogg",
        "audio/vorbis",
        "audio/mpeg",
        "audio/mp3",
        "audio/webm",
        "audio/flac",
        "audio/aac",
        "audio/m4a",
        "audio/x-m4a",
        "audio/mp4",
        "audio/3gpp",
    }
)
# Paperclip's id partition in media file URLs: .../media_attachments/files/117/020/.../original/
# (the file, and an image's preview under small/), and a video's or audio's preview:
# .../media_attachments/thumbnails/117/020/.../original/ (issue 11: recorded traffic).
FILES_PATH = re.compile(
    r"/media_attachments/(?:files|thumbnails)/((?:\d{3}/)+)(?:original|small|tiny)/"
)
# A post's link (``status_url``): ``https://host/@user/ID`` or ``/users/user/statuses/ID``.
STATUS_PATH = re.compile(r"/(?:@[^/]+|users/[^/]+/statuses)/(\d+)/?$")
MEDIA_ID = re.compile(r"[A-Za-z0-9_-]+")
log = logging.getLogger("uploader.mastodon")


def media_ref(ref: str, base_url: str) -> str:
    """The media id in a bare id, a URL ending in the id, or a Mastodon media file URL.

    ``https://host/api/v1/media/117020576894251992``, GoToSocial's ``.../<ULID>.jpeg`` and
    ``https://host/system/media_attachments/files/117/020/576/894/251/992/original/x.jpg``
    (whose last segment is a random name: the id is the zero-padded partition), its
    ``.../small/x.png`` preview and a video's ``.../thumbnails/.../original/x.jpg`` preview
    all work. A post's link is refused (UsageError): it names no media (``info`` and
    ``delete`` look the post up first: mastodon_posts).
    """
    what = "a Mastodon media id"
    text = ref.strip()
    # A media file link names its id in its path, and lives on whatever media host the
    # server was set up with (S3, a CDN: the API does not say which), so any https host.
    try:
        partition = FILES_PATH.search(urlsplit(text).path) if "://" in text else None
    except ValueError:  # `http://[::1/x`: link_path says it is no link
        partition = None
    if partition is not None and text.lower().startswith(("https://", "http://")):
        return partition.group(1).replace("/", "").lstrip("0") or "0"
    path = link_path(ref, what, base_url, own_domain(base_url))
    if path is not None:
        if STATUS_PATH.search(path):
            raise UsageError(
                f"{ref!r} is the link of a post, not of a media",
                hint="give the media id (`id` in the upload's JSON) or the media's link (`url`)",
            )
        text = path.rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0]
    # Ids are opaque strings by the API's definition (a real server's: ``post-1a2b.png``).
    return checked_id(text, ref, what)


def limits_from_instance(response: httpx.Response | None, fallback: Limits) -> Limits:
    """``configuration.media_attachments`` of an instance document (reference 3.6).

    No answer, an error status, a body that is not JSON or has no media configuration
    gives ``fallback``; each missing or malformed piece (types, image size, video size)
    falls back on its own. Never raises.
    """
    body = None
    if response is not None and response.status_code == 200:
        body = json_or_none(response)
        if body is None:
            log.debug("instance document is not JSON; using default limits")
    elif response is not None:
        log.debug("instance document: HTTP %s; using default limits", response.status_code)
    config = body.get("configuration") if isinstance(body, dict) else None
    media = config.get("media_attachments") if isinstance(config, dict) else None
    if not isinstance(media, dict):
        return fallback
    types = media.get("supported_mime_types")
    found = (
        frozenset(t for t in types if isinstance(t, str) and t) if isinstance(types, list) else ()
    )
    return Limits(
        frozenset(found) or fallback.mime_types,
        _size(media.get("image_size_limit"), fallback.max_image_size),
        _size(media.get("video_size_limit"), fallback.max_video_size),
    )


def description_limit(response: httpx.Response | None) -> int | None:
    """``configuration.media_attachments.description_limit`` of an instance document
    (reference 3.6: 1500 in the docs, 10000 on 4.6.4); None when it does not say."""
    body = json_or_none(response) if response is not None and response.status_code == 200 else None
    config = body.get("configuration") if isinstance(body, dict) else None
    media = config.get("media_attachments") if isinstance(config, dict) else None
    value = media.get("description_limit") if isinstance(media, dict) else None
    return _size(value, 0) or None


def media_info(media: Mapping[str, Any], response: httpx.Response, provider: str) -> MediaInfo:
    """A MediaAttachment as MediaInfo (``meta.original.size`` is dimensions, not bytes)."""
    url = web_link(media.get("url"))
    meta = media.get("meta")
    original = meta.get("original") if isinstance(meta, dict) else None
    extra = list(media_extra(media))
    if isinstance(original, dict) and original.get("size"):
        extra.append(("dimensions", str(original["size"])))
    if response.status_code == 206 or not url:
        extra.append(("state", "processing"))
    if response.headers.get(CACHE_STATUS_HEADER):
        extra.append(("cache", "revalidated (304)"))
    return MediaInfo(
        id=text_of(media.get("id")) or "",
        url=url,
        provider=provider,
        mime_type=mime_of(url),
        description=text_of(media.get("description")),
        delete_id=text_of(media.get("id")),
        extra=tuple(extra),
    )


def media_extra(media: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Mastodon's own ``type`` (image, gifv, video, audio) as ``media_type`` and the
    ``preview_url``: in every record ``type`` is a MIME type, whatever the provider."""
    pairs = (("media_type", media.get("type")), ("preview_url", media.get("preview_url")))
    return tuple((key, str(value)) for key, value in pairs if value)


def mime_of(url: str | None) -> str | None:
    """The MIME type of a media file URL, from its extension (None when unknown)."""
    return mimetypes.guess_type(urlsplit(url).path)[0] if url else None


def _size(value: Any, fallback: int) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return int(value) if ok else fallback
