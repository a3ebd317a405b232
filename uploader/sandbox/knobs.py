"""The sandbox's knobs: bucket sizes and windows, error-shape variants, latency, faults.

:class:`SandboxConfig` is frozen; change it with ``dataclasses.replace``. Every value is
checked when the object is made (``ValueError`` naming the knob), so a bad value never
reaches a running server. :meth:`SandboxConfig.from_toml` reads a flat TOML table of the
same names.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

MiB = 1024 * 1024

FAULT_ROUTES = ("upload", "get", "all")


@dataclass(frozen=True)
class SandboxConfig:
    """Every knob with its default (the defaults follow today's real services)."""

    # Imgur buckets (reference 1.10): sizes and windows in seconds.
    imgur_client_limit: int = 12500
    imgur_client_window: float = 86400.0
    imgur_user_limit: int = 500
    imgur_user_window: float = 3600.0
    imgur_post_limit: int = 1250
    imgur_post_window: float = 3600.0
    # "window": UserReset is the constant 3600 live servers send; "epoch": what the docs say.
    imgur_user_reset_format: Literal["window", "epoch"] = "window"
    imgur_429_shape: Literal["gateway", "legacy"] = "gateway"  # reference 1.2 #3 / #1
    imgur_oversize_shape: Literal["413", "1002"] = "413"  # reference 1.2 #4 / #2
    imgur_max_image_size: int = 20 * MiB  # reference 1.12
    imgur_max_video_size: int = 200 * MiB
    imgur_client_ids: tuple[str, ...] = ()  # empty: any non-empty client id is valid
    imgur_tokens: tuple[str, ...] = ()  # empty: any bearer token is valid
    latency: float = 0.0  # seconds added to every provider response
    seed: int = 0
    # Fault rates in [0, 1], one seeded draw per eligible request (see faults.py).
    fault_500: float = 0.0
    fault_502: float = 0.0
    fault_503: float = 0.0
    fault_retry_after: float = 0.5  # share of injected 5xx that carry Retry-After: 1
    fault_429: float = 0.0  # a 429 in the provider's real shape
    fault_drop_before: float = 0.0  # body read, nothing stored, connection closed
    fault_drop_after: float = 0.0  # upload stored, then connection closed without answer
    fault_slow: float = 0.0  # answer after slow_seconds (upload stored)
    slow_seconds: float = 30.0
    fault_bad_json: float = 0.0  # 200 with a truncated JSON body (upload stored)
    fault_html: float = 0.0  # 503 Varnish page with Retry-After: 0
    fault_routes: tuple[str, ...] = ("upload",)  # upload | get | all
    storage_dir: str | None = None  # None: a private temporary directory, removed on stop
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
    mastodon_reset_format: Literal["iso", "epoch", "none"] = "iso"

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for spec in dataclasses.fields(self):
            _check(spec.name, getattr(self, spec.name), hints[spec.name])
        for route in self.fault_routes:
            if route not in FAULT_ROUTES:
                choices = ", ".join(FAULT_ROUTES)
                raise ValueError(f"knob 'fault_routes': {route!r} is not one of {choices}")

    @classmethod
    def from_toml(cls, path: str | Path) -> SandboxConfig:
        """Knobs from a flat TOML table; ValueError with a one-line message naming the key
        on bad input (an unreadable file raises OSError)."""
        with open(path, "rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"invalid TOML: {str(exc).splitlines()[0]}") from exc
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> SandboxConfig:
        """Knobs from a mapping of knob name to TOML-typed value (ints taken for floats,
        lists of strings for tuples)."""
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ValueError(f"unknown knob {key!r}")
            values[key] = _coerce(key, value, hints[key])
        return cls(**values)


def _coerce(key: str, value: Any, kind: Any) -> Any:
    """TOML's value for a knob as the dataclass holds it (type errors name the knob)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typing.get_origin(kind) is tuple:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ValueError(f"knob {key!r} must be a list of strings")
    return value  # the dataclass's own check (_check) judges the rest


def _check(key: str, value: Any, kind: Any) -> None:
    """Type and range of one knob; ValueError naming it."""
    origin = typing.get_origin(kind)
    if origin is Literal:
        choices = typing.get_args(kind)
        if value not in choices:
            raise ValueError(f"knob {key!r} must be one of {', '.join(choices)}, not {value!r}")
        return
    if origin is tuple:
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"knob {key!r} must be a list of strings")
        return
    if kind == (str | None):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"knob {key!r} must be a string")
        return
    plain = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}[kind]
    if not isinstance(value, plain) or (kind is not bool and isinstance(value, bool)):
        raise ValueError(f"knob {key!r} must be {kind.__name__}, not {value!r}")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return  # str and bool: the type was all there was to check
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"knob {key!r} must be a finite number, not {value!r}")
    if key == "seed":
        return
    if key.startswith("fault_") and not 0.0 <= number <= 1.0:
        raise ValueError(f"knob {key!r} must be between 0 and 1, not {value!r}")
    if number < 0:
        raise ValueError(f"knob {key!r} must be 0 or more, not {value!r}")
    if key.endswith("_window") and number <= 0:
        raise ValueError(f"knob {key!r} must be more than 0, not {value!r}")
