"""The Mastodon emulator's ``GET`` and ``DELETE /api/v1/statuses/:id`` (reference 3.5).

GET answers the stored Status with its media as they are now (a video's ``url`` once
processed). DELETE is for the post's author only; ``delete_media=true`` removes its media
at once, otherwise they are detached (kept for re-use, as Mastodon 4.4 does).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uploader.sandbox.server import SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from uploader.sandbox.mastodon_api import MastodonEmulator

GONE = {"error": "Record not found"}


def status_answer(
    emulator: MastodonEmulator,
    request: SandboxRequest,
    status_id: str,
    token: str,
    headers: list[tuple[str, str]],
) -> SandboxResponse:
    """The answer to GET or DELETE of status ``status_id`` (``headers``: the private set)."""
    with emulator.lock:
        status = emulator.statuses.get(status_id)
        if status is None or request.method not in ("GET", "DELETE"):
            return _answer(404, GONE, headers)
        attached = [m for m in emulator.media.values() if m["status_id"] == status_id]
        body: dict[str, Any] = {
            **status,
            "media_attachments": [emulator._model(m) for m in attached],
        }
        if request.method == "GET":
            return _answer(200, body, headers)
        if emulator.status_owners.get(status_id) != token:
            return _answer(404, GONE, headers)
        drop = request.query.get("delete_media", "false").lower() in ("true", "1")
        for media in attached:
            if drop:
                del emulator.media[media["id"]]
                Path(media["path"]).unlink(missing_ok=True)
            else:
                media["status_id"] = None
        del emulator.statuses[status_id]
        emulator.status_owners.pop(status_id, None)
    return _answer(200, body, headers)


def _answer(status: int, body: Any, headers: list[tuple[str, str]]) -> SandboxResponse:
    return SandboxResponse(status, json.dumps(body).encode(), list(headers))
