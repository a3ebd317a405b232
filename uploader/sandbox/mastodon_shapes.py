"""The Mastodon emulator's MediaAttachment objects and the media files behind their links
(reference 3.4; link shapes in links.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from uploader.sandbox.exchange import SandboxResponse
from uploader.sandbox.links import NOT_FOUND, file_response, partition, placeholder_response

# .../media_attachments/files/117/020/.../original/NAME.EXT (the file; small/: its preview)
# and .../media_attachments/thumbnails/.../original/NAME.png (a video's or audio's preview).
FILE_PATH = re.compile(
    r"/system/media_attachments/(files|thumbnails)/((?:\d{3}/)+)(original|small)/(\w+)\.\w+"
)


def media_model(media: Mapping[str, Any], *, ready: bool, origin: str) -> dict[str, Any]:
    """A MediaAttachment; ``url`` is null until processed. Links point at ``origin`` (the
    sandbox serves them), or at ``https://sandbox.local`` without one."""
    site = f"{origin}/mastodon" if origin else "https://sandbox.local"
    files = f"{site}/system/media_attachments"
    where, name = partition(str(media["id"])), media.get("file_name", media["id"])
    kind = media["mime"].split("/")[0]  # image, video or audio (reference 3.4)
    if kind == "image":
        preview = f"{files}/files/{where}/small/{name}.{media['ext']}"
    else:  # a still image made by the server (issue 11: recorded traffic)
        preview = f"{files}/thumbnails/{where}/original/{name}.png"
    width, height = media["dimensions"]
    return {
        "id": media["id"],
        "type": kind,
        "url": f"{files}/files/{where}/original/{name}.{media['ext']}" if ready else None,
        "preview_url": preview,
        "remote_url": None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": {
            "original": {
                "width": width,
                "height": height,
                "size": f"{width}x{height}",
                "aspect": (width / height) if height else 1.0,
            },
            "focus": media["focus"],
        },
        "description": media["description"],
        "blurhash": "UGC~-#M{0JfkNFofR%M{IURj",
    }


def media_file(
    path: str, media: Mapping[str, Mapping[str, Any]], now: float
) -> SandboxResponse | None:
    """The answer to a GET of a media link (None: ``path`` is not one). Attached media is
    served too (a post's images are public); a file still processing is not there yet,
    its preview is (the 202 names it)."""
    found = FILE_PATH.fullmatch(path)
    if found is None:
        return None
    kind, where, size, name = found.groups()
    item = media.get(where.replace("/", "").lstrip("0") or "0")
    if item is None or item.get("file_name", item["id"]) != name:
        return NOT_FOUND
    if kind == "thumbnails":
        return placeholder_response()
    if size == "original" and now < item["ready_at"]:
        return NOT_FOUND
    return file_response(item["path"], item["mime"])


class Window:
    """A throttle counted on period boundaries from the epoch, as rack-attack does."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.counts: dict[tuple[str, int], int] = {}

    def hit(self, key: str, now: float) -> tuple[int, float]:
        """Count one request; (remaining after it, reset time)."""
        slot = int(now // self.period)
        count = self.counts.get((key, slot), 0) + 1
        self.counts[(key, slot)] = count
        return self.limit - count, (slot + 1) * self.period + (now % 1)
