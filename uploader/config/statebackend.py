"""The ``[state]`` table: where the rate-limit state lives (issue 14).

``backend = "file"`` (the default: one JSON file per budget under ``$XDG_STATE_HOME``) or
``"redis://[USER:PASSWORD@]HOST[:PORT][/DB]"`` (``rediss://`` for TLS, certificates
verified), also ``UPLOADER_STATE_BACKEND``; the password from the URL or from
``UPLOADER_REDIS_PASSWORD``. ``on_backend_error = "fallback" | "fail"`` (also
``UPLOADER_STATE_ON_BACKEND_ERROR``) says what a run does when Redis cannot be used.

A Redis URL is only ever shown through :func:`redact` (the password as ``***``). Nothing
here imports the Redis client: this module is on every command's path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from uploader.config.checks import is_host
from uploader.errors import ConfigError

ON_BACKEND_ERROR = ("fallback", "fail")
SCHEMES = ("redis", "rediss")
DEFAULT_PORT = 6379
# Redis' default is 16 databases; a server may configure more, never this many.
MAX_DB = 1 << 16
URL_HINT = (
    '"redis://HOST:PORT/DB" ("rediss://" for TLS; the password in '
    "UPLOADER_REDIS_PASSWORD or as redis://:PASSWORD@HOST:PORT/DB)"
)
HINT = f'use "file", or {URL_HINT}'


class RedisTarget(NamedTuple):
    """A parsed Redis URL; ``shown`` is it with the password replaced."""

    url: str
    tls: bool
    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    shown: str


@dataclass(frozen=True, eq=False, repr=False)  # lean: startup matters
class StateSettings:
    """``[state]``: ``backend`` is ``"file"`` or a Redis URL (validated)."""

    backend: str = "file"
    on_backend_error: str = "fallback"

    def redis(self) -> RedisTarget | None:
        return None if self.backend == "file" else parse_redis_url(self.backend, "backend")

    def shown(self) -> str:
        """The backend as it may be printed (no password)."""
        target = self.redis()
        return "file" if target is None else target.shown


def redact(url: str) -> str:
    """``url`` with any password in it replaced by ``***`` (for messages and logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a malformed URL>"
    if parts.password is None and "@" not in parts.netloc:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}" if user or parts.password else host).geturl()


def parse_redis_url(url: str, where: str, *, file_ok: bool = True) -> RedisTarget:
    """``url`` checked; a :class:`ConfigError` (naming ``where``, never the password) when
    it is not a Redis URL this tool can use; its hint offers "file" when ``file_ok``."""

    def bad(why: str) -> ConfigError:
        return ConfigError(
            f"{where}: {redact(url)!r} {why}", hint=HINT if file_ok else f"use {URL_HINT}"
        )

    if any(c.isspace() or not c.isprintable() for c in url):
        # urlsplit drops tabs and line breaks and keeps spaces: the host would not be the
        # one written, and the run would fall back to the local files without a word.
        raise bad("has a space, a line break or a control character")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise bad("is not a valid URL (its port?)") from None
    if parts.scheme not in SCHEMES:
        raise bad("is not a Redis URL (redis:// or rediss://)")
    if not parts.hostname:
        raise bad("names no host")
    if not is_host(parts.hostname):
        raise bad("does not name a host (not an address, nor a host name)")
    if parts.query or parts.fragment:
        raise bad("has a query or fragment, which is not supported")
    path = parts.path.strip("/") or "0"
    if not path.isdigit() or not 0 <= int(path) < MAX_DB:
        raise bad("names no database number after the host (e.g. /0)")
    port = DEFAULT_PORT if port is None else port
    if port == 0:
        raise bad("has port 0")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    host = parts.hostname
    netloc_host = f"[{host}]" if ":" in host else host
    auth = f"{user or ''}:***@" if password is not None else (f"{user}@" if user else "")
    shown = f"{parts.scheme}://{auth}{netloc_host}:{port}/{int(path)}"
    plain = f"{parts.scheme}://{netloc_host}:{port}/{int(path)}"
    return RedisTarget(
        plain, parts.scheme == "rediss", host, port, int(path), user, password, shown
    )


def state_settings(file: StateSettings, env: Mapping[str, str]) -> StateSettings:
    """The ``[state]`` settings of the file (already validated) with the environment's
    ``UPLOADER_STATE_*`` over them, validated."""
    backend = env.get("UPLOADER_STATE_BACKEND") or file.backend
    if backend not in (file.backend, "file"):
        parse_redis_url(backend, "environment variable UPLOADER_STATE_BACKEND")
    on_error = env.get("UPLOADER_STATE_ON_BACKEND_ERROR") or file.on_backend_error
    if on_error not in ON_BACKEND_ERROR:
        raise ConfigError(
            f"environment variable UPLOADER_STATE_ON_BACKEND_ERROR is {on_error!r}",
            hint="it is one of: " + ", ".join(ON_BACKEND_ERROR),
        )
    return StateSettings(backend, on_error)
