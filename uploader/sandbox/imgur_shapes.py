"""What the Imgur emulator says: bodies, pages and the Image model (reference 1.2, 1.4).

Every error shape the live API uses is here, because a client must cope with all of them:
the legacy ``data.error`` string, the structured ImgurException, the 2019+ gateway 429
(also as two JSON documents back to back), the 2024 413, the CDN's 400, and the HTML 404,
405 and Varnish 503 pages.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
from dataclasses import dataclass
from typing import Any

ALNUM = string.ascii_letters + string.digits
LINK_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif"}

# Seen on live responses (reference 1.1); JSON bodies add JSON's Content-Type.
COMMON = [
    ("Server", "cat factory 1.0"),
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, PUT, POST, PATCH, DELETE, OPTIONS"),
    (
        "Access-Control-Allow-Headers",
        "Authorization, Content-Type, Accept, X-Mashape-Authorization, IMGURPLATFORM",
    ),
    ("X-Frame-Options", "DENY"),
]
# As every capture with headers spells it (reference 1.10 [OBS S8]; 1.2 #4).
JSON = [("Content-Type", "application/json; charset=utf-8")]
# Reference 1.2 #1 [OBS S8 #8009, 2025]: the CDN's own 400, without the charset.
CDN_400 = [
    ("Content-Type", "application/json"),
    ("CDN-Error", "yes"),
    ("Retry-After", "0"),
    ("Cache-Control", "no-store, no-cache, must-revalidate, post-check=0, pre-check=0"),
]
HTML = [("Content-Type", "text/html; charset=utf-8")]
# Reference 1.2 #3: the gateway's media type headers on a 429.
GATEWAY = [
    ("Content-Type", "application/vnd.imgur.v1+json"),
    ("imgur-media-type", "imgur.v1; param=full; format=json"),
]
# Reference 1.2 #4: the 2024 413 carries its own content type and this marker.
OVERSIZE = [("Content-Type", "application/json; charset=utf-8"), ("monorepo-upload", "true")]

# Reference 1.2 #5: the page for a deleted or unknown image id [OBS S17].
HTML_404 = (
    b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    b"<title>imgur: the simple 404 page</title></head>\n<body><h1>Zoinks! You've taken "
    b"a wrong turn.</h1><p>Let's split up, gang. If you're looking for an image, it's "
    b"probably been deleted or may not have existed at all.</p></body></html>\n"
)
# Reference 1.2 #5 [OBS S8 #2231]: a 405 page on /3/image. GAP: its text was not
# captured; this is the usual nginx page.
HTML_405 = (
    b"<html>\r\n<head><title>405 Not Allowed</title></head>\r\n<body>\r\n<center>"
    b"<h1>405 Not Allowed</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
    b"</html>\r\n"
)
# Reference 1.2 #5: outage pages from the CDN [OBS S10, S11].
VARNISH_503 = (
    b"<!DOCTYPE html>\n<html><head><title>503 client read error</title></head>\n<body>"
    b"<h1>Error 503 client read error</h1><p>client read error</p><h3>Guru Meditation:"
    b"</h3><p>XID: 1021993437</p><hr><p>Varnish cache server</p></body></html>\n"
)


def random_id(length: int) -> str:
    """Alphanumeric, as ids (7) and deletehashes (15) are (reference 1.4)."""
    return "".join(secrets.choice(ALNUM) for _ in range(length))


def gateway_id() -> str:
    """An error id like ``legacy-api-7756c5f445-v8sw6/FWkdEyQ56Y-1829229`` [OBS S8]."""
    pod = f"{secrets.token_hex(5)}-{random_id(5).lower()}"
    return f"legacy-api-{pod}/{random_id(10)}-{secrets.randbelow(9_000_000) + 1_000_000}"


def envelope(data: Any, status: int = 200) -> bytes:
    """``{"data": ..., "success": ..., "status": ...}`` (reference 1.2); ``data`` True
    makes the "Basic" model."""
    return json.dumps({"data": data, "success": 200 <= status < 300, "status": status}).encode()


def legacy(message: str, status: int, route: str, method: str) -> bytes:
    """Legacy string error (reference 1.2 #1)."""
    return envelope({"error": message, "request": route, "method": method}, status)


def structured(code: int, message: str, route: str, method: str, status: int = 400) -> bytes:
    """Structured ImgurException error (reference 1.2 #2); body status 400 for codes 1002,
    1003, 403 and 429 alike."""
    error = {"code": code, "message": message, "type": "ImgurException", "exception": []}
    return envelope({"error": error, "request": route, "method": method}, status)


def gateway_429() -> bytes:
    """The gateway 429 body; ``code`` is a string here (reference 1.2 #3)."""
    error = {
        "id": gateway_id(),
        "code": "429",
        "status": "Too Many Requests",
        "detail": "Too Many Requests",
    }
    return json.dumps({"errors": [error]}).encode()


def concatenated_429(route: str, method: str) -> bytes:
    """Reference 1.2 #6: a 429 body of two JSON documents back to back ("Additional text
    encountered after finished reading JSON content" [OBS S8]). Which two is inference:
    the gateway's document, then the legacy API's own."""
    return gateway_429() + legacy("Too Many Requests", 429, route, method)


def cdn_forbidden() -> bytes:
    """Reference 1.2 #1 [OBS S8 #8009]: no ``request``/``method`` in ``data``."""
    body = {"data": {"error": "These actions are forbidden."}, "success": False, "status": 400}
    return json.dumps(body).encode()


def oversize_413() -> bytes:
    """The 2024 413 body; ``code`` is an int and there is no wrapper (reference 1.2 #4)."""
    return json.dumps(
        {
            "id": gateway_id(),
            "code": 413,
            "detail": "file is over the size limit",
            "status": "Request Entity Too Large",
        }
    ).encode()


@dataclass
class StoredImage:
    """One upload the emulator keeps; ``account`` is the owner's name (None: anonymous)."""

    id: str
    deletehash: str
    size: int
    sha256: str
    name: str
    type: str
    title: str | None
    description: str | None
    datetime: int
    width: int
    height: int
    auth: str  # "Client-ID" or "Bearer"
    account: str | None
    account_id: int | None
    path: str
    seq: int
    album: str | None = None
    stored_at: float = 0.0  # the sandbox clock's reading when stored (listing_lag)
    metadata: tuple[str, ...] = ()  # what metadata the file still carried (metadata.py)

    def summary(self) -> dict[str, Any]:
        """The ``/_sandbox/uploads`` entry."""
        return {
            "id": self.id,
            "deletehash": self.deletehash,
            "size": self.size,
            "sha256": self.sha256,
            "name": self.name,
            "type": self.type,
            "title": self.title,
            "description": self.description,
            "auth": self.auth,
            "provider": "imgur",
            "metadata": list(self.metadata),
        }


def image_model(
    image: StoredImage, *, owner: bool, upload: bool = False, origin: str = ""
) -> dict[str, Any]:
    """The Image model (reference 1.4), keys as live responses have them. ``deletehash``
    and ``name`` only for the owner or on the upload response; ``account_id`` is 0 on an
    anonymous upload response and null on an anonymous GET [OBS S14, S12]. Videos are
    reported as Imgur serves them: type ``video/mp4`` and an ``.mp4`` link (reference 1.4
    [OBS S12]), whatever the uploaded container was. Links point at ``origin`` (the
    sandbox, which serves them: see links.py), ``https://i.imgur.com`` without one."""
    cdn = f"{origin}/imgur/i" if origin else "https://i.imgur.com"
    video = image.type.startswith("video/")
    animated = video or image.type == "image/gif"
    # Reference 1.4: the link's ext is jpg, png, gif or mp4. GAP: what BMP, TIFF, WebP,
    # PDF and XCF become is not captured; png is the guess.
    ext = "mp4" if video else LINK_EXT.get(image.type, "png")
    model: dict[str, Any] = {
        "id": image.id,
        "title": image.title,
        "description": image.description,
        "datetime": image.datetime,
        "type": "video/mp4" if video else image.type,
        "animated": animated,
        "width": image.width,
        "height": image.height,
        "size": image.size,
        "views": 0,
        "bandwidth": 0,
        "vote": None,
        "favorite": False,
        "nsfw": None,
        "section": None,
        "account_url": image.account,
        "account_id": image.account_id if image.account else (0 if upload else None),
        "is_ad": False,
        "in_most_viral": False,
        "has_sound": False,
        "tags": [],
        "ad_type": 0,
        "ad_url": "",
        "edited": "0",
        "in_gallery": False,
        "link": f"{cdn}/{image.id}.{ext}",
    }
    if animated:  # reference 1.4: extra keys for animated GIFs and video
        model |= {
            "mp4": f"{cdn}/{image.id}.mp4",
            "gifv": f"{cdn}/{image.id}.gifv",
            "mp4_size": image.size,
            "looping": True,
        }
    if video:
        model["hls"] = f"{cdn}/{image.id}.m3u8"
        model["processing"] = {"status": "completed"}
    if owner or upload:
        model["deletehash"] = image.deletehash
        model["name"] = image.name
    return model


def etag_of(body: bytes) -> str:
    """A quoted 40-hex ETag over the body (reference 1.11)."""
    return '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison against an If-None-Match list (or ``*``)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False
