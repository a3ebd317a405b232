"""Provider-neutral OAuth 2 pieces: state, PKCE, and the loopback redirect listener.

The listener binds 127.0.0.1 on an ephemeral port (RFC 8252 section 7.3), answers exactly one
redirect, checks ``state``, and gives up after a timeout. For flows that return their result
in the URL fragment (Imgur's ``response_type=token``), which browsers never send to a
server, the callback page runs a two-line script that posts the fragment back to the
listener, as Imgur's documentation suggests.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from uploader.auth.credentials import SECRETS
from uploader.errors import AuthError, UploaderError

CALLBACK_PATH = "/callback"
FRAGMENT_PATH = "/fragment"

DONE_PAGE = (
    b"<!DOCTYPE html><html><head><title>uploader: signed in</title></head><body>"
    b"<p>uploader received the sign-in. You can close this window.</p></body></html>"
)
FRAGMENT_PAGE = (
    b"<!DOCTYPE html><html><head><title>uploader: finishing sign-in</title></head><body>"
    b"<p id=m>Finishing sign-in...</p><script>"
    b"fetch('/fragment',{method:'POST',body:location.hash.slice(1)})"
    b".then(function(r){document.getElementById('m').textContent=r.ok?"
    b"'uploader received the sign-in. You can close this window.':'Sign-in failed.'})"
    b"</script></body></html>"
)


# Form fields whose values are secrets; a server that quotes one in its error text must
# not make us print it: the profile's secrets, plus the one-time values of a sign-in.
SECRET_FIELDS = (*SECRETS, "code", "code_verifier", "pin", "token")


class Endpoints(NamedTuple):  # a NamedTuple: the hotkey path reads one, startup matters
    """A provider's account endpoints, as paths under the profile's ``base_url``.

    Each provider's ``uploader.providers.<kind>_auth`` module defines its own. ``whoami`` is
    a cheap authenticated GET (costing ``whoami_costs``) whose JSON names the account under
    the keys ``whoami_name``; ``""`` means the provider has no such endpoint (only Mastodon
    registers apps and revokes tokens).
    """

    authorize: str
    token: str
    whoami: str
    whoami_name: tuple[str, ...]
    whoami_costs: Mapping[str, int]
    register: str = ""
    revoke: str = ""
    # Reads the provider's answer to a GET of its authorize page (fetched before the user
    # is sent there): the error to raise when it is a known dead end (Imgur's "Error
    # (1024)", a region block), else None.
    page_check: Callable[[Any], UploaderError | None] | None = None


def redact(text: str, form: Mapping[str, str]) -> str:
    """``text`` (a server's error message) with the secret values of ``form`` masked,
    cut to 300 characters."""
    for name in SECRET_FIELDS:
        value = form.get(name, "")
        if len(value) >= 4:
            text = text.replace(value, "****")
    return text[:300]


def _random_token(nbytes: int) -> str:
    import secrets  # start-up: only a sign-in needs it; the hotkey path reads Endpoints

    return secrets.token_urlsafe(nbytes)


def new_state() -> str:
    return _random_token(24)


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) per RFC 7636."""
    verifier = _random_token(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
    return verifier, challenge


class LoopbackListener:
    """A single-use redirect receiver on 127.0.0.1; ``wait()`` returns the parameters."""

    def __init__(self, state: str, *, port: int = 0, timeout: float = 300.0) -> None:
        # start-up: the sign-in needs it, the hotkey path (which reads Endpoints here) does not
        from http.server import BaseHTTPRequestHandler, HTTPServer

        self.state = state
        self.timeout = timeout
        self._result: dict[str, str] | None = None
        self._error: AuthError | None = None
        self._done = threading.Event()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != CALLBACK_PATH:
                    self._reply(404, b"not here")
                    return
                params = dict(parse_qsl(parts.query))
                if not params:  # the result is in the fragment: fetch it with a script
                    self._reply(200, FRAGMENT_PAGE)
                    return
                self._reply(*listener._accept(params))

            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), 65536)
                body = self.rfile.read(length).decode("utf-8", "replace")
                if urlsplit(self.path).path != FRAGMENT_PATH:
                    self._reply(404, b"not here")
                    return
                self._reply(*listener._accept(dict(parse_qsl(body))))

        self._server = HTTPServer(("127.0.0.1", port), Handler)
        self._server.timeout = 0.5

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{CALLBACK_PATH}"

    def _accept(self, params: dict[str, str]) -> tuple[int, bytes]:
        if self._done.is_set():
            return 410, b"this sign-in link was already used"
        if params.get("state") != self.state:
            self._error = AuthError(
                "sign-in refused: the redirect's state does not match this request "
                "(a stale or forged redirect)",
                hint="run `uploader auth login` again and use the new link",
            )
        elif "error" in params:
            self._error = AuthError(
                f"the provider refused the sign-in: {params['error']}"
                + (f" ({params['error_description']})" if params.get("error_description") else "")
            )
        else:
            self._result = params
        self._done.set()
        if self._error is not None:
            return 400, b"sign-in refused; see the terminal"
        return 200, DONE_PAGE

    def wait(self, clock: Any = None) -> dict[str, str]:
        """Serve until one redirect arrives or the timeout passes; then close the port."""
        now = clock or time.monotonic
        deadline = now() + self.timeout
        try:
            while not self._done.is_set() and now() < deadline:
                self._server.handle_request()
        finally:
            self._server.server_close()
        if self._error is not None:
            raise self._error
        if self._result is None:
            raise AuthError(
                f"timed out after {self.timeout:.0f} s waiting for the sign-in redirect",
                hint="run `uploader auth login` again, or use --paste",
            )
        return self._result

    def close(self) -> None:
        self._server.server_close()
