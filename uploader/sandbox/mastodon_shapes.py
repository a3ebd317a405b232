"""The Mastodon emulator's MediaAttachment objects and the media files behind their links
(reference 3.4; link shapes in links.py)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from uploader.sandbox.exchange import SandboxResponse
from uploader.sandbox.filetypes import MASTODON_TYPES as MIME
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


DESCRIPTION_LIMIT = 1500  # configuration.media_attachments.description_limit (reference 3.6)
_RUBY_FLOAT = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def focus_of(text: str | None) -> dict[str, float]:
    """``focus`` "x,y" read as Mastodon reads it (Ruby's ``to_f``): a value that is no
    number is 0.0, never an error."""
    x, _, y = (text or "").partition(",")
    return {"x": _to_f(x), "y": _to_f(y)}


def _to_f(text: str) -> float:
    found = _RUBY_FLOAT.match(text)
    value = float(found.group()) if found else 0.0
    return value if math.isfinite(value) else 0.0  # JSON has no Infinity


def description_error(description: str | None) -> str | None:
    """The 422 message for alt text over the limit (counted in characters), else None."""
    if description is None or len(description) <= DESCRIPTION_LIMIT:
        return None
    return f"Validation failed: Description is too long (maximum is {DESCRIPTION_LIMIT} characters)"


def instance_document() -> bytes:
    """``GET /api/v2/instance`` (reference 3.6): the limits the emulator enforces."""
    return json.dumps(
        {
            "domain": "sandbox.local",
            "title": "uploader sandbox",
            "version": "4.6.4",
            "api_versions": {"mastodon": 11},
            "configuration": {
                "statuses": {
                    "max_characters": 500,
                    "max_media_attachments": 4,
                    "characters_reserved_per_url": 23,
                },
                "media_attachments": {
                    "supported_mime_types": MIME,
                    "image_size_limit": 16777216,
                    "image_matrix_limit": 33177600,
                    "video_size_limit": 103809024,
                    "video_frame_rate_limit": 120,
                    "video_matrix_limit": 8294400,
                    "description_limit": DESCRIPTION_LIMIT,
                },
            },
        }
    ).encode()
