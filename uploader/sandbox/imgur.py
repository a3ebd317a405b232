"""The Imgur API v3 emulator (prefix ``/imgur``), faithful to reference section 1.

Routes (an optional ``.json`` suffix is accepted on all): ``POST /3/image`` and
``/3/upload``; ``GET``/``POST``/``DELETE /3/image/{id|deletehash}``; ``GET /3/account/me``,
``/3/account/{me|name}/images[/{page}]``, ``.../images/ids[/{page}]``, ``.../images/count``;
``GET /3/credits``; albums (``imgur_albums.py``); Imgur's OAuth endpoints
(``imgur_oauth.py``). Buckets and their headers live in ``imgur_limits.py``, the response
shapes in ``imgur_shapes.py``. Every JSON answer says ``application/json; charset=utf-8``,
as captures do (reference 1.10).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from uploader.sandbox.exchange import Clock
from uploader.sandbox.filetypes import file_dimensions
from uploader.sandbox.imgur_albums import ImgurAlbums
from uploader.sandbox.imgur_limits import BEARER_APP, UPLOAD_COST, ImgurLimits
from uploader.sandbox.imgur_oauth import ACCOUNT, ImgurOAuth
from uploader.sandbox.imgur_pages import (
    clamped_int,
    conditional,
    html_page,
    not_found_page,
    typed,
)
from uploader.sandbox.imgur_shapes import (
    CDN_400,
    COMMON,
    HTML,
    HTML_405,
    JSON,
    VARNISH_503,
    StoredImage,
    cdn_forbidden,
    envelope,
    image_model,
    legacy,
    random_id,
    structured,
)
from uploader.sandbox.imgur_upload import Refusal, read_form, receive
from uploader.sandbox.knobs import SandboxConfig
from uploader.sandbox.links import file_response
from uploader.sandbox.metadata import metadata_of
from uploader.sandbox.multipart import Form, StoredPart
from uploader.sandbox.server import SandboxRequest, SandboxResponse

__all__ = ["ImgurEmulator"]

UPLOAD_ROUTES = ("/3/image", "/3/upload")
_IMAGE = re.compile(r"/3/image/([A-Za-z0-9]+)")
_LISTING = re.compile(r"/3/account/([^/]+)/images(?:/(ids))?(?:/(\d+))?")
_COUNT = re.compile(r"/3/account/([^/]+)/images/count")


class ImgurEmulator:
    """Stored images, buckets and OAuth state; every method is thread-safe."""

    def __init__(self, config: SandboxConfig, storage: Path, clock: Clock = time.time) -> None:
        self.config = config
        self.storage = storage
        self.clock = clock
        self.lock = threading.Lock()
        self.reset()

    origin = ""  # the sandbox's http://HOST:PORT, from the requests (links.py)

    def reset(self) -> None:
        """Forget images (removing their files), buckets and OAuth state."""
        with self.lock:
            for image in getattr(self, "images", {}).values():
                Path(image.path).unlink(missing_ok=True)
            self.images: dict[str, StoredImage] = {}
            self.by_deletehash: dict[str, str] = {}
            self.seq = 0
            self.albums = ImgurAlbums(self.images, self.by_deletehash, self._new_id)
            self.limits = ImgurLimits(self.config)
            self.oauth = ImgurOAuth(self.config, self.clock)

    # -- the Emulator protocol ------------------------------------------------------------

    @staticmethod
    def _route(path: str) -> str:
        return path.removesuffix(".json")

    def route_kind(self, method: str, path: str) -> str:
        if method == "POST" and self._route(path) in UPLOAD_ROUTES:
            return "upload"
        return "get" if method == "GET" else "other"

    def uploads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [image.summary() for image in self.images.values()]

    def fault_response(self, kind: str, request: SandboxRequest) -> SandboxResponse:
        """Injected answers in Imgur's real shapes, with the rate headers as they stand."""
        route = self._route(request.path)
        if kind == "html":  # reference 1.2 #5: Varnish outage page [OBS S10, S11]
            return SandboxResponse(503, VARNISH_503, [*HTML, ("Retry-After", "0")])
        if kind == "html_405":  # reference 1.2 #5 [OBS S8 #2231]
            return SandboxResponse(405, HTML_405, list(HTML))
        if kind == "cdn_400":  # reference 1.2 #1 [OBS S8 #8009]: the CDN, no rate headers
            return SandboxResponse(400, cdn_forbidden(), list(CDN_400))
        auth = self._auth(request)
        post = request.method == "POST"
        now = self.clock()
        headers = (
            self.limits.headers(auth[2], request.remote_ip, post=post, now=now)
            if isinstance(auth, tuple) and route.startswith("/3/") and route != "/3/credits"
            else []
        )
        method = request.method
        if kind == "429":  # a real 429 in every era (a structured400 throttle is not one)
            which = "post" if post else "user"
            wait = self.limits.wait_for(which, request.remote_ip, now)
            return self.limits.too_many(
                which, route, method, headers, wait=wait, throttle_shape="legacy429"
            )
        if kind == "forbidden_400":  # reference 1.2 #2 [OBS S8 #3085]
            body = structured(403, "Forbidden", route, method)
            return SandboxResponse(400, body, [*COMMON, *JSON, *headers])
        if kind == "over_capacity":  # reference 1.2 #1 [3P S12, S16]; GAP: the HTTP status
            body = legacy("Imgur is over capacity. Please try again.", 1203, route, method)
            return SandboxResponse(500, body, [*COMMON, *JSON, *headers])
        status = int(kind)
        message = "Imgur is temporarily over capacity. Please try again later."  # [3P S12]
        body = legacy(message, status, route, method)
        return SandboxResponse(status, body, [*COMMON, *JSON, *headers])

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        route = self._route(request.path)
        self.origin = request.origin  # the same for every request: links point back here
        if self.config.imgur_region_block:
            request.drain()
            return html_page(
                403,
                "imgur: content not available in your region",
                "Content not available in your region.",
            )
        if route.startswith("/i/") and request.method in ("GET", "HEAD"):  # the CDN
            with self.lock:
                image = self.images.get(route[3:].split(".", 1)[0])
            return file_response(image.path if image else None, image.type if image else "")
        # OAuth calls cost no credits and carry no rate-limit headers (reference 1.9, 1.10).
        if route == "/oauth2/authorize" and request.method == "GET":
            if self.config.imgur_authorize_error_1024:
                return html_page(400, "imgur: Error", "Error (1024). Please try again later.")
            return typed(self.oauth.authorize(request))
        if route == "/oauth2/token" and request.method == "POST":
            return typed(self.oauth.token(request))
        auth = self._auth(request)
        if isinstance(auth, SandboxResponse):
            return auth
        scheme, account, app = auth
        now = self.clock()
        if route == "/3/credits" and request.method == "GET":
            return self._credits(request, app, now)
        upload = request.method == "POST" and route in UPLOAD_ROUTES
        post = request.method == "POST"
        lacking, headers = self.limits.charge(
            app, request.remote_ip, upload=upload, post=post, now=now
        )
        if lacking is not None:  # refused whole, body unread (the server drains it)
            wait = self.limits.wait_for(lacking, request.remote_ip, now)
            return self.limits.too_many(lacking, route, request.method, headers, wait=wait)
        try:
            if upload:
                response = self._upload(request, route, scheme, account)
            else:
                response = self._dispatch(request, route, account)
        except Refusal as refusal:
            response = refusal.response
            if refusal.credits_back:
                headers = self.limits.refund(app, request.remote_ip, UPLOAD_COST, now)
        response.headers = [*COMMON, *headers, *response.headers]
        return typed(response)

    def _credits(self, request: SandboxRequest, app: str, now: float) -> SandboxResponse:
        """``GET /3/credits`` (reference 1.8): no rate headers [3P S27]; it costs
        ``imgur_credits_cost`` user and client credits (0 by default: [GAP], nothing
        says it is free, and 1.10 says "1 credit per call")."""
        cost = self.config.imgur_credits_cost
        if cost:
            lacking, _ = self.limits.charge(
                app, request.remote_ip, upload=False, post=False, now=now, cost=cost
            )
            if lacking is not None:
                return self.limits.too_many(lacking, "/3/credits", request.method, [])
        data = self.limits.credits(app, request.remote_ip, now)
        return SandboxResponse(200, envelope(data), [*COMMON, *JSON])

    # -- auth -------------------------------------------------------------------------------

    def valid_token(self, token: str) -> str | None:
        """The account a Bearer token acts for, or None when it is invalid or expired.

        Tokens minted by the OAuth endpoints belong to the sandbox user until they expire;
        other tokens are accepted when ``imgur_tokens`` is empty or lists them, each as an
        account of its own (so tests need not sign in)."""
        state = self.oauth.token_state(token)
        if state is not None:
            return str(ACCOUNT["account_username"]) if state == "valid" else None
        if self.config.imgur_tokens and token not in self.config.imgur_tokens:
            return None
        return "user-" + hashlib.sha256(token.encode()).hexdigest()[:10]

    @staticmethod
    def account_id(account: str) -> int:
        if account == ACCOUNT["account_username"]:
            return int(str(ACCOUNT["account_id"]))
        return int(account.removeprefix("user-"), 16) % 1_000_000_000

    def _auth(self, request: SandboxRequest) -> tuple[str, str | None, str] | SandboxResponse:
        """(scheme, account or None, app key for the client bucket) or the 401/403."""
        header = (request.headers.get("Authorization") or "").strip()
        scheme, _, value = header.partition(" ")
        value = value.strip()
        route = self._route(request.path)
        method = request.method
        if not value or scheme.lower() not in ("client-id", "bearer"):  # reference 1.2 #1
            body = legacy("Authentication required", 401, route, method)
            return SandboxResponse(401, body, [*COMMON, *JSON])
        if scheme.lower() == "client-id":
            allowed = self.config.imgur_client_ids
            if allowed and value not in allowed:
                body = legacy("Invalid client_id", 403, route, method)
                return SandboxResponse(403, body, [*COMMON, *JSON])
            return "Client-ID", None, value
        account = self.valid_token(value)
        if account is None:  # reference 1.9 last bullet: 403, data.error "Unauthorized"
            body = legacy("Unauthorized", 403, route, method)
            return SandboxResponse(403, body, [*COMMON, *JSON])
        return "Bearer", account, BEARER_APP

    # -- upload -----------------------------------------------------------------------------

    def _upload(
        self, request: SandboxRequest, route: str, scheme: str, account: str | None
    ) -> SandboxResponse:
        form, part, mime = receive(request, route, self.config)
        try:
            image = self._store(part, mime, form, scheme, account)
        finally:
            form.discard()  # whatever was not moved into storage
        return SandboxResponse(
            200, envelope(image_model(image, owner=True, upload=True, origin=self.origin))
        )

    def _store(
        self, part: StoredPart, mime: str, form: Form, scheme: str, account: str | None
    ) -> StoredImage:
        width, height = file_dimensions(part.path, part.head)
        now = self.clock()
        with self.lock:
            image_id = self._new_id(7)
            deletehash = self._new_id(15)
            target = self.storage / image_id
            shutil.move(part.path, target)
            self.seq += 1
            image = StoredImage(
                id=image_id,
                deletehash=deletehash,
                size=part.size,
                sha256=part.sha256,
                name=form.fields.get("name") or part.filename,
                type=mime,
                title=form.fields.get("title"),
                description=form.fields.get("description"),
                datetime=int(now),
                width=width,
                height=height,
                auth=scheme,
                account=account,
                account_id=self.account_id(account) if account else None,
                path=str(target),
                seq=self.seq,
                album=form.fields.get("album"),
                stored_at=now,
                metadata=tuple(metadata_of(target, mime)),
            )
            self.images[image_id] = image
            self.by_deletehash[deletehash] = image_id
            self.albums.add_upload(image.album, image_id, account)
        return image

    def _new_id(self, length: int) -> str:
        while True:
            candidate = random_id(length)
            if candidate not in self.images and candidate not in self.by_deletehash:
                return candidate

    # -- other routes -----------------------------------------------------------------------

    def _dispatch(
        self, request: SandboxRequest, route: str, account: str | None
    ) -> SandboxResponse:
        match = _IMAGE.fullmatch(route)
        if match:
            return self._one_image(request, route, match.group(1), account)
        if route.startswith("/3/account/") and request.method == "GET":
            return self._account(request, route, account)
        if route == "/3/album" or route.startswith("/3/album/"):
            return self._album(request, route, account)
        return not_found_page()

    def _album(self, request: SandboxRequest, route: str, account: str | None) -> SandboxResponse:
        """The album routes (reference 1.6, imgur_albums.py)."""
        form = read_form(request, route) if request.method != "GET" else Form()
        request.log["fields"] = dict(form.fields)
        owner = (account, self.account_id(account) if account else None)
        now, origin = self.clock(), self.origin
        with self.lock:
            answer = self.albums.handle(request.method, route, form, owner, now, origin)
        return conditional(request, answer) if isinstance(answer, bytes) else answer

    def _one_image(
        self, request: SandboxRequest, route: str, ref: str, account: str | None
    ) -> SandboxResponse:
        method = request.method
        if method not in ("GET", "POST", "DELETE"):
            return not_found_page()
        form = read_form(request, route) if method == "POST" else Form()
        with self.lock:
            by_hash = ref in self.by_deletehash
            image = self.images.get(self.by_deletehash.get(ref, ref))
            if image is None:  # also a second delete (reference 1.5) [OBS S17]
                return not_found_page()
            owner = account is not None and image.account == account
            if method == "GET":
                body = envelope(image_model(image, owner=owner, origin=self.origin))
            elif not (by_hash or owner):  # Client-ID needs the deletehash (reference 1.5)
                return SandboxResponse(403, legacy("Permission denied", 403, route, method))
            elif method == "DELETE":
                del self.images[image.id]
                del self.by_deletehash[image.deletehash]
                Path(image.path).unlink(missing_ok=True)
                return SandboxResponse(200, envelope(True))
            else:  # POST: update title/description, answer Basic (reference 1.5)
                request.log["fields"] = dict(form.fields)
                if "title" in form.fields:
                    image.title = form.fields["title"]
                if "description" in form.fields:
                    image.description = form.fields["description"]
                return SandboxResponse(200, envelope(True))
        return conditional(request, body)

    def _account(self, request: SandboxRequest, route: str, account: str | None) -> SandboxResponse:
        if account is None:  # account routes need a user token
            return SandboxResponse(403, legacy("Unauthorized", 403, route, request.method))
        if route == "/3/account/me":
            data = {
                "id": self.account_id(account),
                "url": account,
                "bio": None,
                "reputation": 0,
                "created": 1400000000,
                "pro_expiration": False,
            }
            return conditional(request, envelope(data))
        count = _COUNT.fullmatch(route)
        listing = _LISTING.fullmatch(route)
        found = count or listing
        if found is None:
            return not_found_page()
        if found.group(1) not in ("me", account):
            return SandboxResponse(403, legacy("Unauthorized", 403, route, request.method))
        # listing_lag: an upload shows in the listing only that long after it was stored.
        shown_before = self.clock() - self.config.listing_lag
        with self.lock:
            mine = sorted(
                (
                    i
                    for i in self.images.values()
                    if i.account == account and i.stored_at <= shown_before
                ),
                key=lambda i: i.seq,
                reverse=True,  # newest first
            )
            models = [image_model(i, owner=True, origin=self.origin) for i in mine]
        if listing is None:
            return conditional(request, envelope(len(models)))
        page = clamped_int(listing.group(3) or request.query.get("page"), 0, 0, 10**9)
        per_page = clamped_int(request.query.get("perPage"), 50, 1, 100)  # reference 1.7
        chosen = models[page * per_page : (page + 1) * per_page]
        page_data: list[Any] = [m["id"] for m in chosen] if listing.group(2) else chosen
        return conditional(request, envelope(page_data))
