"""Imgur's answer bodies in their real shapes (reference 1.2, 1.10), built in one place.

Each function returns the parsed JSON (a dict); tests wrap it in ``httpx.Response(...,
json=...)`` or compare a sandbox answer with it.
"""

from __future__ import annotations

from typing import Any

IMAGE = {
    "id": "AbCdEf1",
    "deletehash": "hdYnH1gKz9YTHfS",
    "link": "https://i.imgur.com/AbCdEf1.png",
    "type": "image/png",
    "width": 8,
    "height": 8,
}


def uploaded(**fields: Any) -> dict[str, Any]:
    """A successful ``POST /3/image`` answer; ``fields`` change the image's."""
    return {"data": {**IMAGE, **fields}, "success": True, "status": 200}


def imgur_exception(
    code: int,
    message: str,
    *,
    status: int = 400,
    route: str | None = "/3/image",
    method: str = "POST",
    exception: bool = True,
) -> dict[str, Any]:
    """The structured error: ``{"data": {"error": {code, message, type: ImgurException,
    exception: []}, request, method}, success: false, status}``. ``route=None`` leaves out
    ``request`` and ``method``; ``exception=False`` leaves out the empty ``exception`` list."""
    error: dict[str, Any] = {"code": code, "message": message, "type": "ImgurException"}
    if exception:
        error["exception"] = []
    data: dict[str, Any] = {"error": error}
    if route is not None:
        data.update(request=route, method=method)
    return {"data": data, "success": False, "status": status}


def too_fast_body(minutes: int, *, route: str = "/3/image") -> dict[str, Any]:
    """Reference 1.2 #2: the upload throttle, ImgurException code 429 in an HTTP 400."""
    message = f"You are uploading too fast. Please wait {minutes} more minutes."
    return imgur_exception(429, message, route=route)


def legacy_error(
    error: str, *, status: int, route: str | None = "/3/image", method: str = "POST"
) -> dict[str, Any]:
    """The legacy string error: ``{"data": {"error": "...", request, method}, ...}``."""
    data: dict[str, Any] = {"error": error}
    if route is not None:
        data.update(request=route, method=method)
    return {"data": data, "success": False, "status": status}


def gateway_429(request_id: str = "legacy-api-1") -> dict[str, Any]:
    """The API gateway's own 429 (no ``data``, no rate-limit headers)."""
    return {
        "errors": [
            {
                "id": request_id,
                "code": "429",
                "status": "Too Many Requests",
                "detail": "Too Many Requests",
            }
        ]
    }
