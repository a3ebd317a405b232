"""The ``[serve]`` table: what ``uploader serve`` accepts from the file.

```toml
[serve]
allowed_origins = ["app://obsidian.md"]   # browsers' Origin values let in (exact match)
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from uploader.config.locator import Locator
from uploader.errors import ConfigError

# The editors that call a PicGo server from a web view send these Origin values: the
# Obsidian desktop app (Electron, app://obsidian.md) and VS Code's web views and
# workbench (vscode-webview://<id>, vscode-file://vscode-app). A request with any other
# Origin (every web page the user visits) is refused.
DEFAULT_ORIGINS = ("app://obsidian.md", "vscode-webview://", "vscode-file://vscode-app")


@dataclass(frozen=True)
class ServeSettings:
    """``[serve]``: ``allowed_origins`` are exact Origin values, except that one ending in
    ``://`` admits every origin of that scheme (VS Code gives each web view its own id)."""

    allowed_origins: tuple[str, ...] = DEFAULT_ORIGINS

    def origin_allowed(self, origin: str) -> bool:
        for allowed in self.allowed_origins:
            if allowed.endswith("://"):
                if origin.startswith(allowed) and len(origin) > len(allowed):
                    return True
            elif origin == allowed:
                return True
        return False


def parse_serve(raw: Mapping[str, Any], where: Locator) -> ServeSettings:
    """Check the ``[serve]`` table; errors name the file, the line and the key."""
    table = ("serve",)
    for key in raw:
        if key != "allowed_origins":
            raise ConfigError(
                where.error(table, key, "is not a known setting").message,
                hint="known keys here: allowed_origins",
            )
    if "allowed_origins" not in raw:
        return ServeSettings()
    value = raw["allowed_origins"]
    if not isinstance(value, list) or not all(
        isinstance(item, str) and item and item.isprintable() and " " not in item for item in value
    ):
        raise ConfigError(
            where.error(table, "allowed_origins", "must be a list of origins").message,
            hint='e.g. allowed_origins = ["app://obsidian.md"]',
        )
    if "*" in value or "null" in value:
        raise ConfigError(
            where.error(table, "allowed_origins", "must not let in every page").message,
            hint="'*' and 'null' would let any web page upload your files: name the origins",
        )
    for item in value:
        _check_origin(item, where)
    return ServeSettings(tuple(value))


# Schemes a web page's origin has: admitting one of them whole admits every page.
_WEB_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp", "file", "blob", "data"})
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*\Z")


def _check_origin(item: str, where: Locator) -> None:
    """An entry is an origin as browsers send it (``scheme://host[:port]``, lower case, no
    path), or a scheme alone (``vscode-webview://``) that is not one of the web's: an entry
    that no Origin header can equal would silently refuse the editor it was meant for, and
    ``https://`` would let in every page."""
    if not item.isascii():
        # Browsers send a host name in its ASCII form (xn--...): this entry matches nothing.
        problem = f"{item!r} is not an origin as browsers send it (ASCII only)"
        raise _origin_error(where, problem, "write the host name's xn-- form")
    scheme, sep, rest = item.partition("://")
    if not sep or not _SCHEME.match(scheme.lower()):
        problem = f"{item!r} is not an origin (scheme://host[:port], as the Origin header)"
        raise _origin_error(where, problem, _EXAMPLES)
    if not rest:
        if scheme.lower() in _WEB_SCHEMES:
            raise ConfigError(
                where.error(("serve",), "allowed_origins", "must not let in every page").message,
                hint=f"{item!r} would let any {scheme} web page upload your files: name the "
                f'origin itself (e.g. "{scheme.lower()}://notes.example")',
            )
        if item != item.lower():
            problem = f"{item!r} is not an origin scheme (browsers send it in lower case)"
            raise _origin_error(where, problem, f"write {item.lower()!r}")
        return
    host = rest
    for stop in "/?#":
        host = host.split(stop, 1)[0]
    if host != rest or item != item.lower() or "@" in rest or "\\" in rest:
        problem = f"{item!r} is not an origin (scheme://host[:port]: no path, in lower case)"
        origin = f"{scheme}://{host}".lower()
        fine = host and "@" not in host and "\\" not in host and not host.startswith(":")
        raise _origin_error(where, problem, f"browsers send {origin!r}" if fine else _EXAMPLES)
    if not host or host.startswith(":"):
        problem = f"{item!r} is not an origin (it names no host)"
        raise _origin_error(where, problem, _EXAMPLES)


_EXAMPLES = 'e.g. "app://obsidian.md", "https://notes.example"'


def _origin_error(where: Locator, problem: str, hint: str) -> ConfigError:
    return ConfigError(where.error(("serve",), "allowed_origins", problem).message, hint=hint)
