"""Two of the ``/custom`` hosts: XBackBone and a plain-text (pomf/0x0-like) host.

* ``/custom/xbackbone``: ``POST /upload`` (file in ``upload``, the token in the form
  field ``token``) answers 201 ``{"message": "OK", "version", "url"}``; the media page
  ``/USER/CODE.EXT``, its bytes at ``.../raw`` and the token link ``.../delete/TOKEN``.
  XBackBone sends no rate-limit headers: over the budget it only refuses (429, a plain
  message, no headers unless the knobs force some).
* ``/custom/text``: ``POST /upload`` (file in ``file``, an optional ``secret``; anonymous
  uploads are taken) answers text/plain ``File uploaded: URL`` and ``Delete: URL`` lines;
  errors are one text line; its budget shows in the IETF structured fields and a 429
  carries ``Retry-After`` as an HTTP date.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from uploader.sandbox.custom_limits import Headers
from uploader.sandbox.custom_store import (
    EXTENSIONS,
    CustomState,
    declared_type,
    extension_of,
    log_file,
    page,
    plain,
    random_code,
    read_form,
)
from uploader.sandbox.exchange import SandboxRequest, SandboxResponse
from uploader.sandbox.filetypes import sniff
from uploader.sandbox.links import file_response

XBB_VERSION = "3.8.1"
XBB_USER = "Xb4Kp"  # the one user's code, in every link
XBB_JSON = [("Content-Type", "application/json")]


def _xbb(status: int, message: str, headers: Headers, **more: Any) -> SandboxResponse:
    body = {"message": message, "version": XBB_VERSION, **more}
    return SandboxResponse(status, json.dumps(body).encode(), [*XBB_JSON, *headers])


def xbackbone_error(status: int, headers: Headers) -> SandboxResponse:
    """XBackBone over its budget or failing: a plain message (headers only if forced)."""
    return plain(status, HTTPStatus(status).phrase, headers)


def xbackbone(state: CustomState, request: SandboxRequest, path: str) -> SandboxResponse:
    if path.rstrip("/") == "/upload" and request.method == "POST":
        return _xbackbone_upload(state, request)
    parts = path.strip("/").split("/")
    if len(parts) < 2 or parts[0] != XBB_USER or request.method not in ("GET", "HEAD"):
        return plain(404, "Not Found")
    stored = state.find_by("xbackbone", parts[1])
    if len(parts) == 4 and parts[2] == "delete":
        allowed, headers = state.spend("xbackbone")
        if not allowed:
            return xbackbone_error(429, headers)
        if stored is None:
            return plain(404, "Not Found", headers)
        if parts[3] != state.config.custom_key:
            return _xbb(401, "Token not found.", headers)
        state.remove(stored)
        return plain(200, "Media deleted.", headers)
    if stored is None or len(parts) > 3 or (len(parts) == 3 and parts[2] != "raw"):
        return plain(404, "Not Found")
    if len(parts) == 3:
        return file_response(stored.path, stored.mime)
    body = f'<h1>{stored.name}</h1><a href="{stored.url}/raw">{stored.url}/raw</a>'
    return page(200, stored.name, body)


def _xbackbone_upload(state: CustomState, request: SandboxRequest) -> SandboxResponse:
    allowed, headers = state.spend("xbackbone")
    if not allowed:
        return xbackbone_error(429, headers)
    form = read_form(request)
    if form is None:
        return _xbb(400, "Request without file attached.", headers)
    form.keep_only("upload")
    upload = form.files.get("upload")
    token = form.fields.get("token")
    if token != state.config.custom_key:
        form.discard()
        return _xbb(401, "Token not found.", headers)
    if upload is None or not upload.filename:
        form.discard()
        return _xbb(400, "Request without file attached.", headers)
    log_file(request, upload)
    ext = extension_of(upload.filename)
    code = random_code(8)
    name = f"{code}.{ext}" if ext else code
    url = f"{request.origin}/custom/xbackbone/{XBB_USER}/{name}"
    state.keep(
        "xbackbone",
        upload,
        code,
        mime=declared_type(upload),
        name=upload.filename,
        stored_name=name,
        key=None,
        auth="token",
        url=url,
    )
    return _xbb(201, "OK", headers, url=url)


def text_host(state: CustomState, request: SandboxRequest, path: str) -> SandboxResponse:
    parts = path.strip("/").split("/")
    if request.method in ("GET", "HEAD") and len(parts) == 2 and parts[0] == "f":
        stored = state.find_by("text", parts[1])
        return file_response(stored.path if stored else None, stored.mime if stored else "")
    upload = path.rstrip("/") == "/upload" and request.method == "POST"
    delete = len(parts) == 3 and parts[0] == "d" and request.method == "GET"
    if not (upload or delete):
        return plain(404, "error: not found")
    allowed, headers = state.spend("text")
    if not allowed:
        return plain(429, "error: too many requests", headers)
    if delete:
        found = state.find("text", parts[1])
        if found is None:
            return plain(404, "error: not found", headers)
        if found.key != parts[2]:
            return plain(403, "error: wrong delete key", headers)
        state.remove(found)
        return plain(200, "deleted", headers)
    form = read_form(request)
    if form is None:
        return plain(400, "error: malformed form", headers)
    form.keep_only("file")
    part = form.files.get("file")
    secret = form.fields.get("secret")
    if secret is not None and secret != state.config.custom_key:
        form.discard()
        return plain(401, "error: invalid secret", headers)
    if part is None or part.size == 0:
        form.discard()
        return plain(400, "error: no file", headers)
    log_file(request, part)
    sniffed = sniff(part.head)
    ext = EXTENSIONS.get(sniffed or "") or extension_of(part.filename) or "bin"
    file_id = random_code(6)
    url = f"{request.origin}/custom/text/f/{file_id}.{ext}"
    stored = state.keep(
        "text",
        part,
        file_id,
        mime=sniffed or declared_type(part),
        name=part.filename,
        stored_name=f"{file_id}.{ext}",
        key=random_code(16, "0123456789abcdef"),
        auth="secret" if secret is not None else None,
        url=url,
    )
    delete_url = f"{request.origin}/custom/text/d/{file_id}/{stored.key}"
    return plain(200, f"File uploaded: {url}\nDelete: {delete_url}\n", headers)
