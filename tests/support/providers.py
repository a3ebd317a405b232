"""A provider object of any kind, wired to a fake network, for unit tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from uploader.config.settings import Config, parse_config
from uploader.http.client import build_no_redirects
from uploader.providers.base import Provider, ProviderContext

P = TypeVar("P", bound=Provider)
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
    to its :class:`ProviderContext`."""
    profile = config_of(config_text, tmp_path).profile(name)
    credential = cls.resolve_credential(profile, dict(env or {}))
    http = httpx.Client(transport=httpx.MockTransport(handler))
    build_no_redirects(http)  # as the one client of a run (http/client.py)
    return cls(ProviderContext(profile, credential, http, limiter, **kwargs))
