"""Links that point back at the sandbox, and the stored bytes served behind them.

Real services answer with links on their own hosts (``https://i.imgur.com/ID.png``,
``https://i.gyazo.com/ID.png``, ``https://files.mastodon.social/media_attachments/...``);
the sandbox answers with the same path shapes under its own origin and prefix, so a link
a demo prints opens the sandbox, never the real service:

* Imgur: ``{origin}/imgur/i/ID.EXT`` (``link``, and ``mp4``/``gifv`` for animations)
* Gyazo: ``{origin}/gyazo/i/ID.EXT`` (``url``), ``{origin}/gyazo/ID`` (``permalink_url``),
  ``{origin}/gyazo/thumb/200/TOKEN-png.jpg`` (``thumb_url``: a signed token that, as on
  the real service, names a storage key and not the image id; ``thumb/SIZE/ID.EXT`` works too)
* Mastodon: ``{origin}/mastodon/system/media_attachments/files/117/020/.../original/NAME.EXT``
  (``url``; ``small/`` for an image's ``preview_url``) and ``.../thumbnails/.../original/
  NAME.png`` for the preview of a video or audio file (a placeholder image).

``GET`` (and ``HEAD``) of each answers the stored bytes with the upload's Content-Type,
streamed, without credentials (as the real CDNs do).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from uploader.sandbox.exchange import SandboxResponse

NOT_FOUND = SandboxResponse(404, b"not found\n", [("Content-Type", "text/plain")])


def file_response(path: Path | str | None, mime: str) -> SandboxResponse:
    """The stored file as the body with its type; 404 when it is gone."""
    if path is None or not Path(path).is_file():
        return NOT_FOUND
    headers = [("Content-Type", mime), ("Cache-Control", "public, max-age=31536000")]
    return SandboxResponse(200, b"", headers, file=Path(path))


def partition(media_id: str) -> str:
    """Paperclip's id partition: ``117020576894251992`` -> ``117/020/576/894/251/992``."""
    digits = media_id.zfill(18) if media_id.isdigit() else media_id
    return "/".join(digits[i : i + 3] for i in range(0, len(digits), 3))


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PLACEHOLDER_PNG = _png(4, 4)  # the preview of a video or audio file


def placeholder_response() -> SandboxResponse:
    return SandboxResponse(200, PLACEHOLDER_PNG, [("Content-Type", "image/png")])
