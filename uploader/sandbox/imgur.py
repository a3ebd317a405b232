"""The Imgur API v3 emulator, faithful to reference section 1.

Routes (an optional ``.json`` suffix is accepted): ``POST /3/image`` and ``/3/upload``;
``GET``/``POST``/``DELETE /3/image/{id|deletehash}``; ``GET /3/account/me/images`` and
``/3/account/{user}/images/{page}``; ``GET /3/credits``. Credits per client and per
(client, IP), a POST bucket per IP, the real header spellings and reset formats, 429s in
the gateway (default) or legacy shape, ETag/304 on GETs, the HTML 404 page.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import string
import struct
import threading
import time
from pathlib import Path
from typing import Any

from uploader.sandbox.buckets import BucketTable
from uploader.sandbox.imgur_oauth import ACCOUNT, ImgurOAuth
from uploader.sandbox.knobs import SandboxConfig
from uploader.sandbox.multipart import MultipartError, boundary_of, parse
from uploader.sandbox.server import SandboxRequest, SandboxResponse

ALNUM = string.ascii_letters + string.digits
HTML_404 = (
    b"<!DOCTYPE html><html><head><title>imgur: the simple 404 page</title></head>"
    b"<body><h1>Zoinks! You've taken a wrong turn.</h1></body></html>"
)
VARNISH_503 = (
    b"<!DOCTYPE html><html><head><title>503 first byte timeout</title></head><body>"
    b"<h1>Error 503 first byte timeout</h1><p>first byte timeout</p><h3>Guru "
    b"Mediation:</h3><hr><p>Varnish cache server</p></body></html>"
)
EXT = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "video/x-matroska": "mkv",
}
COMMON = [
    ("Server", "cat factory 1.0"),
    ("Access-Control-Allow-Origin", "*"),
    ("X-Frame-Options", "DENY"),
]


def sniff(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:2] == b"BM":
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    return None


def dimensions(head: bytes) -> tuple[int, int]:
    if head.startswith(b"\x89PNG") and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    if head[:3] == b"GIF" and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return int(width), int(height)
    return 0, 0


def _envelope(data: Any, status: int = 200) -> bytes:
    return json.dumps({"data": data, "success": status == 200, "status": status}).encode()


def _legacy(message: str, status: int, path: str, method: str) -> bytes:
    return json.dumps(
        {
            "data": {"error": message, "request": path, "method": method},
            "success": False,
            "status": status,
        }
    ).encode()


def _structured(code: int, message: str, path: str, method: str) -> bytes:
    return json.dumps(
        {
            "data": {
                "error": {
                    "code": code,
                    "message": message,
                    "type": "ImgurException",
                    "exception": [],
                },
                "request": path,
                "method": method,
            },
            "success": False,
            "status": 400,
        }
    ).encode()


class ImgurEmulator:
    """State: stored images, buckets; every method is thread-safe."""

    def __init__(self, config: SandboxConfig, storage: Path) -> None:
        self.config = config
        self.storage = storage
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self.images: dict[str, dict[str, Any]] = {}
            self.by_deletehash: dict[str, str] = {}
            cfg = self.config
            self.client = BucketTable(cfg.imgur_client_limit, cfg.imgur_client_window)
            self.user = BucketTable(cfg.imgur_user_limit, cfg.imgur_user_window)
            self.post = BucketTable(cfg.imgur_post_limit, cfg.imgur_post_window)
            self.oauth = ImgurOAuth(cfg)

    # -- plumbing ----------------------------------------------------------------------------

    def route_kind(self, method: str, path: str) -> str:
        route = self._route(path)
        if method == "POST" and route in ("/3/image", "/3/upload"):
            return "upload"
        return "get" if method == "GET" else "other"

    @staticmethod
    def _route(path: str) -> str:
        return path[:-5] if path.endswith(".json") else path

    def uploads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {
                    k: image[k]
                    for k in (
                        "id",
                        "deletehash",
                        "size",
                        "sha256",
                        "name",
                        "type",
                        "title",
                        "description",
                        "auth",
                    )
                }
                | {"provider": "imgur"}
                for image in self.images.values()
            ]

    def _auth(self, request: SandboxRequest) -> tuple[str, str, str] | SandboxResponse:
        """(scheme, credential, app key) or the 401/403 answer."""
        header = request.headers.get("Authorization") or ""
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        route = self._route(request.path)
        if not value or scheme.lower() not in ("client-id", "bearer"):
            return SandboxResponse(
                401, _legacy("Authentication required", 401, route, request.method), list(COMMON)
            )
        if scheme.lower() == "client-id":
            allowed = self.config.imgur_client_ids
            if allowed and value not in allowed:
                return SandboxResponse(
                    403, _legacy("Invalid client_id", 403, route, request.method), list(COMMON)
                )
            return "Client-ID", value, value
        if not self.valid_token(value):
            return SandboxResponse(
                403, _legacy("Unauthorized", 403, route, request.method), list(COMMON)
            )
        return "Bearer", value, "oauth-app"

    def valid_token(self, token: str) -> bool:
        """Tokens the OAuth emulation minted (until they expire), else the knob's list
        (empty: any token is accepted, for tests that do not sign in)."""
        minted = self.oauth.token_state(token)
        if minted is not None:
            return minted == "valid"
        return not self.config.imgur_tokens or token in self.config.imgur_tokens

    def _rate_headers(self, app: str, ip: str, now: float, post: bool) -> list[tuple[str, str]]:
        client = self.client.get(app)
        user = self.user.get(f"{app}|{ip}")
        if self.config.imgur_user_reset_format == "epoch":
            user_reset = str(int(user.reset_at(now)))
        else:  # live servers send the window length, not an epoch (reference 1.10)
            user_reset = str(int(self.config.imgur_user_window))
        headers = [
            ("X-RateLimit-UserLimit", str(user.limit)),
            ("X-RateLimit-UserRemaining", str(user.remaining(now))),
            ("X-RateLimit-UserReset", user_reset),
            ("X-RateLimit-ClientLimit", str(client.limit)),
            ("X-RateLimit-ClientRemaining", str(client.remaining(now))),
            ("X-RateLimit-ClientReset", str(int(self.config.imgur_client_window))),
        ]
        if post:
            bucket = self.post.get(ip)
            # Whole seconds rounded UP, so now + value is always at or after the true reset;
            # a client can narrow the true reset from successive observations.
            headers += [
                ("X-Post-Rate-Limit-Limit", str(bucket.limit)),
                ("X-Post-Rate-Limit-Remaining", str(bucket.remaining(now))),
                ("X-Post-Rate-Limit-Reset", str(bucket.reset_in_ceil(now))),
            ]
        return headers

    def _too_many(
        self, request: SandboxRequest, headers: list[tuple[str, str]], which: str
    ) -> SandboxResponse:
        route = self._route(request.path)
        if self.config.imgur_429_shape == "legacy":
            message = {
                "client": "Daily client requests exceeded",
                "user": "User request limit exceeded",
                "post": "You are uploading too fast",
            }.get(which, "Too Many Requests")
            return SandboxResponse(
                429, _legacy(message, 429, route, request.method), COMMON + headers
            )
        body = json.dumps(
            {
                "errors": [
                    {
                        "id": f"legacy-api-{secrets.token_hex(5)}-{secrets.token_hex(3)}/"
                        f"{''.join(secrets.choice(ALNUM) for _ in range(10))}-1",
                        "code": "429",
                        "status": "Too Many Requests",
                        "detail": "Too Many Requests",
                    }
                ]
            }
        )
        return SandboxResponse(
            429,
            body.encode(),
            [
                *COMMON,
                ("Content-Type", "application/vnd.imgur.v1+json"),
                ("imgur-media-type", "imgur.v1; param=full; format=json"),
                *headers,
            ],
        )

    def fault_response(self, kind: str, request: SandboxRequest) -> SandboxResponse:
        from uploader.sandbox.faults import FaultPlan

        now = time.time()
        auth = self._auth(request)
        app = auth[2] if isinstance(auth, tuple) else "anonymous"
        with self.lock:
            headers = self._rate_headers(app, request.remote_ip, now, request.method == "POST")
        if kind == "429":
            return self._too_many(request, headers, "hidden")
        if kind == "html":
            return SandboxResponse(
                503, VARNISH_503, [("Content-Type", "text/html"), ("Retry-After", "0")]
            )
        status = int(kind)
        extra = [("Retry-After", "1")] if FaultPlan(self.config).with_retry_after(kind) else []
        body = _legacy(
            "Imgur is temporarily over capacity. Please try again later.",
            status,
            self._route(request.path),
            request.method,
        )
        return SandboxResponse(status, body, [*COMMON, *headers, *extra])

    # -- requests ------------------------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        route = self._route(request.path)
        # OAuth calls cost no credits and carry no rate-limit headers (reference 1.10).
        if route == "/oauth2/authorize" and request.method == "GET":
            return self.oauth.authorize(request)
        if route == "/oauth2/token" and request.method == "POST":
            return self.oauth.token(request)
        auth = self._auth(request)
        if isinstance(auth, SandboxResponse):
            return auth
        scheme, credential, app = auth
        if route == "/3/credits" and request.method == "GET":
            return self._credits(app, request.remote_ip)
        upload = request.method == "POST" and route in ("/3/image", "/3/upload")
        post = request.method == "POST"
        cost = 10 if upload else 1
        now = time.time()
        with self.lock:
            client = self.client.get(app)
            user = self.user.get(f"{app}|{request.remote_ip}")
            bucket = self.post.get(request.remote_ip)
            spent = (
                "client"
                if not client.can_take(cost, now)
                else "user"
                if not user.can_take(cost, now)
                else "post"
                if post and not bucket.can_take(1, now)
                else None
            )
            if spent is None:
                client.take(cost, now)
                user.take(cost, now)
                if post:
                    bucket.take(1, now)
            headers = self._rate_headers(app, request.remote_ip, now, post)
        if spent is not None:
            return self._too_many(request, headers, spent)
        if upload:
            response = self._upload(request, scheme, credential)
        else:
            response = self._image_routes(request, route, scheme, credential)
        response.headers = [*COMMON, *headers, *response.headers]
        return response

    def _credits(self, app: str, ip: str) -> SandboxResponse:
        now = time.time()
        with self.lock:
            client = self.client.get(app)
            user = self.user.get(f"{app}|{ip}")
            data = {
                "UserLimit": user.limit,
                "UserRemaining": user.remaining(now),
                "UserReset": int(user.reset_at(now)),
                "ClientLimit": client.limit,
                "ClientRemaining": client.remaining(now),
            }
        return SandboxResponse(200, _envelope(data), list(COMMON))

    def _upload(self, request: SandboxRequest, scheme: str, credential: str) -> SandboxResponse:
        route = self._route(request.path)
        ctype = request.headers.get("Content-Type") or ""
        boundary = boundary_of(ctype)
        if boundary is None:
            return SandboxResponse(
                400, _legacy("No image data was sent to the upload api", 400, route, "POST")
            )
        try:
            form = parse(request.read, boundary, request.workdir)
        except MultipartError:
            return SandboxResponse(400, _legacy("Malformed upload body", 400, route, "POST"))
        request.log["fields"] = dict(form.fields)
        part = form.files.get("image") or form.files.get("video")
        if part is None:
            return SandboxResponse(
                400, _legacy("No image data was sent to the upload api", 400, route, "POST")
            )
        request.log["file_field"] = part.name
        request.log["file_name"] = part.filename
        for other in form.files.values():
            if other is not part:
                other.path.unlink(missing_ok=True)
        if part.size == 0:
            part.path.unlink(missing_ok=True)
            return SandboxResponse(
                400, _legacy("No image data was sent to the upload api", 400, route, "POST")
            )
        mime = sniff(part.head)
        if mime is None:
            part.path.unlink(missing_ok=True)
            return SandboxResponse(400, _structured(1003, "File type invalid (1)", route, "POST"))
        limit = (
            self.config.imgur_max_video_size
            if mime.startswith("video/")
            else self.config.imgur_max_image_size
        )
        if part.size > limit:
            part.path.unlink(missing_ok=True)
            if self.config.imgur_oversize_shape == "1002":
                return SandboxResponse(
                    400, _structured(1002, "File is over the size limit", route, "POST")
                )
            body = json.dumps(
                {
                    "id": f"legacy-api-{secrets.token_hex(5)}",
                    "code": 413,
                    "detail": "file is over the size limit",
                    "status": "Request Entity Too Large",
                }
            ).encode()
            return SandboxResponse(
                413,
                body,
                [("Content-Type", "application/json; charset=utf-8"), ("monorepo-upload", "true")],
            )
        with self.lock:
            image_id = self._new_id(7)
            deletehash = self._new_id(15)
            target = self.storage / image_id
            shutil.move(str(part.path), target)
            width, height = dimensions(part.head)
            image = {
                "id": image_id,
                "deletehash": deletehash,
                "size": part.size,
                "sha256": part.sha256,
                "name": form.fields.get("name") or part.filename,
                "type": mime,
                "title": form.fields.get("title"),
                "description": form.fields.get("description"),
                "datetime": int(time.time()),
                "width": width,
                "height": height,
                "auth": scheme,
                "owner": credential if scheme == "Bearer" else None,
                "path": str(target),
            }
            self.images[image_id] = image
            self.by_deletehash[deletehash] = image_id
        return SandboxResponse(200, _envelope(self._model(image, owner=True)))

    def _new_id(self, length: int) -> str:
        while True:
            candidate = "".join(secrets.choice(ALNUM) for _ in range(length))
            if candidate not in self.images and candidate not in self.by_deletehash:
                return candidate

    @staticmethod
    def _model(image: dict[str, Any], *, owner: bool) -> dict[str, Any]:
        ext = EXT.get(image["type"], "png")
        model = {
            "id": image["id"],
            "title": image["title"],
            "description": image["description"],
            "datetime": image["datetime"],
            "type": image["type"],
            "animated": image["type"] in ("image/gif", "video/mp4"),
            "width": image["width"],
            "height": image["height"],
            "size": image["size"],
            "views": 0,
            "bandwidth": 0,
            "vote": None,
            "favorite": False,
            "nsfw": None,
            "section": None,
            "account_url": None,
            "account_id": 0 if image["owner"] is None else 1,
            "is_ad": False,
            "in_most_viral": False,
            "has_sound": False,
            "tags": [],
            "ad_type": 0,
            "ad_url": "",
            "edited": "0",
            "in_gallery": False,
            "link": f"https://i.imgur.com/{image['id']}.{ext}",
        }
        if owner:
            model["deletehash"] = image["deletehash"]
            model["name"] = image["name"]
        return model

    def _image_routes(
        self, request: SandboxRequest, route: str, scheme: str, credential: str
    ) -> SandboxResponse:
        match = re.fullmatch(r"/3/image/([A-Za-z0-9]+)", route)
        if match:
            return self._one_image(request, match.group(1), scheme, credential)
        if route == "/3/account/me" and request.method == "GET":
            if scheme != "Bearer":
                return SandboxResponse(403, _legacy("Unauthorized", 403, route, request.method))
            account = {
                "id": ACCOUNT["account_id"],
                "url": ACCOUNT["account_username"],
                "bio": None,
                "reputation": 0,
                "created": 1400000000,
                "pro_expiration": False,
            }
            return self._conditional(request, _envelope(account))
        listing = re.fullmatch(r"/3/account/([^/]+)/images(?:/(\d+))?", route)
        if listing and request.method == "GET" and scheme == "Bearer":
            page = int(listing.group(2) or request.query.get("page", "0") or 0)
            per_page = max(1, min(100, int(request.query.get("perPage", "50") or 50)))
            with self.lock:
                mine = sorted(
                    (i for i in self.images.values() if i["owner"] == credential),
                    key=lambda i: i["datetime"],
                    reverse=True,
                )
                data = [self._model(i, owner=True) for i in mine]
            return self._conditional(
                request, _envelope(data[page * per_page : (page + 1) * per_page])
            )
        if listing:
            return SandboxResponse(403, _legacy("Unauthorized", 403, route, request.method))
        return SandboxResponse(404, HTML_404, [("Content-Type", "text/html; charset=utf-8")])

    def _one_image(
        self, request: SandboxRequest, ref: str, scheme: str, credential: str
    ) -> SandboxResponse:
        with self.lock:
            image_id = self.by_deletehash.get(ref, ref)
            image = self.images.get(image_id)
            by_hash = ref in self.by_deletehash
            owner = image is not None and (
                by_hash or (scheme == "Bearer" and image["owner"] == credential)
            )
            if image is None:
                return SandboxResponse(
                    404, HTML_404, [("Content-Type", "text/html; charset=utf-8")]
                )
            if request.method == "GET":
                body = _envelope(self._model(image, owner=bool(owner and scheme == "Bearer")))
            elif not owner:
                return SandboxResponse(
                    403, _legacy("Permission denied", 403, request.path, request.method)
                )
            elif request.method == "DELETE":
                del self.images[image_id]
                del self.by_deletehash[image["deletehash"]]
                Path(image["path"]).unlink(missing_ok=True)
                return SandboxResponse(200, _envelope(True))
            else:  # POST: update title/description (form-urlencoded or multipart)
                from urllib.parse import parse_qsl

                raw = b""
                while chunk := request.read(65536):
                    raw += chunk
                    if len(raw) > 1 << 20:
                        break
                for key, value in parse_qsl(raw.decode("utf-8", "replace")):
                    if key in ("title", "description"):
                        image[key] = value
                return SandboxResponse(200, _envelope(True))
        return self._conditional(request, body)

    @staticmethod
    def _conditional(request: SandboxRequest, body: bytes) -> SandboxResponse:
        etag = '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest() + '"'
        if request.headers.get("If-None-Match") == etag:
            return SandboxResponse(304, b"", [("ETag", etag)])
        return SandboxResponse(200, body, [("ETag", etag)])
