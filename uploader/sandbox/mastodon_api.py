"""The Mastodon emulator (``/mastodon``), faithful to reference section 3.

``GET /api/v2/instance`` (public, weak ETag, 304), ``POST /api/v2/media`` (200 for small
images; 202 with ``url: null`` for video or large files, then ``GET /api/v1/media/:id``
answers 206 until ``mastodon_processing_seconds`` have passed), ``DELETE`` media,
``POST /api/v1/statuses`` with ``Idempotency-Key`` (GET and DELETE of a status: mastodon_statuses),
``verify_credentials``. The per-token API
bucket and the media bucket are enforced; ``X-RateLimit-*`` describe whichever is closest to
exhaustion, resets in ISO 8601 with microseconds on a period boundary (knob: epoch or none).
Authenticated answers carry ``cache-control: private, no-store``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from uploader.sandbox.exchange import Clock, bearer_token
from uploader.sandbox.filetypes import MASTODON_TYPES as MIME
from uploader.sandbox.filetypes import dimensions, sniff
from uploader.sandbox.knobs import SandboxConfig
from uploader.sandbox.mastodon_shapes import (
    Window,
    description_error,
    focus_of,
    instance_document,
    media_file,
    media_model,
)
from uploader.sandbox.mastodon_statuses import status_answer
from uploader.sandbox.metadata import metadata_of
from uploader.sandbox.multipart import MultipartError, boundary_of, parse
from uploader.sandbox.oauth_apps import TokenBook
from uploader.sandbox.server import SandboxRequest, SandboxResponse

PRIVATE = [
    ("Content-Type", "application/json; charset=utf-8"),
    ("Cache-Control", "private, no-store"),
    ("Vary", "Authorization, Origin"),
]
PUBLIC = [
    ("Content-Type", "application/json; charset=utf-8"),
    ("Cache-Control", "max-age=300, public, stale-while-revalidate=30, stale-if-error=86400"),
]
INVALID = (
    'Bearer realm="Doorkeeper", error="invalid_token", '
    'error_description="The access token is invalid"'
)


def _json(status: int, body: Any, headers: list[tuple[str, str]]) -> SandboxResponse:
    return SandboxResponse(status, json.dumps(body).encode(), list(headers))


class MastodonEmulator:
    origin = ""  # the sandbox's http://HOST:PORT, from the requests (links.py)

    def __init__(
        self, config: SandboxConfig, storage: Path, book: TokenBook, clock: Clock = time.time
    ) -> None:
        self.config, self.storage, self.book, self.clock = config, storage, book, clock
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.media: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.status_owners: dict[str, str] = {}  # status id -> the author's token
        self.idempotency: dict[tuple[str, str], str] = {}
        self.next_id = 117020576894251992
        self.api = Window(self.config.mastodon_api_limit, self.config.mastodon_api_window)
        self.media_bucket = Window(
            self.config.mastodon_media_limit, self.config.mastodon_media_window
        )
        # Reference 3.7: throttle_api_delete (DELETE of a status) and the app-level statuses
        # family (POST of a status); their headers win when they have fewer left.
        self.families = {"delete": Window(30, 1800.0), "statuses": Window(300, 10800.0)}

    def route_kind(self, method: str, path: str) -> str:
        if method == "POST" and path.endswith("/media"):
            return "upload"
        return "get" if method == "GET" else "other"

    def uploads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {
                    "id": m["id"],
                    "deletehash": None,
                    "size": m["size"],
                    "sha256": m["sha256"],
                    "name": m["name"],
                    "type": m["mime"],
                    "title": None,
                    "description": m["description"],
                    "auth": "Bearer",
                    "provider": "mastodon",
                    "metadata": m["metadata"],
                }
                for m in self.media.values()
            ]

    def fault_response(self, kind: str, request: SandboxRequest) -> SandboxResponse:
        if kind == "429":
            return _json(429, {"error": "Too many requests"}, PRIVATE)
        if kind == "html":
            return SandboxResponse(
                503,
                b"<html><title>503 Service Unavailable</title></html>",
                [("Content-Type", "text/html"), ("Retry-After", "0")],
            )
        return _json(int(kind), {"error": "Remote data could not be fetched"}, PRIVATE)

    def _reset_header(self, reset: float) -> str | None:
        fmt = self.config.mastodon_reset_format
        if fmt == "epoch":
            return str(int(reset))
        if fmt == "none":
            return None
        return datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _throttle(
        self, token: str, media: bool, family: str | None = None
    ) -> tuple[bool, list[tuple[str, str]]]:
        now = self.clock()
        allowed = True
        with self.lock:
            left, reset = self.api.hit(token, now)
            limit = self.api.limit
            if media:
                media_left, media_reset = self.media_bucket.hit(token, now)
                if media_left / self.media_bucket.limit < left / limit:
                    left, reset, limit = media_left, media_reset, self.media_bucket.limit
            if family is not None:
                allowed = left >= 0
                window = self.families[family]
                own_left, own_reset = window.hit(token, now)
                if own_left <= left:
                    left, reset, limit = own_left, own_reset, window.limit
        allowed = allowed and left >= 0
        header = self._reset_header(reset)
        if header is None:
            return allowed, []
        headers = [
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Remaining", str(max(0, left))),
            ("X-RateLimit-Reset", header),
        ]
        return allowed, headers

    def _token(self, request: SandboxRequest) -> str | None:
        token = bearer_token(request)
        return token if self.book.accepts(token, self.config.mastodon_tokens) else None

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path
        self.origin = request.origin  # the same for every request: links point back here
        if request.method in ("GET", "HEAD") and path.startswith("/system/"):
            with self.lock:
                served = media_file(path, self.media, self.clock())
            if served is not None:
                return served
        if path == "/api/v2/instance" and request.method == "GET":
            request.drain()
            return self._conditional(request, instance_document(), PUBLIC)
        token = self._token(request)
        if token is None:
            request.drain()
            return _json(
                401,
                {"error": "The access token is invalid"},
                [*PRIVATE, ("WWW-Authenticate", INVALID)],
            )
        media_post = request.method == "POST" and path in ("/api/v2/media", "/api/v1/media")
        family = None
        if request.method == "POST" and path == "/api/v1/statuses":
            family = "statuses"
        elif request.method == "DELETE" and path.startswith("/api/v1/statuses/"):
            family = "delete"
        allowed, rate = self._throttle(token, media_post, family)
        if not allowed:
            request.drain()
            return _json(429, {"error": "Too many requests"}, [*PRIVATE, *rate])
        response = self._route(request, path, token)
        response.headers = [*response.headers, *rate]
        return response

    def _route(self, request: SandboxRequest, path: str, token: str) -> SandboxResponse:
        if path in ("/api/v2/media", "/api/v1/media") and request.method == "POST":
            return self._upload(request, token, sync=path.endswith("v1/media"))
        if path.startswith("/api/v1/media/"):
            request.drain()
            return self._one_media(request, path.rsplit("/", 1)[1], token)
        if path == "/api/v1/statuses" and request.method == "POST":
            return self._status(request, token)
        request.drain()
        if path.startswith("/api/v1/statuses/"):
            return status_answer(self, request, path.rsplit("/", 1)[1], token, PRIVATE)
        if path == "/api/v1/accounts/verify_credentials" and request.method == "GET":
            account = {
                "id": "1",
                "username": "sandbox",
                "acct": "sandbox",
                "display_name": "Sandbox",
                "source": {"privacy": "public"},
            }
            return self._conditional(request, json.dumps(account).encode(), PRIVATE)
        return _json(404, {"error": "Record not found"}, PRIVATE)

    def _model(self, media: dict[str, Any]) -> dict[str, Any]:
        ready = self.clock() >= media["ready_at"]
        return media_model(media, ready=ready, origin=self.origin)

    def _upload(self, request: SandboxRequest, token: str, sync: bool) -> SandboxResponse:
        boundary = boundary_of(request.headers.get("Content-Type") or "")
        if boundary is None:
            request.drain()
            return _json(422, {"error": "Validation failed: File can't be blank"}, PRIVATE)
        try:
            form = parse(request.read, boundary, request.workdir)
        except MultipartError:
            return _json(422, {"error": "Validation failed: File is invalid"}, PRIVATE)
        request.log["fields"] = dict(form.fields)
        form.keep_only("file")
        part = form.files.get("file")
        if part is None:
            return _json(422, {"error": "Validation failed: File can't be blank"}, PRIVATE)
        request.log["file_field"] = part.name
        request.log["file_name"] = part.filename
        mime = sniff(part.head)
        if mime is None or mime not in MIME:
            part.path.unlink(missing_ok=True)
            return _json(
                422,
                {"error": "Validation failed: File content type is invalid, File is invalid"},
                PRIVATE,
            )
        limit = 16777216 if mime.startswith("image/") else 103809024  # video and audio
        if part.size > limit:
            part.path.unlink(missing_ok=True)
            return _json(
                422,
                {
                    "error": "Validation failed: File file size must be less than "
                    f"{limit // 1048576} MB"
                },
                PRIVATE,
            )
        queued = not sync and (
            not mime.startswith("image/") or part.size > self.config.mastodon_async_threshold
        )
        too_long = description_error(form.fields.get("description"))
        if too_long is not None:
            part.path.unlink(missing_ok=True)
            return _json(422, {"error": too_long}, PRIVATE)
        with self.lock:
            media_id = str(self.next_id)
            self.next_id += 1
            target = self.storage / media_id
            shutil.move(str(part.path), target)
            media = {
                "id": media_id,
                "mime": mime,
                "ext": mime.split("/")[1].replace("jpeg", "jpg"),
                "size": part.size,
                "sha256": part.sha256,
                "name": part.filename,
                "description": form.fields.get("description"),
                "owner": token,
                "path": str(target),
                "status_id": None,
                "file_name": secrets.token_hex(8),  # Paperclip's random file name
                "dimensions": dimensions(part.head),
                "metadata": metadata_of(target, mime),
                "focus": focus_of(form.fields.get("focus")),
                "ready_at": self.clock()
                + (self.config.mastodon_processing_seconds if queued else 0.0),
            }
            self.media[media_id] = media
        body = json.dumps(self._model(media)).encode()
        if queued:  # no ETag on the 202 (reference 3.4)
            return SandboxResponse(202, body, list(PRIVATE))
        etag = 'W/"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
        return SandboxResponse(200, body, [*PRIVATE, ("ETag", etag)])

    def _one_media(self, request: SandboxRequest, media_id: str, token: str) -> SandboxResponse:
        with self.lock:
            media = self.media.get(media_id)
            if media is None or media["owner"] != token or media["status_id"] is not None:
                return _json(404, {"error": "Record not found"}, PRIVATE)
            if request.method == "DELETE":
                del self.media[media_id]
                Path(media["path"]).unlink(missing_ok=True)
                return _json(200, self._model(media), PRIVATE)
        model = self._model(media)
        if request.method != "GET":
            return _json(404, {"error": "Record not found"}, PRIVATE)
        if model["url"] is None:
            return _json(206, model, PRIVATE)
        return self._conditional(request, json.dumps(model).encode(), PRIVATE)

    def _status(self, request: SandboxRequest, token: str) -> SandboxResponse:
        raw = b""
        while chunk := request.read(65536):
            raw += chunk
        if (request.headers.get("Content-Type") or "").startswith("application/json"):
            data = json.loads(raw or b"{}")
            media_ids = [str(m) for m in data.get("media_ids", [])]
            text = str(data.get("status") or "")
            visibility = str(data.get("visibility") or "public")
        else:
            pairs = parse_qsl(raw.decode("utf-8", "replace"))
            media_ids = [v for k, v in pairs if k in ("media_ids[]", "media_ids")]
            fields = dict(pairs)
            text = fields.get("status", "")
            visibility = fields.get("visibility", "public")
        key = request.headers.get("Idempotency-Key")
        with self.lock:
            if key and (token, key) in self.idempotency:
                status = self.statuses[self.idempotency[(token, key)]]
                return _json(200, status, PRIVATE)
            if not text and not media_ids:
                return _json(422, {"error": "Validation failed: Text can't be blank"}, PRIVATE)
            attached = []
            for media_id in media_ids:
                media = self.media.get(media_id)
                if media is None or media["owner"] != token or media["status_id"] is not None:
                    return _json(
                        422,
                        {
                            "error": f"Media {media_id} not found or already "
                            "attached to another post"
                        },
                        PRIVATE,
                    )
                if self.clock() < media["ready_at"]:
                    return _json(
                        422,
                        {
                            "error": "Cannot attach files that have not finished "
                            "processing. Try again in a moment!"
                        },
                        PRIVATE,
                    )
                attached.append(media)
            status_id = str(self.next_id)
            self.next_id += 1
            for media in attached:
                media["status_id"] = status_id
            status = {
                "id": status_id,
                "url": f"{self.origin or 'https://sandbox.local'}/mastodon/@sandbox/{status_id}",
                "content": f"<p>{text}</p>",
                "visibility": visibility,
                "media_attachments": [self._model(m) for m in attached],
            }
            self.statuses[status_id] = status
            self.status_owners[status_id] = token
            if key:
                self.idempotency[(token, key)] = status_id
        return _json(200, status, PRIVATE)

    @staticmethod
    def _conditional(
        request: SandboxRequest, body: bytes, headers: list[tuple[str, str]]
    ) -> SandboxResponse:
        etag = 'W/"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
        if request.headers.get("If-None-Match") == etag:
            return SandboxResponse(304, b"", [("ETag", etag), *headers[1:]])
        return SandboxResponse(200, body, [*headers, ("ETag", etag)])
