"""The ``[serve]`` table: what ``uploader serve`` accepts from the file.

```toml
[serve]
allowed_origins = ["app://obsidian.md"]   # browsers' Origin values let in (exact match)
```
"""

from __future__ import annotations

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
    return ServeSettings(tuple(value))
