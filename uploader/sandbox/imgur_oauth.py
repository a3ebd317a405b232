"""Imgur's OAuth 2 endpoints in the sandbox (reference 1.9).

``GET /oauth2/authorize`` with ``response_type`` token (tokens in the redirect's fragment),
pin (a page showing a single-use PIN) or code; ``POST /oauth2/token`` with the
``refresh_token``, ``pin`` and ``authorization_code`` grants. Client secrets are checked,
PINs and codes are single-use and bound to their client, access tokens expire after
``imgur_token_lifetime`` seconds and refresh tokens never do (as Imgur documents).
Imgur registers one callback URL per app; the sandbox also honours a ``redirect_uri``
parameter (loopback only) so a CLI's ephemeral loopback listener can be tested.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from uploader.sandbox.exchange import Clock
from uploader.sandbox.knobs import SandboxConfig
from uploader.sandbox.server import SandboxRequest, SandboxResponse

ACCOUNT = {"account_id": 135798223, "account_username": "sandbox-user"}


def _legacy(message: str, status: int) -> SandboxResponse:
    body = {
        "data": {"error": message, "request": "/oauth2/token", "method": "POST"},
        "success": False,
        "status": status,
    }
    return SandboxResponse(status, json.dumps(body).encode())


class ImgurOAuth:
    """Minted tokens, pending PINs and codes."""

    def __init__(self, config: SandboxConfig, clock: Clock = time.time) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.Lock()
        self.access: dict[str, float] = {}  # token -> expiry
        self.refresh: dict[str, str] = {}  # refresh token -> client id
        self.grants: dict[str, str] = {}  # pin or code -> client id
        self.refreshes = 0

    def token_state(self, token: str) -> str | None:
        """ "valid", "expired", or None for a token this sandbox never minted."""
        with self.lock:
            expiry = self.access.get(token)
        if expiry is None:
            return None
        return "valid" if self.clock() < expiry else "expired"

    def _mint(self, client_id: str, refresh: str | None = None) -> dict[str, Any]:
        access = secrets.token_hex(20)
        refresh = refresh or secrets.token_hex(20)
        lifetime = self.config.imgur_token_lifetime
        with self.lock:
            self.access[access] = self.clock() + lifetime
            self.refresh[refresh] = client_id
        return {
            "access_token": access,
            "expires_in": int(lifetime),
            "token_type": "bearer",
            "scope": "",
            "refresh_token": refresh,
            **ACCOUNT,
        }

    def authorize(self, request: SandboxRequest) -> SandboxResponse:
        query = request.query
        client_id = query.get("client_id", "")
        kind = query.get("response_type", "")
        state = query.get("state")
        redirect = query.get("redirect_uri", "http://127.0.0.1/callback")
        host = urlsplit(redirect).hostname or ""
        if not client_id or kind not in ("token", "pin", "code"):
            return SandboxResponse(
                400,
                b"<html><title>imgur: bad request</title></html>",
                [("Content-Type", "text/html; charset=utf-8")],
            )
        if host not in ("127.0.0.1", "::1", "localhost"):
            return SandboxResponse(
                400,
                b"<html><title>imgur: bad redirect</title></html>",
                [("Content-Type", "text/html; charset=utf-8")],
            )
        if not self.config.oauth_auto_approve:
            page = (
                f"<html><title>imgur: authorize</title><body>Allow the app "
                f"{html.escape(client_id)} access?</body></html>"
            ).encode()
            return SandboxResponse(200, page, [("Content-Type", "text/html; charset=utf-8")])
        extra = {"state": state} if state is not None else {}
        if kind == "token":
            fragment = urlencode({**{k: str(v) for k, v in self._mint(client_id).items()}, **extra})
            return SandboxResponse(302, b"", [("Location", f"{redirect}#{fragment}")])
        grant = secrets.token_hex(5)
        with self.lock:
            self.grants[grant] = client_id
        if kind == "pin":
            page = (
                f"<html><title>imgur: your PIN</title><body>Enter this PIN: "
                f'<code id="pin">{grant}</code></body></html>'
            ).encode()
            return SandboxResponse(200, page, [("Content-Type", "text/html; charset=utf-8")])
        query_string = urlencode({"code": grant, **extra})
        return SandboxResponse(302, b"", [("Location", f"{redirect}?{query_string}")])

    def token(self, request: SandboxRequest) -> SandboxResponse:
        raw = b""
        while chunk := request.read(65536):
            raw += chunk
        form = dict(parse_qsl(raw.decode("utf-8", "replace")))
        client_id = form.get("client_id", "")
        if form.get("client_secret") != self.config.oauth_client_secret or not client_id:
            # GAP: no capture of Imgur's answer to a wrong secret; the legacy shape is used.
            return _legacy("Invalid client_secret", 401)
        grant_type = form.get("grant_type")
        if grant_type == "refresh_token":
            refresh = form.get("refresh_token", "")
            with self.lock:
                owner = self.refresh.get(refresh)
            if owner != client_id:
                return _legacy("Refresh token doesn't exist or is invalid for the client", 400)
            with self.lock:
                self.refreshes += 1
            return SandboxResponse(200, json.dumps(self._mint(client_id, refresh)).encode())
        if grant_type in ("pin", "authorization_code"):
            grant = form.get("pin" if grant_type == "pin" else "code", "")
            with self.lock:
                owner = self.grants.pop(grant, None)  # single use
            if owner != client_id:
                return _legacy("Invalid grant", 400)
            return SandboxResponse(200, json.dumps(self._mint(client_id)).encode())
        return _legacy("Invalid grant_type parameter or parameter missing", 400)
