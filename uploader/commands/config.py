"""``uploader config show``: the effective configuration as TOML, secrets masked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import tomli_w

from uploader.auth.credentials import CREDENTIALS, mask
from uploader.config.custom import shown_table
from uploader.config.options import KINDS
from uploader.config.settings import Config


def effective_toml(
    config: Config, env: Mapping[str, str], *, defaults: Mapping[str, Any] | None = None
) -> str:
    """The config after the environment overlay; secrets masked, sources in comments.

    ``defaults``: the ``[defaults]`` values in effect where the command line resolved them
    (``UPLOADER_FORMAT``, ...); they replace the file's.
    """
    data: dict[str, Any] = {}
    if config.default_provider:
        data["default_provider"] = config.default_provider
    data["defaults"] = {**asdict(config.defaults), **(defaults or {})}
    providers: dict[str, Any] = {}
    notes: list[str] = []
    for profile in config.profiles:
        table: dict[str, Any] = {
            "kind": profile.kind,
            "base_url": profile.base_url,
            "auth": profile.auth,
        }
        env_client_id = env.get(profile.env_prefix + "CLIENT_ID")
        if env_client_id or profile.client_id is not None:
            # The value in effect: the environment wins over the file (design section 5).
            table["client_id"] = mask(env_client_id or profile.client_id or "")
        specs = KINDS[profile.kind].options
        for key, value in profile.options:
            spec = specs.get(key)
            table[key] = mask(str(value)) if spec is not None and spec.secret else value
            if profile.kind == "custom":
                table[key] = shown_table(key, value, mask)
        providers[profile.name] = table
        for name in CREDENTIALS:
            var = profile.env_prefix + name.upper()
            if env.get(var):
                notes.append(
                    f"# {profile.name}: {name} = {mask(env[var])!r}"
                    f" (from environment variable {var})"
                )
    if providers:
        data["providers"] = providers
    if config.state.backend != "file":  # the Redis URL without its password
        data["state"] = {
            "backend": config.state.shown(),
            "on_backend_error": config.state.on_backend_error,
        }
    header = [
        f"# effective configuration; file: {config.path}"
        + ("" if config.exists else " (missing: built-in defaults)")
    ]
    return "\n".join(header + notes) + "\n\n" + tomli_w.dumps(data)
