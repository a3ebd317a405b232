"""The Gyazo emulator: the API host (``/gyazo``) and the upload host (``/gyazo-upload``).

Faithful to reference section 2: ``{message, request, method}`` error bodies, no rate-limit
headers at all (the 12,500/day budget is enforced; the 429 body is a documented GAP, so
``{"message": "Too many requests", ...}`` is our choice), paging headers on the list, and
weak ETags with 304 on GETs (Gyazo's own ETag format is not documented: a GAP).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from uploader.sandbox.buckets import BucketTable
from uploader.sandbox.exchange import Clock, bearer_token
from uploader.sandbox.filetypes import file_dimensions, sniff
from uploader.sandbox.knobs import SandboxConfig
from uploader.sandbox.links import file_response
from uploader.sandbox.metadata import metadata_of
from uploader.sandbox.multipart import MultipartError, boundary_of, parse
from uploader.sandbox.oauth_apps import TokenBook
from uploader.sandbox.server import SandboxRequest, SandboxResponse

JSON = [("Content-Type", "application/json; charset=utf-8")]
EXT = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
}


def _error(status: int, message: str, request: SandboxRequest, path: str) -> SandboxResponse:
    body = {"message": message, "request": path, "method": request.method}
    return SandboxResponse(status, json.dumps(body).encode(), list(JSON))


# The sandbox's own links (links.py): /i/ID.EXT, the /ID page, /thumb/SIZE/ID.EXT (the
# real CDN serves thumbs by image id too) and the thumb_url the API gives.
FILE_PATH = re.compile(r"/(?:i/|thumb/\w+/)?[0-9a-f]{32}(?:\.\w+)?")
# Real thumb_urls name no image id: ``https://thumb.gyazo.com/thumb/200/<JWT>-png.jpg``, a
# signed token whose payload is ``{"img":"_<32 hex>"}``, a storage key that is not the
# image id (a recorded upload answer: image_id 45927ce6..., img _9e9c2b90...). The sandbox
# gives the same shape, with its own key, so a client must look such a link up.
THUMB_PATH = re.compile(r"/thumb/\w+/([\w-]+\.[\w-]+\.[\w-]+)-\w+\.\w+")
_JWT_HEAD = base64.urlsafe_b64encode(b'{"alg":"HS256"}').rstrip(b"=").decode()


def thumb_token(key: str, secret: bytes) -> str:
    """``HEADER.PAYLOAD.SIGNATURE`` as Gyazo's thumb links carry (base64url, unpadded)."""
    payload = base64.urlsafe_b64encode(json.dumps({"img": f"_{key}"}).encode()).rstrip(b"=")
    signed = f"{_JWT_HEAD}.{payload.decode()}".encode()
    mac = hmac.new(secret, signed, hashlib.sha256).digest()
    return f"{signed.decode()}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


class GyazoState:
    """Images and the daily budget, shared by the two hosts."""

    def __init__(
        self, config: SandboxConfig, storage: Path, book: TokenBook, clock: Clock = time.time
    ) -> None:
        self.config, self.storage, self.book, self.clock = config, storage, book, clock
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.images: dict[str, dict[str, Any]] = {}
        self.daily = BucketTable(self.config.gyazo_daily_limit, 86400.0)
        self.secret = secrets.token_bytes(16)

    def by_thumb(self, token: str) -> dict[str, Any] | None:
        """The image whose thumb_url carries ``token`` (None: none)."""
        with self.lock:
            return next((i for i in self.images.values() if i.get("thumb") == token), None)

    def token(self, request: SandboxRequest, form: dict[str, str] | None = None) -> str | None:
        """A Bearer header, else ``access_token`` as a query or form parameter (ref. 2.1)."""
        return (
            bearer_token(request)
            or request.query.get("access_token")
            or (form or {}).get("access_token")
        )

    def valid(self, token: str | None) -> bool:
        return self.book.accepts(token, self.config.gyazo_tokens)

    def spend(self, token: str) -> bool:
        with self.lock:
            bucket = self.daily.get(token)
            now = self.clock()
            if not bucket.can_take(1, now):
                return False
            bucket.take(1, now)
            return True

    origin = ""  # the sandbox's http://HOST:PORT, from the requests (links.py)

    def model(self, image: dict[str, Any]) -> dict[str, Any]:
        """The image object; its links point at the sandbox, which serves them."""
        image_id = image["image_id"]
        site = f"{self.origin}/gyazo" if self.origin else "https://gyazo.com"
        files = f"{site}/i" if self.origin else "https://i.gyazo.com"
        thumbs = f"{site}/thumb" if self.origin else "https://thumb.gyazo.com/thumb"
        thumb_ext = "gif" if image["type"] == "gif" else "jpg"  # -png.jpg, -gif.gif (seen)
        return {
            "image_id": image_id,
            "permalink_url": f"{site}/{image_id}",
            "thumb_url": f"{thumbs}/200/{image['thumb']}-{image['type']}.{thumb_ext}",
            "url": f"{files}/{image_id}.{image['type']}",
            "type": image["type"],
            "created_at": image["created_at"],
            "metadata": {
                "app": image["app"],
                "title": image["title"],
                "url": image["referer"],
                "desc": image["desc"],
            },
            "ocr": {"locale": "", "description": ""},
        }

    def uploads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {
                    "id": i["image_id"],
                    "deletehash": None,
                    "size": i["size"],
                    "sha256": i["sha256"],
                    "name": i["name"],
                    "type": i["mime"],
                    "title": i["title"],
                    "description": i["desc"],
                    "auth": "Bearer",
                    "provider": "gyazo",
                    "metadata": i["metadata"],
                }
                for i in self.images.values()
            ]


class _GyazoHost:
    def __init__(self, state: GyazoState) -> None:
        self.state = state

    def reset(self) -> None:
        self.state.reset()

    def uploads(self) -> list[dict[str, Any]]:
        return []

    def fault_response(self, kind: str, request: SandboxRequest) -> SandboxResponse:
        if kind == "429":
            return _error(429, "Too many requests", request, request.path)
        if kind == "html":
            return SandboxResponse(
                503,
                b"<html><title>503 Service Unavailable</title></html>",
                [("Content-Type", "text/html"), ("Retry-After", "0")],
            )
        return _error(int(kind), "Internal Server Error", request, request.path)


class GyazoUploadEmulator(_GyazoHost):
    """``POST /gyazo-upload/api/upload``."""

    def uploads(self) -> list[dict[str, Any]]:
        return self.state.uploads()

    def route_kind(self, method: str, path: str) -> str:
        return "upload" if method == "POST" else "other"

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path
        self.state.origin = request.origin
        if path != "/api/upload" or request.method != "POST":
            return _error(404, "Not Found", request, path)
        boundary = boundary_of(request.headers.get("Content-Type") or "")
        if boundary is None:
            return _error(400, "imagedata is required", request, path)
        try:
            form = parse(request.read, boundary, request.workdir)
        except MultipartError:
            return _error(400, "invalid multipart body", request, path)
        request.log["fields"] = {k: v for k, v in form.fields.items() if k != "access_token"}
        token = self.state.token(request, form.fields)
        part = form.files.get("imagedata")
        cleanup = [p.path for p in form.files.values() if p is not part]
        for extra in cleanup:
            extra.unlink(missing_ok=True)
        if not self.state.valid(token):
            if part is not None:
                part.path.unlink(missing_ok=True)
            return _error(401, "This method requires authentication", request, path)
        assert token is not None
        if not self.state.spend(token):
            if part is not None:
                part.path.unlink(missing_ok=True)
            return _error(429, "Too many requests", request, path)
        if part is None or not part.filename:
            if part is not None:
                part.path.unlink(missing_ok=True)
            return _error(400, "imagedata is required (with a filename)", request, path)
        request.log["file_field"] = part.name
        request.log["file_name"] = part.filename
        mime = sniff(part.head)
        if mime not in EXT:  # GAP: Gyazo documents no type list; the common image types
            part.path.unlink(missing_ok=True)
            return _error(422, "Unsupported image format", request, path)
        if part.size > self.state.config.gyazo_max_size:
            part.path.unlink(missing_ok=True)
            return _error(413, "Image is too large", request, path)
        image_id = secrets.token_hex(16)
        target = self.state.storage / image_id
        shutil.move(str(part.path), target)
        now = self.state.clock()
        created = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
        image = {
            "image_id": image_id,
            "thumb": thumb_token(secrets.token_hex(16), self.state.secret),
            "type": EXT.get(mime, "png"),
            "mime": mime,
            "size": part.size,
            "sha256": part.sha256,
            "name": part.filename,
            "title": form.fields.get("title"),
            "desc": form.fields.get("desc"),
            "app": form.fields.get("app"),
            "referer": form.fields.get("referer_url"),
            "access_policy": form.fields.get("access_policy", "anyone"),
            "owner": token,
            "created_at": created,
            "at": now,
            "path": str(target),
            "dimensions": file_dimensions(target, part.head),
            "metadata": metadata_of(target, mime),
        }
        with self.state.lock:
            self.state.images[image_id] = image
        body = {k: v for k, v in self.state.model(image).items() if k not in ("metadata", "ocr")}
        return SandboxResponse(200, json.dumps(body).encode(), list(JSON))


class GyazoApiEmulator(_GyazoHost):
    """``/gyazo/api/images[/{id}]`` and ``/gyazo/api/users/me``."""

    def route_kind(self, method: str, path: str) -> str:
        return "get" if method == "GET" else "other"

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path
        request.drain()
        self.state.origin = request.origin
        thumb = THUMB_PATH.fullmatch(path) if request.method in ("GET", "HEAD") else None
        if thumb is not None:  # the bytes themselves: a thumbnail of the sandbox's making
            image = self.state.by_thumb(thumb.group(1))
            return file_response(image["path"] if image else None, image["mime"] if image else "")
        if request.method in ("GET", "HEAD") and FILE_PATH.fullmatch(path):  # i/, thumb/, page
            with self.state.lock:
                image = self.state.images.get(path.rsplit("/", 1)[-1].split(".", 1)[0])
            return file_response(image["path"] if image else None, image["mime"] if image else "")
        token = self.state.token(request)
        if not self.state.valid(token):
            return _error(401, "This method requires authentication", request, path)
        assert token is not None
        if not self.state.spend(token):
            return _error(429, "Too many requests", request, path)
        if path == "/api/users/me" and request.method == "GET":
            user = {
                "user": {
                    "email": "sandbox@example.com",
                    "name": "sandbox-user",
                    "profile_image": "https://gyazo.com/sandbox.png",
                    "uid": "u1",
                }
            }
            return self._conditional(request, json.dumps(user).encode(), [])
        if path == "/api/images" and request.method == "GET":
            try:
                page = max(1, int(request.query.get("page", "1")))
                per_page = min(100, max(1, int(request.query.get("per_page", "20"))))
            except ValueError:
                return _error(400, "invalid parameter", request, path)
            # listing_lag: an upload shows in the listing only that long after it was stored.
            shown_before = self.state.clock() - self.state.config.listing_lag
            with self.state.lock:
                mine = sorted(
                    (
                        i
                        for i in self.state.images.values()
                        if i["owner"] == token and i["at"] <= shown_before
                    ),
                    key=lambda i: i["at"],
                    reverse=True,
                )
                items = [self.state.model(i) for i in mine]
            chunk = items[(page - 1) * per_page : page * per_page]
            headers = [
                ("X-Total-Count", str(len(items))),
                ("X-Current-Page", str(page)),
                ("X-Per-Page", str(per_page)),
                ("X-User-Type", "lite"),
            ]
            return self._conditional(request, json.dumps(chunk).encode(), headers)
        if path.startswith("/api/images/"):
            image_id = path.rsplit("/", 1)[1]
            with self.state.lock:
                image = self.state.images.get(image_id)
                if image is None:
                    return _error(404, "Not Found", request, path)
                if image["owner"] != token:
                    return _error(403, "You don't have permission", request, path)
                if request.method == "DELETE":
                    del self.state.images[image_id]
                    Path(image["path"]).unlink(missing_ok=True)
                    body = json.dumps({"image_id": image_id, "type": image["type"]}).encode()
                    return SandboxResponse(200, body, list(JSON))
                if request.method != "GET":
                    return _error(405, "Method Not Allowed", request, path)
                body = json.dumps(self.state.model(image)).encode()
            return self._conditional(request, body, [])
        return _error(404, "Not Found", request, path)

    @staticmethod
    def _conditional(
        request: SandboxRequest, body: bytes, headers: list[tuple[str, str]]
    ) -> SandboxResponse:
        etag = 'W/"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
        if request.headers.get("If-None-Match") == etag:
            return SandboxResponse(304, b"", [("ETag", etag), *headers])
        return SandboxResponse(200, body, [*JSON, ("ETag", etag), *headers])
