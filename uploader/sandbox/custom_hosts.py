"""Self-hosted image hosts under ``/custom``, for ShareX custom uploader (.sxcu) clients.

One emulator, four hosts, each at ``/custom/<host>``: ``chevereto`` (API v1, JSON, key in
``X-API-Key`` or ``key``), ``zipline`` (v4: raw token in ``Authorization``, several
``file`` parts) here, ``xbackbone`` and ``text`` (a pomf/0x0-like plain-text answer) in
custom_simple.py. The budgets and their headers are custom_limits.py's; the files,
custom_store.py's. Shapes follow each host's source (Chevereto V4 ``app/legacy/routes/
api.php``, Zipline ``src/lib/api/errors.ts`` and ``routes/api/upload``); [GAP] marks a
detail the sources did not settle.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from uploader.sandbox.custom_limits import Headers
from uploader.sandbox.custom_simple import text_host, xbackbone, xbackbone_error
from uploader.sandbox.custom_store import (
    EXTENSIONS,
    HOSTS,
    CustomState,
    StoredFile,
    declared_type,
    extension_of,
    log_file,
    page,
    plain,
    random_code,
    read_form,
)
from uploader.sandbox.exchange import Clock, SandboxRequest, SandboxResponse
from uploader.sandbox.filetypes import sniff
from uploader.sandbox.knobs import SandboxConfig
from uploader.sandbox.links import NOT_FOUND, file_response
from uploader.sandbox.multipart import MultipartError, decode_base64

JSON = [("Content-Type", "application/json; charset=UTF-8")]
# What Chevereto takes as an image (its default upload types).
CHEVERETO_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")


def _json(status: int, body: Any, headers: Headers) -> SandboxResponse:
    return SandboxResponse(status, json.dumps(body).encode(), [*JSON, *headers])


class CustomEmulator:
    """``/custom/<host>/...``: routes each request to its host's handler."""

    def __init__(self, config: SandboxConfig, storage: Path, clock: Clock = time.time) -> None:
        self.state = CustomState(config, storage, clock)

    def reset(self) -> None:
        for stored in list(self.state.files.values()):
            stored.path.unlink(missing_ok=True)
        self.state.reset()

    def uploads(self) -> list[dict[str, Any]]:
        return self.state.uploads()

    def logged_path(self, path: str) -> str:
        """The path as the request log keeps it: XBackBone's token links without the token."""
        parts = path.split("/")
        if len(parts) == 6 and parts[1] == "xbackbone" and parts[4] == "delete":
            parts[5] = "TOKEN"
        return "/".join(parts)

    def route_kind(self, method: str, path: str) -> str:
        if method == "POST" and path.rstrip("/").endswith("/upload"):
            return "upload"
        return "get" if method == "GET" else "other"

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        host, _, rest = request.path.lstrip("/").partition("/")
        rest = "/" + rest
        if host == "chevereto":
            return chevereto(self.state, request, rest)
        if host == "zipline":
            return zipline(self.state, request, rest)
        if host == "xbackbone":
            return xbackbone(self.state, request, rest)
        if host == "text":
            return text_host(self.state, request, rest)
        return NOT_FOUND

    def fault_response(self, kind: str, request: SandboxRequest) -> SandboxResponse:
        """Injected answers in each host's shape (a 429 with its budget's headers)."""
        host = request.path.lstrip("/").partition("/")[0]
        if kind == "html" or host not in HOSTS:
            return page(503, "503 Service Unavailable", headers=[("Retry-After", "0")])
        status = int(kind)
        headers, words = self.state.refusal(host) if status == 429 else ([], "")
        if host == "chevereto":
            message = "Too many requests" if status == 429 else "Internal server error"
            return chevereto_error(status, message, status, headers)
        if host == "zipline":
            return zipline_error(status, words, headers)
        if host == "xbackbone":
            return xbackbone_error(status, headers)
        return plain(status, f"error: {HTTPStatus(status).phrase.lower()}", headers)


# --- Chevereto API v1 ---------------------------------------------------------------


def chevereto_error(status: int, message: str, code: int, headers: Headers) -> SandboxResponse:
    """``{"status_code", "error": {"message", "code"}, "status_txt"}`` with that status."""
    body = {
        "status_code": status,
        "error": {"message": message, "code": code},
        "status_txt": HTTPStatus(status).phrase,
    }
    return _json(status, body, headers)


def chevereto(state: CustomState, request: SandboxRequest, path: str) -> SandboxResponse:
    origin = f"{request.origin}/custom/chevereto"
    parts = path.strip("/").split("/")
    if request.method in ("GET", "HEAD") and len(parts) == 2 and parts[0] == "images":
        file_id, _, ext = parts[1].partition(".")  # ID.EXT and the thumb ID.th.EXT
        stored = state.find("chevereto", file_id)
        ok = stored is not None and ext in (stored.extra["ext"], f"th.{stored.extra['ext']}")
        return file_response(stored.path if ok and stored else None, stored.mime if stored else "")
    if request.method in ("GET", "HEAD") and len(parts) == 2 and parts[0] == "image":
        stored = state.find("chevereto", parts[1])
        if stored is None:
            return page(404, "404 Not Found", "<h1>That page doesn't exist</h1>")
        return page(200, stored.name, f'<img src="{stored.url}" alt="{stored.name}">')
    if len(parts) == 3 and parts[0] == "delete" and request.method == "GET":
        allowed, headers = state.spend("chevereto")
        if not allowed:
            return chevereto_error(429, "Too many requests", 429, headers)
        stored = state.find("chevereto", parts[1])
        if stored is None or stored.key != parts[2]:
            return page(404, "404 Not Found", "<h1>That page doesn't exist</h1>", headers)
        state.remove(stored)
        return page(200, "Image deleted", "<p>Image deleted</p>", headers)
    if path in ("/api/1/upload", "/api/1/upload/") and request.method in ("GET", "POST"):
        return _chevereto_upload(state, request, origin)
    return page(404, "404 Not Found", "<h1>That page doesn't exist</h1>")


def _chevereto_upload(state: CustomState, request: SandboxRequest, origin: str) -> SandboxResponse:
    allowed, headers = state.spend("chevereto")
    if not allowed:  # [GAP] Chevereto's API sends no rate limit of its own: a front's 429
        return chevereto_error(429, "Too many requests", 429, headers)
    if "key" in request.query:  # the request log keeps no secret
        request.log["query"] = urlencode({k: v for k, v in request.query.items() if k != "key"})
    form = read_form(request, spool=("source",)) if request.method == "POST" else None
    if request.method == "POST" and form is None:
        return chevereto_error(400, "Invalid request body", 400, headers)
    fields = {**request.query, **(form.fields if form else {})}
    key = request.headers.get("X-API-Key") or fields.get("key") or ""
    source = form.files.get("source") if form else None
    refusal: tuple[str, int] | None = None
    if not key:
        refusal = ("No key provided", 100)
    elif key != state.config.custom_key:
        refusal = ("Invalid API v1 key.", 100)
    elif source is None and fields.get("source", "").startswith(("http://", "https://")):
        refusal = ("The sandbox fetches no URL source", 130)  # [GAP] a sandbox limit
    elif source is None or source.size == 0:
        refusal = ("Empty upload source.", 130)
    if refusal is None and source is not None and source.spooled:
        try:
            if source.head.lstrip().startswith((b"http://", b"https://")):
                refusal = ("The sandbox fetches no URL source", 130)  # [GAP] a sandbox limit
            else:
                decoded = decode_base64(source, request.workdir)
                source.path.unlink(missing_ok=True)
                form.files["source"] = source = decoded  # type: ignore[union-attr]
        except MultipartError:
            refusal = ("Invalid base64 string", 120)
    mime = sniff(source.head) if source is not None else None
    if refusal is None and mime not in CHEVERETO_TYPES:
        refusal = ("Invalid file type.", 310)  # [GAP] the code; the message is Chevereto's
    if refusal is not None or source is None or mime is None:
        if form is not None:
            form.discard()
        message, code = refusal or ("Empty upload source.", 130)
        if fields.get("format") in ("txt", "redirect"):
            return plain(400, message, headers)
        return chevereto_error(400, message, code, headers)
    for extra in form.files.values() if form else ():
        if extra is not source:
            extra.path.unlink(missing_ok=True)
    log_file(request, source)
    file_id = random_code(6)
    ext = EXTENSIONS[mime]
    stem = source.filename.rsplit("/", 1)[-1].rpartition(".")[0] or source.filename or file_id
    stored = state.keep(
        "chevereto",
        source,
        file_id,
        mime=mime,
        name=source.filename or f"{file_id}.{ext}",
        stored_name=f"{file_id}.{ext}",
        key=random_code(32, "0123456789abcdef"),
        auth="X-API-Key" if request.headers.get("X-API-Key") else "key",
        url=f"{origin}/images/{file_id}.{ext}",
        title=fields.get("title"),
        description=fields.get("description"),
        extra={"ext": ext, "stem": stem, "album_id": fields.get("album_id")},
    )
    image = _chevereto_image(stored, origin)
    fmt = fields.get("format", "json")
    if fmt == "txt":
        return SandboxResponse(
            200, image["url"].encode(), [("Content-Type", "text/plain"), *headers]
        )
    if fmt == "redirect":  # PHP's header("Location: ...") answers 302
        return SandboxResponse(302, b"", [("Location", image["url_viewer"]), *headers])
    body = {
        "status_code": 200,
        "success": {"message": "image uploaded", "code": 200},
        "image": image,
        "status_txt": "OK",
    }
    return _json(200, body, headers)


def _chevereto_image(stored: StoredFile, origin: str) -> dict[str, Any]:
    ext, stem, file_id = stored.extra["ext"], stored.extra["stem"], stored.id
    when = datetime.fromtimestamp(stored.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    image: dict[str, Any] = {
        "name": stem,
        "extension": ext,
        "size": stored.size,
    }
    if stored.width and stored.height:
        image.update(width=stored.width, height=stored.height)
    image.update(
        {
            "date": when,
            "date_gmt": when,
            "title": stored.title or stem,
            "description": stored.description,
            "nsfw": 0,
            "storage_mode": "datefolder",
            "md5": stored.md5(),
            "original_filename": stored.name,
            "id_encoded": file_id,
            "filename": f"{stem}.{ext}",
            "mime": stored.mime,
            "url": stored.url,
            "url_viewer": f"{origin}/image/{file_id}",
            "thumb": {
                "filename": f"{stem}.th.{ext}",
                "name": f"{stem}.th",
                "mime": stored.mime,
                "extension": ext,
                "url": f"{origin}/images/{file_id}.th.{ext}",
            },
            "display_url": stored.url,
            "delete_url": f"{origin}/delete/{file_id}/{stored.key}",
        }
    )
    if stored.extra.get("album_id"):
        image["album_id"] = stored.extra["album_id"]
    return image


# --- Zipline v4 ----------------------------------------------------------------------

ZIPLINE_ERRORS = {
    2000: "Invalid login session",
    2001: "Invalid token",
    4000: "File not found",
    9000: "Bad request",
    9002: "Not found",
    9004: "Internal server error",
}


def zipline_error(status: int, words: str, headers: Headers, code: int = 0) -> SandboxResponse:
    """Zipline's ApiError body ``{"error": "E2001: Invalid token", "code", "statusCode"}``;
    a 429 is @fastify/rate-limit's ``{"statusCode", "error", "message"}``."""
    if status == 429:
        body: dict[str, Any] = {
            "statusCode": 429,
            "error": "Too Many Requests",
            "message": f"Rate limit exceeded, retry in {words}",
        }
        return _json(429, body, headers)
    code = code or {400: 9000, 404: 9002}.get(status, 9004)
    body = {"error": f"E{code}: {ZIPLINE_ERRORS[code]}", "code": code, "statusCode": status}
    return _json(status, body, headers)


def _zipline_file(stored: StoredFile) -> dict[str, Any]:
    when = datetime.fromtimestamp(stored.at, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "id": stored.id,
        "createdAt": when,
        "updatedAt": when,
        "deletesAt": None,
        "favorite": False,
        "originalName": None,
        "name": stored.stored_name,
        "size": stored.size,
        "type": stored.mime,
        "views": 0,
        "maxViews": None,
        "folderId": None,
        "thumbnail": None,
        "tags": [],
        "url": stored.url,
    }


def zipline(state: CustomState, request: SandboxRequest, path: str) -> SandboxResponse:
    parts = path.strip("/").split("/")
    if request.method in ("GET", "HEAD") and len(parts) == 2 and parts[0] in ("u", "raw"):
        stored = state.find_by("zipline", parts[1])
        return file_response(stored.path if stored else None, stored.mime if stored else "")
    upload = path.rstrip("/") == "/api/upload" and request.method == "POST"
    delete = len(parts) == 4 and parts[:3] == ["api", "user", "files"]
    if not (upload or (delete and request.method in ("GET", "DELETE"))):
        return zipline_error(404, "", [], 9002)
    allowed, headers = state.spend("zipline")
    if not allowed:
        return zipline_error(429, state.wait_words("zipline"), headers)
    token = request.headers.get("Authorization")
    if not token:
        return zipline_error(401, "", headers, 2000)
    if token.strip() != state.config.custom_key:
        return zipline_error(401, "", headers, 2001)
    if delete:
        stored = state.find("zipline", parts[3]) or state.find_by("zipline", parts[3])
        if stored is None:
            return zipline_error(404, "", headers, 4000)
        if request.method == "DELETE":
            state.remove(stored)
        return _json(200, _zipline_file(stored), headers)
    form = read_form(request, repeats=("file",))
    if form is None:
        return zipline_error(400, "", headers, 9000)
    sent = form.keep_only("file")
    if not sent:  # [GAP] Zipline's message for an upload without files
        return zipline_error(400, "", headers, 9000)
    log_file(request, sent[0])
    files = []
    for part in sent:
        ext = extension_of(part.filename)
        name = random_code(6) + (f".{ext}" if ext else "")
        stored = state.keep(
            "zipline",
            part,
            "c" + random_code(24, "0123456789abcdefghijklmnopqrstuvwxyz"),  # a cuid
            mime=declared_type(part),
            name=part.filename,
            stored_name=name,
            key=None,
            auth="Authorization",
            url=f"{request.origin}/custom/zipline/u/{name}",
        )
        files.append({"id": stored.id, "name": name, "type": stored.mime, "url": stored.url})
    return _json(200, {"files": files}, headers)
