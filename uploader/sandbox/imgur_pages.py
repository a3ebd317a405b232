"""Imgur's HTML pages (the 404 of an unknown image, its closed doors), ETag/304 answers,
the JSON Content-Type, and the clamped integers of its query strings, for the Imgur
emulator."""

from __future__ import annotations

from uploader.sandbox.imgur_shapes import HTML, HTML_404, JSON, etag_matches, etag_of
from uploader.sandbox.server import SandboxRequest, SandboxResponse


def html_page(status: int, title: str, text: str) -> SandboxResponse:
    """An HTML page (Imgur's closed doors: the region block, the "Error (1024)" page)."""
    body = f"<html><head><title>{title}</title></head><body><p>{text}</p></body></html>"
    return SandboxResponse(status, body.encode(), [("Content-Type", "text/html; charset=utf-8")])


def not_found_page() -> SandboxResponse:
    """The HTML page Imgur gives for an unknown or deleted image (reference 1.2 #5)."""
    return SandboxResponse(404, HTML_404, list(HTML))


def clamped_int(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        value = int(raw) if raw not in (None, "") else default
    except ValueError:
        value = default
    return max(low, min(high, value))


def typed(response: SandboxResponse) -> SandboxResponse:
    """A body without a Content-Type is JSON, spelt as Imgur spells it."""
    if response.body and not any(n.lower() == "content-type" for n, _ in response.headers):
        response.headers = [*response.headers, *JSON]
    return response


def conditional(request: SandboxRequest, body: bytes) -> SandboxResponse:
    """ETag on the 200; 304 with no body when If-None-Match matches (reference 1.11;
    the request was still charged)."""
    etag = etag_of(body)
    if etag_matches(request.headers.get("If-None-Match"), etag):
        return SandboxResponse(304, b"", [("ETag", etag)])
    return SandboxResponse(200, body, [*JSON, ("ETag", etag)])
