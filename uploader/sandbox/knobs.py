"""The sandbox's knobs: bucket sizes and windows, error-shape variants, latency, faults."""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


@dataclass(frozen=True)
class SandboxConfig:
    """Every knob with its default (the defaults follow today's real services)."""

    # Imgur buckets (reference 1.10): sizes and windows.
    imgur_client_limit: int = 12500
    imgur_client_window: float = 86400.0
    imgur_user_limit: int = 500
    imgur_user_window: float = 3600.0
    imgur_post_limit: int = 1250
    imgur_post_window: float = 3600.0
    # "window": UserReset is the constant 3600 live servers send; "epoch": what the docs say.
    imgur_user_reset_format: str = "window"
    imgur_429_shape: str = "gateway"  # gateway | legacy
    imgur_oversize_shape: str = "413"  # 413 | 1002
    imgur_max_image_size: int = 20 * MiB
    imgur_max_video_size: int = 200 * MiB
    imgur_client_ids: tuple[str, ...] = ()  # empty: any client id is valid
    imgur_tokens: tuple[str, ...] = ()  # empty: any bearer token is valid
    latency: float = 0.0
    seed: int = 0
    fault_500: float = 0.0
    fault_502: float = 0.0
    fault_503: float = 0.0
    fault_retry_after: float = 0.5  # share of injected 5xx that carry Retry-After: 1
    fault_429: float = 0.0
    fault_drop_before: float = 0.0  # body read, nothing stored, connection closed
    fault_drop_after: float = 0.0  # upload stored, then connection closed without answer
    fault_slow: float = 0.0  # answer after slow_seconds (upload stored)
    slow_seconds: float = 30.0
    fault_bad_json: float = 0.0  # 200 with a truncated JSON body (upload stored)
    fault_html: float = 0.0  # 503 Varnish page with Retry-After: 0
    fault_routes: tuple[str, ...] = ("upload",)  # upload | get | all
    storage_dir: str | None = None
    # OAuth (all providers): approve authorization requests at once (for tests), the
    # client secret every registered sandbox app has, and Imgur's access-token lifetime.
    oauth_auto_approve: bool = True
    oauth_client_secret: str = "sandbox-secret"  # noqa: S105 - a public test fixture
    imgur_token_lifetime: float = 3600.0
    # Gyazo (reference 2.5): the daily budget, a size limit (undocumented: a GAP), tokens
    # accepted besides those the OAuth endpoints mint (empty: any).
    gyazo_daily_limit: int = 12500
    gyazo_max_size: int = 10 * MiB
    gyazo_tokens: tuple[str, ...] = ()
    # Mastodon (reference 3.4, 3.7): media processing after a 202, the size above which an
    # image is processed asynchronously, the throttles, and the reset header format
    # ("iso" as Mastodon, "epoch" as some forks, "none" as GoToSocial/Pleroma-likes).
    mastodon_processing_seconds: float = 0.5
    mastodon_async_threshold: int = 4 * MiB
    mastodon_api_limit: int = 300
    mastodon_api_window: float = 300.0
    mastodon_media_limit: int = 30
    mastodon_media_window: float = 1800.0
    mastodon_tokens: tuple[str, ...] = ()
    mastodon_reset_format: str = "iso"

    @classmethod
    def from_toml(cls, path: str | Path) -> SandboxConfig:
        """Knobs from a flat TOML table; ValueError naming the key on bad input."""
        with open(path, "rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"invalid TOML: {exc}") from exc
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> SandboxConfig:
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ValueError(f"unknown knob {key!r}")
            values[key] = _coerce(key, value, hints[key])
        return cls(**values)


def _coerce(key: str, value: Any, kind: Any) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (int, float, str, bool):
        if isinstance(value, kind) and not (kind is not bool and isinstance(value, bool)):
            return value
        raise ValueError(f"knob {key!r} must be {kind.__name__}, not {value!r}")
    if "tuple" in str(kind):
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ValueError(f"knob {key!r} must be a list of strings")
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"knob {key!r} must be a string")
