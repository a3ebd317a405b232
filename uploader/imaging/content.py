"""A file's content digest, read once for the history and the upload alike.

The history keys every upload by the sha256 of the bytes sent. Reading a file to hash it and
then again to send it costs two passes over the disk, and a file that changes in between
(a screenshot tool still writing it) would be recorded under a digest that is not what the
server got. So a file up to :data:`HOLD_LIMIT` is read once: hashed, and the upload sends
those very bytes from memory. A larger file (a long video) is hashed in a streaming pass and
then streamed again from disk: holding it would cost its whole size in memory.
"""

from __future__ import annotations

import io
from dataclasses import replace

from uploader.errors import InputFileError
from uploader.imaging.structure import structure_problem
from uploader.models import ImageFile

# Screenshots are well under this; at most one such file is held per upload in progress.
HOLD_LIMIT = 32 * 1024 * 1024
CHUNK = 1 << 20


def fingerprint(image: ImageFile) -> ImageFile:
    """``image`` with its ``sha256`` set (and its bytes held, up to :data:`HOLD_LIMIT`).

    A file that changed since it was checked is checked again on the bytes read, so what
    is sent and recorded is one whole, consistent file."""
    if image.sha256 is not None:
        return image
    import hashlib  # start-up: only an upload with the history on pays for it

    digest = hashlib.sha256()
    held: bytes | None = None
    size = 0
    try:
        with image.source.open("rb") as stream:
            if image.size <= HOLD_LIMIT:
                # One byte more than expected tells a file that grew since it was checked
                # (asking for the limit itself costs a 32 MiB buffer per file: 0.3 ms).
                held = stream.read(image.size + 1)
                if len(held) > image.size:
                    held += stream.read(HOLD_LIMIT + 1 - len(held))
                if len(held) > HOLD_LIMIT:
                    held = None
                    stream.seek(0)
            if held is not None:
                digest.update(held)
                size = len(held)
            else:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
    except OSError as exc:
        raise InputFileError(f"{image.label}: cannot read ({exc.strerror or exc})") from None
    if size != image.size:
        _recheck(image, held, size)
    return replace(image, size=size, sha256=digest.hexdigest(), data=held)


def _recheck(image: ImageFile, held: bytes | None, size: int) -> None:
    """The file changed size after it was checked: refuse it unless what was read now is
    a whole file of the same type (then that is what is sent)."""
    hint = "wait until the program writing it is done, then upload it again"
    if size == 0:
        raise InputFileError(f"{image.label}: file is empty (it changed while being read)")
    if held is None:
        raise InputFileError(f"{image.label}: the file changed while being read", hint=hint)
    why = structure_problem(io.BytesIO(held), image.mime_type, size)
    if why:
        raise InputFileError(
            f"{image.label}: the file changed while being read and is not whole now ({why})",
            hint=hint,
        )
