"""Gyazo's image objects (reference 2.2, 2.3): ids, links, timestamps, MediaInfo values."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from uploader.errors import UsageError
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
from uploader.ratelimit.headers import decimal, header, header_int

if TYPE_CHECKING:
    import httpx

META_EXTRA = (("app", "app"), ("url", "source_url"))
_SUBTYPES = {"jpg": "jpeg"}


class PageInfo(NamedTuple):
    """The paging headers of a listing (reference 2.3); None where absent."""

    total: int | None
    page: int | None
    per_page: int | None
    user_type: str | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> PageInfo:
        """A negative count, or a page or page size below 1, is no value (None)."""
        return cls(
            total=_at_least(header_int(headers, "X-Total-Count"), 0),
            page=_at_least(header_int(headers, "X-Current-Page"), 1),
            per_page=_at_least(header_int(headers, "X-Per-Page"), 1),
            user_type=header(headers, "X-User-Type"),
        )


def _at_least(value: int | None, low: int) -> int | None:
    return value if value is not None and value >= low else None


GYAZO_ID = re.compile(r"[A-Za-z0-9]+")  # hex in practice; kept lenient about the letters
# Folders of gyazo.com links that name something other than an image.
NOT_IMAGES = ("collections", "captures", "search", "users", "user", "settings", "oauth")


# A thumb link that names the image: ``thumb.gyazo.com/thumb/960/<32 hex>.jpg``.
THUMB_BY_ID = re.compile(r"/thumb/(?:[\w-]+/)*([0-9a-f]{32})\.\w+")
THUMB_TOKEN = re.compile(r"[\w.-]+")


def gyazo_id(ref: str, base_url: str) -> str:
    """The image id in a bare id, ``https://gyazo.com/<id>`` or ``https://i.gyazo.com/<id>.png``
    (or a link on the profile's own server); UsageError for anything else. A thumb link
    that does not name the image (:func:`thumb_key`) is refused here."""
    what = "a Gyazo image id"
    path = link_path(ref, what, base_url, ("gyazo.com",))
    if path is not None and "/thumb/" in path:
        named = THUMB_BY_ID.search(path)
        if named is None:
            raise UsageError(
                f"{ref!r} is a thumbnail link that does not name its image",
                hint="give the image id, its url or its permalink_url",
            )
        return named.group(1)
    text = ref.strip() if path is None else last_segment(ref, path, what, NOT_IMAGES)
    return checked_id(text, ref, what, GYAZO_ID)


def thumb_key(ref: str, base_url: str) -> str | None:
    """The token of a thumb link that does not name its image (``thumb_url`` as Gyazo gives
    it: ``https://thumb.gyazo.com/thumb/200/<signed token>-png.jpg``, whose token holds a
    storage key, not the image id; older ``i.gyazo.com/thumb/180/<key>.png``): its last
    path segment, the same in every size of the thumb. None for any other reference."""
    if "://" not in ref:
        return None
    path = link_path(ref, "a Gyazo image id", base_url, ("gyazo.com",))
    if path is None or "/thumb/" not in path or THUMB_BY_ID.search(path):
        return None
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return last if THUMB_TOKEN.fullmatch(last) else None


def thumb_key_of(item: Mapping[str, Any]) -> str | None:
    """The thumb token of a listed image (None when it has no thumb_url)."""
    url = text_of(item.get("thumb_url"))
    if not url:
        return None
    return url.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def parse_time(value: Any) -> float | None:
    """An epoch from Gyazo's several timestamp forms (reference 2.1); naive means UTC.

    ``2014-05-21 14:23:10+0900``, ``2018-07-24T07:33:24.771Z``, ``2019-05-03T11:57:35+0000``
    and epoch numbers are all seen (and `` UTC`` as a suffix). Anything else, and any time
    no date can show (``nan``, ``1e400``, year 10000), is None, never an error.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return epoch_of(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if (seconds := decimal(text)) is not None:  # a number: a time, or none
        return epoch_of(seconds)
    if text[-4:].upper() in (" UTC", " GMT"):
        text = text[:-4] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return epoch_of(parsed.timestamp())
    except (ValueError, OverflowError):
        return None


def media_info(info: Mapping[str, Any], response: httpx.Response, provider: str) -> MediaInfo:
    """One image object as MediaInfo; a missing ``image_id``/``url`` gives "" and None."""
    meta = info.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    kind = text_of(info.get("type"))
    extra = list(extra_of(info, ("permalink_url", "thumb_url")))
    extra += [(name, str(meta[key])) for key, name in META_EXTRA if meta.get(key)]
    if response.headers.get(CACHE_STATUS_HEADER):
        extra.append(("cache", "revalidated (304)"))
    image = text_of(info.get("image_id")) or ""
    return MediaInfo(
        id=image,
        url=web_link(info.get("url")),
        provider=provider,
        mime_type=f"image/{_SUBTYPES.get(kind, kind)}" if kind else None,
        title=text_of(meta.get("title")) or None,
        description=text_of(meta.get("desc")) or None,
        created_at=parse_time(info.get("created_at")),
        delete_id=image or None,
        extra=tuple(extra),
    )


def extra_of(info: Mapping[str, Any], keys: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``(key, value)`` pairs for the keys that have a value."""
    return tuple((key, str(info[key])) for key in keys if info.get(key))


def listed_of(item: Mapping[str, Any]) -> Listed | None:
    """A listing's image as the fields recovery compares: Gyazo keeps the type and the time
    (reference 2.3); None for an entry without id or URL (old free-plan entries)."""
    image_id, url = text_of(item.get("image_id")), web_link(item.get("url"))
    if not image_id or not url:
        return None
    kind = text_of(item.get("type"))
    return Listed(
        id=image_id,
        created_at=parse_time(item.get("created_at")),
        mime_type=f"image/{_SUBTYPES.get(kind, kind)}" if kind else None,
    )
