"""What the self-hosted hosts under ``/custom`` share: stored files, budgets, form reading.

Each host keeps its files apart (``(host, id)`` keys); a stored file carries what the
``/_sandbox/uploads`` listing shows (provider ``custom/<host>``, sha256, size, the metadata
segments found by metadata.py) and the secret that deletes it.
"""

from __future__ import annotations

import hashlib
import mimetypes
import secrets
import shutil
import string
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uploader.sandbox.custom_limits import Headers, HostBudget
from uploader.sandbox.exchange import Clock, SandboxRequest, SandboxResponse
from uploader.sandbox.filetypes import file_dimensions, sniff
from uploader.sandbox.knobs import SandboxConfig
from uploader.sandbox.metadata import metadata_of
from uploader.sandbox.multipart import (
    Form,
    MultipartError,
    StoredPart,
    boundary_of,
    parse,
    parse_urlencoded,
)

HOSTS = ("chevereto", "zipline", "xbackbone", "text")
ALNUM = string.ascii_letters + string.digits
# Extensions the sandbox gives a sniffed type (as the hosts name their files).
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
    "image/avif": "avif",
    "image/heic": "heic",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "application/pdf": "pdf",
}
TEXT = [("Content-Type", "text/plain; charset=utf-8")]
HTML = [("Content-Type", "text/html; charset=utf-8")]


def random_code(length: int, alphabet: str = ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def plain(status: int, text: str, headers: Headers | None = None) -> SandboxResponse:
    """A text/plain answer (one line and a newline unless ``text`` already ends so)."""
    body = text if text.endswith("\n") else text + "\n"
    return SandboxResponse(status, body.encode(), [*TEXT, *(headers or [])])


def page(
    status: int, title: str, body: str = "", headers: Headers | None = None
) -> SandboxResponse:
    html = f"<!DOCTYPE html><html><head><title>{title}</title></head><body>{body}</body></html>"
    return SandboxResponse(status, html.encode(), [*HTML, *(headers or [])])


def extension_of(filename: str) -> str:
    """The filename's extension, lower case, without the dot ("" when it has none)."""
    name = filename.rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem and ext.isalnum() and len(ext) <= 10 else ""


def declared_type(part: StoredPart) -> str:
    """The type a host that trusts the client gives a part: its Content-Type, else the
    filename's extension's, else the bytes', else application/octet-stream."""
    declared = (part.content_type or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    guessed = mimetypes.guess_type(f"x.{extension_of(part.filename)}")[0]
    return guessed or sniff(part.head) or "application/octet-stream"


@dataclass
class StoredFile:
    host: str
    id: str
    path: Path
    name: str  # the filename the client sent
    stored_name: str  # the name in the host's links ("ID.png", Zipline's "aB3dE9.png")
    mime: str
    size: int
    sha256: str
    key: str | None  # what deletes it: Chevereto's hash, the text host's key
    auth: str | None  # how the upload was authenticated (never the secret)
    url: str
    width: int = 0
    height: int = 0
    metadata: list[str] = field(default_factory=list)
    title: str | None = None
    description: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "deletehash": self.key,
            "size": self.size,
            "sha256": self.sha256,
            "name": self.name,
            "type": self.mime,
            "title": self.title,
            "description": self.description,
            "auth": self.auth,
            "provider": f"custom/{self.host}",
            "metadata": self.metadata,
            "url": self.url,
        }

    def md5(self) -> str:
        digest = hashlib.md5(usedforsecurity=False)
        with self.path.open("rb") as fh:
            while chunk := fh.read(65536):
                digest.update(chunk)
        return digest.hexdigest()


class CustomState:
    """Stored files and one budget per host, behind one lock."""

    def __init__(self, config: SandboxConfig, storage: Path, clock: Clock = time.time) -> None:
        self.config, self.storage, self.clock = config, storage, clock
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.files: dict[tuple[str, str], StoredFile] = {}
            self.budgets = {host: HostBudget(host, self.config) for host in HOSTS}

    def spend(self, host: str) -> tuple[bool, Headers]:
        """One request on ``host``'s budget: (allowed, the rate headers to answer with)."""
        with self.lock:
            return self.budgets[host].spend(self.clock())

    def refusal(self, host: str) -> tuple[Headers, str]:
        """For an injected 429: the headers as the budget stands, Retry-After included,
        and the wait in words."""
        with self.lock:
            budget, now = self.budgets[host], self.clock()
            return budget.headers(now) + budget.retry_after(now), budget.wait_words(now)

    def wait_words(self, host: str) -> str:
        with self.lock:
            return self.budgets[host].wait_words(self.clock())

    def keep(self, host: str, part: StoredPart, file_id: str, **values: Any) -> StoredFile:
        """Move ``part`` into the host's storage as ``file_id`` and remember it."""
        folder = self.storage / host
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{file_id}-{secrets.token_hex(4)}"
        shutil.move(str(part.path), target)
        mime = values.pop("mime")
        width, height = file_dimensions(target, part.head) if mime.startswith("image/") else (0, 0)
        stored = StoredFile(
            host=host,
            id=file_id,
            path=target,
            mime=mime,
            size=part.size,
            sha256=part.sha256,
            width=width,
            height=height,
            metadata=metadata_of(target, mime),
            at=self.clock(),
            **values,
        )
        with self.lock:
            self.files[(host, file_id)] = stored
        return stored

    def find(self, host: str, file_id: str) -> StoredFile | None:
        with self.lock:
            return self.files.get((host, file_id))

    def find_by(self, host: str, stored_name: str) -> StoredFile | None:
        with self.lock:
            return next(
                (f for f in self.files.values() if f.host == host and f.stored_name == stored_name),
                None,
            )

    def remove(self, stored: StoredFile) -> None:
        with self.lock:
            self.files.pop((stored.host, stored.id), None)
        stored.path.unlink(missing_ok=True)

    def uploads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [f.summary() for f in self.files.values()]


def read_form(
    request: SandboxRequest, spool: tuple[str, ...] = (), repeats: tuple[str, ...] = ()
) -> Form | None:
    """The request's multipart or urlencoded form (files on disk); an empty form for a
    body of another type; None when the body is malformed. The request log gets the text
    fields, without the ones named in ``secret`` fields (key, token, secret)."""
    ctype = request.headers.get("Content-Type") or ""
    try:
        boundary = boundary_of(ctype)
        if boundary is not None:
            form = parse(request.read, boundary, request.workdir, spool, repeats)
        elif ctype.lower().startswith("application/x-www-form-urlencoded"):
            form = parse_urlencoded(request.read, request.workdir, spool)
        else:
            return Form()
    except MultipartError:
        return None
    hidden = ("key", "token", "secret")
    request.log["fields"] = {k: v for k, v in form.fields.items() if k not in hidden}
    return form


def log_file(request: SandboxRequest, part: StoredPart) -> None:
    request.log["file_field"] = part.name
    request.log["file_name"] = part.filename
