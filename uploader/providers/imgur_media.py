"""Imgur's image objects (reference 1.3, 1.4): accepted types, what a call costs, ids,
MediaInfo values."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from uploader.http.cache import CACHE_STATUS_HEADER
from uploader.models import MediaInfo
from uploader.providers.links import (
    checked_id,
    epoch_of,
    last_segment,
    link_path,
    text_of,
    web_link,
)
from uploader.providers.recovery import Listed

if TYPE_CHECKING:
    import httpx

# Credits per call, by bucket (reference 1.10): an upload costs 10 user and 10 client
# credits and 1 POST credit; any other call 1 credit.
UPLOAD_COST = {"user": 10, "client": 10, "post": 1}
READ_COST = {"user": 1, "client": 1}

# The old docs site lists JPEG, GIF, PNG, APNG, TIFF, BMP, PDF, XCF; WebP is seen (ref. 1.3).
IMAGE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/tiff",
        "image/bmp",
        "image/webp",
        "application/pdf",
    }
)
# Postman docs (reference 1.3).
VIDEO_TYPES = frozenset(
    {
        "video/mp4",
        "video/webm",
        "video/x-matroska",
        "video/quicktime",
        "video/x-flv",
        "video/x-msvideo",
        "video/x-ms-wmv",
        "video/mpeg",
    }
)


def media_info(info: dict[str, Any], response: httpx.Response, provider: str) -> MediaInfo:
    """One image object (``data`` of a lookup or of a listing's item) as MediaInfo.

    Every value is read as it may come: missing, null, a string for a number, huge or
    negative (reference 1.4 lists ``edited: "0"``): what cannot be true is left out.
    """
    extra = list(extra_of(info, ("name", "width", "height", "views")))
    if response.headers.get(CACHE_STATUS_HEADER):
        extra.append(("cache", "revalidated (304)"))
    return MediaInfo(
        id=text_of(info.get("id")) or "",
        url=web_link(info.get("link")),
        provider=provider,
        mime_type=text_of(info.get("type")),
        title=text_of(info.get("title")),
        description=text_of(info.get("description")),
        size=count_of(info.get("size")),
        created_at=epoch_of(info.get("datetime")),
        delete_id=text_of(info.get("deletehash")),
        extra=tuple(extra),
    )


IMGUR_ID = re.compile(r"[A-Za-z0-9]+")
# Folders of imgur.com links that name something other than an image or its deletehash.
NOT_IMAGES = ("a", "album", "gallery", "t", "r", "topic", "user", "account", "upload")


def imgur_id(ref: str, base_url: str) -> str:
    """An id or deletehash from what the user gave: a bare id, or a link on imgur.com (or
    on the profile's own server, the sandbox); UsageError for anything else."""
    what = "an Imgur id or deletehash"
    path = link_path(ref, what, base_url, ("imgur.com",))
    text = ref.strip() if path is None else last_segment(ref, path, what, NOT_IMAGES)
    return checked_id(text, ref, what, IMGUR_ID)


NUMBERS = frozenset({"width", "height", "views", "size"})


def extra_of(info: dict[str, Any], keys: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """``(key, value)`` for the keys that have a value; numbers stay numbers.

    Imgur sends width, height and views as integers (reference 1.4): JSON output keeps
    them so (``"width": 8``, not ``"8"``), also when they come as ``"8"`` or ``8.0``; a
    count that is negative, fractional or not a number is left out. Anything else is
    shown as text.
    """
    pairs: list[tuple[str, Any]] = []
    for key in keys:
        value = count_of(info.get(key)) if key in NUMBERS else text_of(info.get(key))
        if not value:
            continue  # as before: 0 and "" say nothing (a video still processing)
        pairs.append((key, value))
    return tuple(pairs)


def count_of(value: Any) -> int | None:
    """A count (bytes, pixels, views) as an int: an integer, an integral float or decimal
    digits in a string; None for anything else (null, a boolean, a negative number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if text.isascii() and text.isdigit() and len(text) < 30 else None
    elif isinstance(value, float):
        value = int(value) if math.isfinite(value) and value.is_integer() else None
    return value if isinstance(value, int) and value >= 0 else None


def listed_of(info: Any) -> Listed | None:
    """A listing's image object as the fields recovery compares (None: no id or link)."""
    if not isinstance(info, dict):
        return None
    image_id, link = text_of(info.get("id")), web_link(info.get("link"))
    if not image_id or not link:
        return None
    kind, name = info.get("type"), info.get("name")
    return Listed(
        id=image_id,
        created_at=epoch_of(info.get("datetime")),
        size=count_of(info.get("size")),
        mime_type=kind if isinstance(kind, str) and kind else None,
        width=count_of(info.get("width")),
        height=count_of(info.get("height")),
        name=name if isinstance(name, str) and name else None,
    )
