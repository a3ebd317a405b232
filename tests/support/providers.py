"""A provider object of any kind, wired to a fake network, for unit tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from uploader.config.settings import Config, parse_config

P = TypeVar("P")
Handler = Callable[[httpx.Request], httpx.Response]


def imgur_toml(
    base_url: str, *, name: str = "im", client_id: str = "cid-123", extra: str = ""
) -> str:
    """One Imgur profile ``name`` at ``base_url`` (the provider's root, e.g. ``.../imgur``)."""
    return (
        f'[providers.{name}]\nkind = "imgur"\nclient_id = "{client_id}"\n'
        f'base_url = "{base_url}"\n{extra}'
    )


def config_of(text: str, tmp_path: Path) -> Config:
    """The parsed config ``text`` (as if read from ``tmp_path/c.toml``)."""
    return parse_config(text, tmp_path / "c.toml")


def make_provider(
    cls: type[P],
    config_text: str,
    name: str,
    handler: Handler,
    tmp_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    limiter: Any = None,
    **kwargs: Any,
) -> P:
    """``cls`` for profile ``name`` of ``config_text``, its credential resolved from ``env``,
    sending through ``httpx.MockTransport(handler)``; ``kwargs`` (clock, sleep, cache) go
    to the constructor."""
    profile = config_of(config_text, tmp_path).profile(name)
    credential = cls.resolve_credential(profile, dict(env or {}))  # type: ignore[attr-defined]
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return cls(profile, credential, http, limiter, **kwargs)  # type: ignore[call-arg]
