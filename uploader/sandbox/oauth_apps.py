"""OAuth 2 for the Gyazo and Mastodon emulators (reference 2.4, 3.1, 3.2).

Registered under their own prefixes (``/gyazo/oauth``, ``/mastodon/oauth``,
``/mastodon/api/v1/apps``) so the API emulators stay about the API. Codes are single-use
and bound to the client, the redirect URI and (Mastodon) the PKCE challenge; client
secrets are checked; Mastodon's revoke really invalidates the token. ``TokenBook`` is the
shared record of minted and revoked tokens the API emulators consult.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from uploader.sandbox.exchange import bearer_token
from uploader.sandbox.knobs import SandboxConfig
from uploader.sandbox.server import SandboxRequest, SandboxResponse

JSON = [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store")]
OOB = "urn:ietf:wg:oauth:2.0:oob"
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the "
    "redirection URI used in the authorization request, or was issued to another client."
)
INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, "
    "or unsupported authentication method."
)


class TokenBook:
    """Tokens the OAuth endpoints minted, and those revoked since."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.minted: dict[str, str] = {}  # token -> provider
        self.revoked: set[str] = set()

    def mint(self, provider: str, length: int = 32) -> str:
        token = secrets.token_hex(length)
        with self.lock:
            self.minted[token] = provider
        return token

    def state(self, token: str) -> str | None:
        """ "valid", "revoked", or None for a token not minted here."""
        with self.lock:
            if token in self.revoked:
                return "revoked"
            return "valid" if token in self.minted else None

    def accepts(self, token: str | None, allowed: tuple[str, ...]) -> bool:
        """Minted and not revoked; else in ``allowed`` (empty: any token, for tests that do
        not sign in)."""
        if not token:
            return False
        state = self.state(token)
        if state is not None:
            return state == "valid"
        return not allowed or token in allowed

    def revoke(self, token: str) -> None:
        with self.lock:
            if token in self.minted:
                self.revoked.add(token)


def _form(request: SandboxRequest) -> dict[str, str]:
    raw = b""
    while chunk := request.read(65536):
        raw += chunk
        if len(raw) > 1 << 20:
            break
    if (request.headers.get("Content-Type") or "").startswith("application/json"):
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        return {str(k): "\n".join(v) if isinstance(v, list) else str(v) for k, v in data.items()}
    return dict(parse_qsl(raw.decode("utf-8", "replace")))


def _oauth_error(status: int, error: str, description: str) -> SandboxResponse:
    body = json.dumps({"error": error, "error_description": description}).encode()
    headers = list(JSON)
    if status in (400, 401):
        headers.append(
            (
                "WWW-Authenticate",
                f'Bearer realm="Doorkeeper", error="{error}", error_description="{description}"',
            )
        )
    return SandboxResponse(status, body, headers)


def _loopback_match(registered: list[str], given: str) -> bool:
    """Exact match, except that loopback redirect URIs may use any port (RFC 8252 7.3)."""
    if given in registered:
        return True
    parts = urlsplit(given)
    if parts.hostname not in ("127.0.0.1", "::1"):
        return False
    for uri in registered:
        known = urlsplit(uri)
        if (known.scheme, known.hostname, known.path) == (parts.scheme, parts.hostname, parts.path):
            return True
    return False


class _OAuthBase:
    def __init__(self, config: SandboxConfig, book: TokenBook) -> None:
        self.config = config
        self.book = book
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.codes: dict[str, dict[str, str]] = {}

    def route_kind(self, method: str, path: str) -> str:
        return "other"

    def fault_response(self, kind: str, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(503, b'{"error":"Service unavailable"}', list(JSON))

    def uploads(self) -> list[dict[str, Any]]:
        return []

    def _issue_code(self, **binding: str) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = binding
        return code

    def _take_code(self, code: str) -> dict[str, str] | None:
        with self.lock:
            return self.codes.pop(code, None)  # single use


class GyazoOAuthEmulator(_OAuthBase):
    """``/gyazo/oauth/authorize`` and ``/gyazo/oauth/token``."""

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.path == "/authorize" and request.method == "GET":
            query = request.query
            redirect = query.get("redirect_uri", "")
            if query.get("response_type") != "code" or not query.get("client_id") or not redirect:
                return _oauth_error(
                    400,
                    "invalid_request",
                    "client_id, redirect_uri and response_type=code are required",
                )
            code = self._issue_code(client_id=query["client_id"], redirect_uri=redirect)
            params = {"code": code, **({"state": query["state"]} if "state" in query else {})}
            return SandboxResponse(302, b"", [("Location", f"{redirect}?{urlencode(params)}")])
        if request.path == "/token" and request.method == "POST":
            form = _form(request)
            if form.get("client_secret") != self.config.oauth_client_secret:
                return _oauth_error(401, "invalid_client", INVALID_CLIENT)
            bound = self._take_code(form.get("code", ""))
            if (
                bound is None
                or bound["client_id"] != form.get("client_id")
                or bound["redirect_uri"] != form.get("redirect_uri")
            ):
                return _oauth_error(400, "invalid_grant", INVALID_GRANT)
            token = self.book.mint("gyazo")
            body = {"access_token": token, "token_type": "bearer", "scope": "public"}
            return SandboxResponse(200, json.dumps(body).encode(), list(JSON))
        return SandboxResponse(404, b'{"message":"Not Found"}', list(JSON))


class MastodonOAuthEmulator(_OAuthBase):
    """App registration, authorize (with PKCE), token, and revoke."""

    def __init__(
        self, config: SandboxConfig, book: TokenBook, clock: Callable[[], float] = time.time
    ) -> None:
        self.clock = clock
        super().__init__(config, book)

    def reset(self) -> None:
        super().reset()
        self.apps: dict[str, dict[str, Any]] = {}
        self.app_tokens: dict[str, set[str]] = {}  # client_id -> tokens minted for it
        self.last_valid: dict[str, float] = {}  # client_id -> when it last had a valid token

    def _app(self, client_id: str) -> dict[str, Any] | None:
        """The registered app, unless the server has deleted it for want of a valid token
        (``mastodon_tokenless_app_lifetime``, as Mastodon 4.2.0 to 4.2.8 did)."""
        lifetime = self.config.mastodon_tokenless_app_lifetime
        with self.lock:
            app = self.apps.get(client_id)
            if app is None or lifetime <= 0:
                return app
            now = self.clock()
            tokens = self.app_tokens.get(client_id, set())
            if any(self.book.state(token) == "valid" for token in tokens):
                self.last_valid[client_id] = now
                return app
            if now - self.last_valid.get(client_id, now) < lifetime:
                return app
            self._forget(client_id)
            return None

    def _forget(self, client_id: str) -> None:
        self.apps.pop(client_id, None)
        self.app_tokens.pop(client_id, None)
        self.last_valid.pop(client_id, None)

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path
        if path in ("", "/") and request.method == "POST":  # /api/v1/apps
            return self._register(request)
        if path == "/verify_credentials" and request.method == "GET":  # apps/verify_...
            if not self.book.accepts(bearer_token(request), self.config.mastodon_tokens):
                body = b'{"error":"The access token is invalid"}'
                return SandboxResponse(
                    401,
                    body,
                    [
                        *JSON,
                        ("WWW-Authenticate", 'Bearer realm="Doorkeeper", error="invalid_token"'),
                    ],
                )
            return SandboxResponse(
                200,
                b'{"name":"uploader","website":null,"scopes":'
                b'["write:media","write:statuses","read:accounts"]}',
                list(JSON),
            )
        if path == "/authorize" and request.method == "GET":
            return self._authorize(request)
        if path == "/token" and request.method == "POST":
            return self._token(request)
        if path == "/revoke" and request.method == "POST":
            form = _form(request)
            app = self._app(form.get("client_id", ""))
            if app is None or app["client_secret"] != form.get("client_secret"):
                return _oauth_error(
                    403, "unauthorized_client", "You are not authorized to revoke this token"
                )
            self.book.revoke(form.get("token", ""))
            if self.config.mastodon_delete_app_on_revoke:  # snac2
                with self.lock:
                    self._forget(app["client_id"])
            return SandboxResponse(200, b"{}", list(JSON))
        return SandboxResponse(404, b'{"error":"Record not found"}', list(JSON))

    def _register(self, request: SandboxRequest) -> SandboxResponse:
        form = _form(request)
        uris = [u for u in form.get("redirect_uris", "").replace(" ", "\n").split("\n") if u]
        if not form.get("client_name") or not uris:
            body = {"error": "Validation failed: Redirect URI must be an absolute URI."}
            return SandboxResponse(422, json.dumps(body).encode(), list(JSON))
        client_id = secrets.token_urlsafe(32)
        app = {
            "id": str(len(self.apps) + 1),
            "name": form["client_name"],
            "website": form.get("website"),
            "scopes": form.get("scopes", "read").split(),
            "redirect_uris": uris,
            "redirect_uri": "\n".join(uris),
            "client_id": client_id,
            "client_secret": secrets.token_urlsafe(32),
            "client_secret_expires_at": 0,
            "vapid_key": "BAhxsandbox=",
        }
        with self.lock:
            self.apps[client_id] = app
            self.last_valid[client_id] = self.clock()
        return SandboxResponse(200, json.dumps(app).encode(), list(JSON))

    def _authorize(self, request: SandboxRequest) -> SandboxResponse:
        query = request.query
        app = self._app(query.get("client_id", ""))
        redirect = query.get("redirect_uri", "")
        if app is None:
            return _oauth_error(401, "invalid_client", INVALID_CLIENT)
        if query.get("response_type") != "code" or not _loopback_match(
            app["redirect_uris"], redirect
        ):
            return _oauth_error(400, "invalid_request", "The redirect uri included is not valid.")
        scopes = query.get("scope", "read").replace("+", " ").split()
        if not set(scopes) <= set(app["scopes"]):
            return _oauth_error(
                400, "invalid_scope", "The requested scope is invalid, unknown, or malformed."
            )
        code = self._issue_code(
            client_id=app["client_id"],
            redirect_uri=redirect,
            challenge=query.get("code_challenge", ""),
            method=query.get("code_challenge_method", ""),
            scope=" ".join(scopes),
        )
        if redirect == OOB:
            page = (
                f'<html><title>Authorization code</title><body><input id="code" '
                f'value="{code}" readonly></body></html>'
            ).encode()
            return SandboxResponse(200, page, [("Content-Type", "text/html; charset=utf-8")])
        params = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        return SandboxResponse(302, b"", [("Location", f"{redirect}?{urlencode(params)}")])

    def _token(self, request: SandboxRequest) -> SandboxResponse:
        form = _form(request)
        app = self._app(form.get("client_id", ""))
        if app is None or app["client_secret"] != form.get("client_secret"):
            return _oauth_error(401, "invalid_client", INVALID_CLIENT)
        grant = form.get("grant_type")
        scope = form.get("scope") or " ".join(app["scopes"])
        if grant == "authorization_code":
            bound = self._take_code(form.get("code", ""))
            if (
                bound is None
                or bound["client_id"] != app["client_id"]
                or bound["redirect_uri"] != form.get("redirect_uri")
                or not self._pkce_ok(bound, form.get("code_verifier", ""))
            ):
                return _oauth_error(400, "invalid_grant", INVALID_GRANT)
            scope = bound["scope"]
        elif grant != "client_credentials":
            return _oauth_error(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )
        token = self.book.mint("mastodon", 22)
        with self.lock:
            self.app_tokens.setdefault(app["client_id"], set()).add(token)
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "scope": scope,
            "created_at": int(time.time()),
        }
        return SandboxResponse(200, json.dumps(body).encode(), list(JSON))

    @staticmethod
    def _pkce_ok(bound: dict[str, str], verifier: str) -> bool:
        if not bound.get("challenge"):
            return True  # PKCE is optional for confidential clients
        if bound.get("method") != "S256":
            return False
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=") == bound["challenge"]
