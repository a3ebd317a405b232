"""A post's link given to ``info`` or ``delete`` (issue 11: every printed link accepted back).

``upload --post`` prints the post's link (``status_url``); ``GET /api/v1/statuses/:id``
(reference 3.5) names its media in ``media_attachments``. A post with one media stands for
that media; a post with none or several is a usage error (exit 2) naming what to pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from uploader.errors import UsageError
from uploader.providers.links import link_path, own_domain
from uploader.providers.mastodon_media import STATUS_PATH
from uploader.ratelimit.headers import MASTODON_API_LIMIT, mastodon_updates

if TYPE_CHECKING:
    from uploader.models import BucketUpdate

MEDIA_POST = re.compile(r"/api/v\d+/media/?$")
STATUS_POST = re.compile(r"/api/v1/statuses/?$")
# Requests a throttle of their own also counts (reference 3.7, ``throttle_api_delete``:
# 30 per 30 min per user): DELETE of a status, POST of an unreblog.
OWN_FAMILY = (
    ("DELETE", re.compile(r"/api/v1/statuses/[^/]+/?$")),
    ("POST", re.compile(r"/api/v1/statuses/[^/]+/unreblog/?$")),
)


def post_id(ref: str, base_url: str) -> str | None:
    """The status id when ``ref`` is a post's link on the profile's server, else None
    (a link to another host is refused by ``link_path``, as for media links)."""
    text = ref.strip()
    try:
        shaped = "://" in text and STATUS_PATH.search(urlsplit(text).path) is not None
    except ValueError:  # not a URL at all: media_ref says so
        return None
    if not shaped:
        return None  # a media link, on whatever media host: media_ref reads it
    path = link_path(ref, "a Mastodon media id", base_url, own_domain(base_url))
    found = STATUS_PATH.search(path) if path is not None else None
    return found.group(1) if found is not None else None


def only_media(status: Mapping[str, Any], ref: str) -> dict[str, Any]:
    """The post's one MediaAttachment; UsageError (exit 2) for none or several."""
    found = status.get("media_attachments")
    items = [
        m
        for m in (found if isinstance(found, list) else [])
        if isinstance(m, dict) and isinstance(m.get("id"), str | int) and str(m["id"])
    ]
    if not items:
        raise UsageError(
            f"{ref!r} is the link of a post with no media",
            hint="give the media id (`id` in the upload's JSON) or the media's link (`url`)",
        )
    if len(items) > 1:
        ids = ", ".join(str(m["id"]) for m in items)
        raise UsageError(
            f"{ref!r} is the link of a post with {len(items)} media: {ids}",
            hint="pass one of these media ids instead of the post's link",
        )
    return items[0]


def request_updates(
    method: str, path: str, headers: Mapping[str, str], now: float
) -> list[BucketUpdate]:
    """The ``X-RateLimit-*`` headers of an answer to ``method path`` as an api or media
    bucket update ([] without them).

    A status post's headers describe the per-account statuses family (300 per 3 h,
    reference 3.5), which is neither bucket: they are ignored; so are a status delete's
    when their limit is below the API's (the delete throttle, 30 per 30 min, 3.7):
    recorded as "api" they would hold every later request back for half an hour.
    """
    if method == "POST" and STATUS_POST.search(path):
        return []
    media = method == "POST" and MEDIA_POST.search(path) is not None
    updates = mastodon_updates(headers, now, media_request=media)
    if any(method == verb and pattern.search(path) for verb, pattern in OWN_FAMILY):
        return [u for u in updates if (u.limit or 0) >= MASTODON_API_LIMIT]
    return updates
