"""What an Imgur upload request carries, and whether Imgur would take it (reference 1.3).

The form is multipart (the file in ``image`` or ``video``) or urlencoded; ``image`` may
also be a base64 string (``type=base64``, or detected). The file is streamed to disk,
typed by its magic bytes, checked against Imgur's type list and the size limits; a
refusal comes back as :class:`Refusal` carrying Imgur's own answer.
"""

from __future__ import annotations

from pathlib import Path

from uploader.sandbox.filetypes import sniff
from uploader.sandbox.imgur_shapes import JSON, OVERSIZE, legacy, oversize_413, structured
from uploader.sandbox.knobs import SandboxConfig
from uploader.sandbox.multipart import (
    Form,
    MultipartError,
    StoredPart,
    boundary_of,
    decode_base64,
    parse,
    parse_urlencoded,
)
from uploader.sandbox.server import SandboxRequest, SandboxResponse

FILE_FIELDS = ("image", "video")  # reference 1.3: the file goes in either
NO_DATA = "No image data was sent to the upload api"  # reference 1.2 #1 (legacy shape)
# Reference 1.3: the old docs' image formats (APNG sniffs as PNG; WebP from [3P]) and the
# Postman docs' video types. Anything else (HEIC, AVIF, M4A audio, 3GP) is code 1003.
IMAGE_TYPES = frozenset(
    [
        "image/jpeg",
        "image/gif",
        "image/png",
        "image/tiff",
        "image/bmp",
        "application/pdf",
        "image/x-xcf",
        "image/webp",
    ]
)
VIDEO_TYPES = frozenset(
    [
        "video/mp4",
        "video/webm",
        "video/x-matroska",
        "video/quicktime",
        "video/x-flv",
        "video/x-msvideo",
        "video/x-ms-wmv",
        "video/mpeg",
    ]
)


class Refusal(Exception):
    """A request Imgur would refuse; ``response`` is the answer."""

    def __init__(
        self,
        status: int,
        body: bytes,
        headers: list[tuple[str, str]] | None = None,
        *,
        credits_back: bool = False,
    ) -> None:
        super().__init__(status)
        self.response = SandboxResponse(status, body, list(JSON) if headers is None else headers)
        self.credits_back = credits_back  # the upload's user and client credits are returned


def read_form(request: SandboxRequest, route: str, spool: tuple[str, ...] = ()) -> Form:
    """The request's form (empty for other content types); fields named in ``spool`` go to
    disk even when they are plain strings. Refusal (400) for a malformed body."""
    ctype = request.headers.get("Content-Type") or ""
    try:
        boundary = boundary_of(ctype)
        if boundary is not None:
            return parse(request.read, boundary, request.workdir, spool)
        if ctype.lower().startswith("application/x-www-form-urlencoded"):
            return parse_urlencoded(request.read, request.workdir, spool)
    except MultipartError as exc:  # GAP: Imgur's answer to a broken body is unknown
        message = f"Malformed request body: {exc}"
        raise Refusal(400, legacy(message, 400, route, request.method)) from exc
    return Form()


def receive(
    request: SandboxRequest, route: str, config: SandboxConfig
) -> tuple[Form, StoredPart, str]:
    """(form, the stored file part, its MIME type) for an upload Imgur would accept; the
    caller moves the part away and then calls ``form.discard()``. Records the form in the
    request log. Refusal in Imgur's shape otherwise (nothing left on disk)."""
    form = read_form(request, route, FILE_FIELDS)
    try:
        request.log["fields"] = dict(form.fields)
        part = next((form.files[name] for name in FILE_FIELDS if name in form.files), None)
        if part is None:
            raise Refusal(400, legacy(NO_DATA, 400, route, "POST"))
        request.log["file_field"] = part.name
        request.log["file_name"] = part.filename or None
        if part.spooled:  # a string instead of a file: base64 or a URL (reference 1.3)
            part = _decode_text(part, form, route, request.workdir)
        if part.size == 0:
            raise Refusal(400, legacy(NO_DATA, 400, route, "POST"))
        mime = sniff(part.head)
        if mime is None or mime not in IMAGE_TYPES | VIDEO_TYPES:  # 1.2 #2 [OBS S17, S19]
            raise Refusal(400, structured(1003, "File type invalid (1)", route, "POST"))
        gif_limit = config.imgur_gif_417_size
        if mime == "image/gif" and 0 < gif_limit < part.size:
            # Reference 1.2 #1 [OBS S8, on /3/upload; /3/image is its alias (1.3)]: the
            # captures show full user and client credits, only the POST credit spent.
            body = legacy("Internal expectation failed", 417, route, "POST")
            raise Refusal(417, body, credits_back=True)
        video = mime in VIDEO_TYPES
        limit = config.imgur_max_video_size if video else config.imgur_max_image_size
        if part.size > limit:  # reference 1.12: the 2024 413, or the older code 1002
            if config.imgur_oversize_shape == "1002":
                body = structured(1002, "File is over the size limit", route, "POST")
                raise Refusal(400, body)
            raise Refusal(413, oversize_413(), list(OVERSIZE))
    except BaseException:
        form.discard()
        raise
    return form, part, mime


def _decode_text(part: StoredPart, form: Form, route: str, workdir: Path) -> StoredPart:
    kind = form.fields.get("type", "")
    if kind == "url" or part.head.lstrip().lower().startswith((b"http://", b"https://")):
        # The sandbox is offline and never fetches (GAP: no capture of this case).
        message = "Uploads by URL are not available in the offline sandbox"
        raise Refusal(400, legacy(message, 400, route, "POST"))
    try:
        decoded = decode_base64(part, workdir)
    except MultipartError as exc:
        if kind == "base64":
            raise Refusal(400, structured(1003, "File type invalid (1)", route, "POST")) from exc
        return part  # no type given and not base64: judge the raw bytes
    part.path.unlink(missing_ok=True)
    form.files[part.name] = decoded
    return decoded
