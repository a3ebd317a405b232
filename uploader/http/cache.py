"""A persistent ETag cache for GET metadata lookups (reference 1.11, 3.9).

Entries are keyed by method + URL (query included) + credential identity (a hash, never
the secret) and live under ``$XDG_CACHE_HOME/uploader/etags/``. A lookup sends
``If-None-Match`` with the stored validator exactly as received (quotes and ``W/`` kept);
a 304 is answered from the stored body, a 200 replaces the entry. Conditional requests still
go through the rate limiter: servers count them (Imgur says so explicitly).
Only GET metadata lookups use this; a delete invalidates the entry of its object.
Entries are written atomically; a corrupt entry is discarded, never fatal.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from uploader.config.paths import (
    NotOurFileError,
    ensure_private_dir,
    read_own_file,
    remove_stale_temporaries,
)
from uploader.http.client import import_httpx

if TYPE_CHECKING:
    import httpx

    from uploader.http.session import ApiSession

log = logging.getLogger("uploader.http.cache")

# Headers worth keeping with a body so a 304 can be answered faithfully.
KEPT_HEADERS = (
    "content-type",
    "etag",
    "x-total-count",
    "x-current-page",
    "x-per-page",
    "x-user-type",
    "link",
)
CACHE_STATUS_HEADER = "x-uploader-cache"
# An entry holds an answer (at most 32 MiB, http/lowspeed.py) in base64: 4/3 of it.
LARGEST_ENTRY = 48 << 20


class Entry(NamedTuple):
    """One stored answer (a NamedTuple: cheaper to define than a dataclass at startup)."""

    etag: str
    status: int
    headers: dict[str, str]
    body: bytes


def _header_text(value: Any) -> str:
    """``value`` when it can go back into a header (printable ASCII); ValueError else."""
    if not isinstance(value, str) or not value.isascii() or not value.isprintable():
        raise ValueError("not header text")
    return value


def _entry(raw: Any) -> Entry:
    """A stored entry, checked as strictly as a server's answer: only 200s are stored, and
    what goes back into a request or a response (the validator, headers) must be header
    text. ValueError (the entry is discarded) otherwise."""
    if not isinstance(raw, dict) or raw.get("status") != 200 or not raw.get("etag"):
        raise ValueError("not an entry")
    headers = raw["headers"]
    if not isinstance(headers, dict):
        raise ValueError("no headers")
    return Entry(
        etag=_header_text(raw["etag"]),
        status=200,
        headers={_header_text(k): _header_text(v) for k, v in headers.items()},
        body=base64.b64decode(raw["body"], validate=True),
    )


class EtagCache:
    """The on-disk store. ``enabled=False`` (``--no-cache``) makes every method a no-op."""

    def __init__(self, directory: Path, *, enabled: bool = True) -> None:
        self.directory = directory
        self.enabled = enabled

    @staticmethod
    def key(method: str, url: str, identity: str) -> str:
        return hashlib.sha256(f"{method.upper()} {url} {identity}".encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def load(self, key: str) -> Entry | None:
        if not self.enabled:
            return None
        path = self._path(key)
        try:
            return _entry(json.loads(read_own_file(path, LARGEST_ENTRY).decode("utf-8")))
        except FileNotFoundError:
            return None
        except NotOurFileError as exc:  # a FIFO or a device in an entry's place
            log.debug("discarding cache entry %s (%s)", path.name, exc.strerror)
            self._remove(path)
            return None
        except OSError as exc:  # the directory is a file, or unreadable (sudo left it root's)
            self._unusable(exc)
            return None
        except (ValueError, KeyError, TypeError, RecursionError) as exc:  # [[[[... nests
            log.debug("discarding corrupt cache entry %s (%s)", path.name, type(exc).__name__)
            self._remove(path)
            return None

    def _unusable(self, exc: OSError) -> None:
        """Cache problems are never fatal: warn once, then go on without the cache."""
        if self.enabled:
            self.enabled = False
            log.warning(
                "the ETag cache cannot be used (%s: %s); going on without it",
                self.directory,
                exc.strerror or type(exc).__name__,
            )

    def _remove(self, path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            self._unusable(exc)

    def store(self, key: str, entry: Entry) -> None:
        if not self.enabled:
            return
        import tempfile  # start-up: only a lookup writes; `uploader limits` loads this module

        try:
            ensure_private_dir(self.directory)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".entry-", suffix=".tmp")
            remove_stale_temporaries(self.directory, ".entry-", os.stat(tmp).st_mtime)
        except OSError as exc:
            self._unusable(exc)
            return
        record = {
            "etag": entry.etag,
            "status": entry.status,
            "headers": entry.headers,
            "body": base64.b64encode(entry.body).decode("ascii"),
        }
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._path(key))
        except OSError as exc:  # a cache that cannot be written is only slower
            self._remove(Path(tmp))
            self._unusable(exc)

    def invalidate(self, url: str, identity: str) -> None:
        if self.enabled:
            self._remove(self._path(self.key("GET", url, identity)))


def forbids_storing(headers: Mapping[str, str]) -> bool:
    """``Cache-Control: no-store`` forbids keeping the body (RFC 9111 5.2.2.5).

    Mastodon marks authenticated API answers ``private, no-store``. ``private`` allows a
    private (per-user) cache such as this one, but ``no-store`` does not: we must not write
    the body to disk, so such lookups get no ETag revalidation, only a fresh GET each time.
    """
    value = headers.get("cache-control", "")
    return any(part.strip().lower() == "no-store" for part in value.split(","))


def cached_get(
    session: ApiSession,
    cache: EtagCache | None,
    url: str,
    *,
    identity: str,
    costs: Mapping[str, int],
    headers: Mapping[str, str],
    params: Mapping[str, Any] | None = None,
) -> httpx.Response:
    """GET through the cache; a 304 comes back as the stored 200 (marked ``revalidated``)."""
    httpx_mod = import_httpx()
    full_url = str(httpx_mod.URL(url, params=dict(params or {})))
    key = EtagCache.key("GET", full_url, identity)
    entry = cache.load(key) if cache is not None else None
    send_headers = dict(headers)
    if entry is not None:
        send_headers["If-None-Match"] = entry.etag
    response = session.request("GET", full_url, costs=costs, headers=send_headers)
    if response.status_code == 304 and entry is not None:
        stored = dict(entry.headers)
        stored[CACHE_STATUS_HEADER] = "revalidated"
        result: httpx.Response = httpx_mod.Response(
            entry.status, headers=stored, content=entry.body, request=response.request
        )
        return result
    etag = response.headers.get("etag")
    if cache is not None and response.status_code == 200 and etag:
        if forbids_storing(response.headers):
            cache.invalidate(full_url, identity)
        else:
            kept = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
            cache.store(key, Entry(etag, 200, kept, response.content))
    return response
