"""The sandbox's knobs: bucket sizes and windows, error-shape variants, latency, faults.

:class:`SandboxConfig` is frozen; change it with ``dataclasses.replace``. Every value is
checked when the object is made (:class:`KnobError`, a ``ValueError`` naming the knob),
so a bad value never reaches a running server. :meth:`SandboxConfig.from_toml` reads a
flat TOML table of the same names.
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
    # Reference 1.2 #3 (2019+) / #1 / #6: the body of a 429 for a spent bucket.
    # "concatenated" is two JSON documents back to back [OBS S8 ShareX logs; inference].
    imgur_429_shape: Literal["gateway", "legacy", "concatenated"] = "gateway"
    # How "You are uploading too fast. Please wait NN more minutes." comes (reference 1.2 #2
    # [OBS S20, S16]: structured ImgurException code 429, HTTP and body status 400; the
    # legacy-string 429 has no capture). Used with imgur_429_shape = "legacy".
    imgur_throttle_shape: Literal["structured400", "legacy429"] = "structured400"
    # The hidden upload throttle (reference 1.10 [OBS S8]: 429s on uploads with full user
    # and client credits and POST remaining > 1100): uploads per IP and window; 0 is off.
    imgur_upload_throttle: int = 0
    imgur_upload_throttle_window: float = 3600.0
    # Reference 1.2 #1, 1.12 [OBS S8 2021-2023]: 417 "Internal expectation failed" for a
    # GIF over this many bytes (about 10 MB in the captures); 0 is off (2024 answers 413).
    imgur_gif_417_size: int = 0
    # Credits a GET /3/credits costs. [GAP] No doc says it is free (1.10: "1 credit per
    # call"); that it sends no rate headers is a third-party claim (1.8 [3P S27]).
    imgur_credits_cost: int = 0
    imgur_oversize_shape: Literal["413", "1002"] = "413"  # reference 1.2 #4 / #2
    imgur_max_image_size: int = 20 * MiB  # reference 1.12
    imgur_max_video_size: int = 200 * MiB
    imgur_client_ids: tuple[str, ...] = ()  # empty: any non-empty client id is valid
    imgur_tokens: tuple[str, ...] = ()  # empty: any bearer token is valid
    # Imgur's closed doors (reference 1.1, 2024-26 [3P]): every Imgur answer is the region
    # block (403 "content not available in your region", UK since 30 Sep 2025), or the
    # authorize page is the "Error (1024)" page. [GAP] status and markup of both pages.
    imgur_region_block: bool = False
    imgur_authorize_error_1024: bool = False
    latency: float = 0.0  # seconds added to every provider response
    # Seconds after which an upload shows in the account's listing (Imgur, Gyazo): real
    # listings lag behind uploads, so "not listed" does not mean "not created".
    listing_lag: float = 0.0
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
    # Every provider answer (headers too, with trickle_headers) sent at this many bytes a
    # second, one byte at a time: a server that trickles defeats read timeouts; 0 is off.
    trickle_bytes_per_second: float = 0.0
    trickle_headers: bool = False
    # Upload bodies read at this many bytes a second (a server that reads slowly); 0 is off.
    slow_read_bytes_per_second: float = 0.0
    fault_bad_json: float = 0.0  # 200 with a truncated JSON body (upload stored)
    fault_html: float = 0.0  # 503 Varnish page with Retry-After: 0
    # Imgur-only shapes (reference 1.2), answered instead of handling the request:
    fault_cdn_400: float = 0.0  # 400 "These actions are forbidden." CDN-Error: yes [OBS S8]
    fault_forbidden_400: float = 0.0  # structured code 403 "Forbidden", HTTP 400 [OBS S8]
    fault_over_capacity: float = 0.0  # "Imgur is over capacity", body status 1203 [3P S12]
    fault_html_405: float = 0.0  # an HTML 405 page [OBS S8 #2231]
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
    # Servers that delete the registered app (issue 11): snac2 on revoke; Mastodon 4.2.0
    # to 4.2.8 once it had no valid token for this many seconds (86400 there; 0 is never).
    mastodon_delete_app_on_revoke: bool = False
    mastodon_tokenless_app_lifetime: float = 0.0
    # The self-hosted hosts under /custom (custom_hosts.py): the key every host accepts
    # (Chevereto's API key, Zipline's and XBackBone's token, the text host's secret), one
    # budget per host shared by all callers (an IP budget), and the rate-limit header
    # style forced on every host ("native": each host's own) and Retry-After's form.
    custom_key: str = "sandbox-custom-key"
    custom_limit: int = 60
    custom_window: float = 60.0
    custom_headers: Literal[
        "native", "ietf", "draft", "x-epoch", "x-seconds", "x-iso", "x-ms", "none"
    ] = "native"
    custom_retry_after: Literal["native", "seconds", "date", "none"] = "native"

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for spec in dataclasses.fields(self):
            _check(spec.name, getattr(self, spec.name), hints[spec.name])
        if not set(self.fault_routes) <= set(FAULT_ROUTES):
            expected = "a list of " + ", ".join(FAULT_ROUTES)
            raise KnobError("fault_routes", expected, self.fault_routes)
        if not self.custom_key.strip():
            raise KnobError("custom_key", "a non-empty string", self.custom_key)

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
            values[key] = coerce(key, value, hints[key])
        return cls(**values)


class KnobError(ValueError):
    """A knob with a value of the wrong type or range: ``knob NAME must be EXPECTED, got
    VALUE`` (``expected`` is the phrase after "must be")."""

    def __init__(self, name: str, expected: str, value: Any) -> None:
        super().__init__(f"knob {name} must be {expected}, got {_shown(value)}")
        self.name = name
        self.expected = expected
        self.value = value


def _shown(value: Any) -> str:
    """A value as TOML spells it (``true``, ``1.5``, ``'text'``, ``['a']``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return repr(list(value))
    return repr(value)


def expectation(kind: Any) -> str:
    """What a knob of this type must be, in words ("an integer", "one of a, b")."""
    origin = typing.get_origin(kind)
    if origin is Literal:
        return "one of " + ", ".join(typing.get_args(kind))
    if origin is tuple:
        return "a list of strings"
    if kind == (str | None) or kind is str:
        return "a string"
    words: dict[Any, str] = {bool: "true or false", int: "an integer", float: "a number"}
    return words[kind]


def coerce(key: str, value: Any, kind: Any) -> Any:
    """TOML's value for a knob as the dataclass holds it (ints taken for floats, lists of
    strings for tuples); KnobError for a list of something else."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typing.get_origin(kind) is tuple:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise KnobError(key, expectation(kind), value)
    return value  # the dataclass's own check (_check) judges the rest


def _check(key: str, value: Any, kind: Any) -> None:
    """Type and range of one knob; KnobError naming it."""
    origin = typing.get_origin(kind)
    if origin is Literal:
        if value not in typing.get_args(kind):
            raise KnobError(key, expectation(kind), value)
        return
    if origin is tuple:
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise KnobError(key, expectation(kind), value)
        return
    if kind == (str | None):
        if value is not None and not isinstance(value, str):
            raise KnobError(key, expectation(kind), value)
        return
    plain = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}[kind]
    if not isinstance(value, plain) or (kind is not bool and isinstance(value, bool)):
        raise KnobError(key, expectation(kind), value)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return  # str and bool: the type was all there was to check
    number = float(value)
    if not math.isfinite(number):
        raise KnobError(key, "a finite number", value)
    if key == "seed":
        return
    if key.startswith("fault_") and not 0.0 <= number <= 1.0:
        raise KnobError(key, "between 0 and 1", value)
    if number < 0:
        raise KnobError(key, "0 or more", value)
    if number > 1e9:  # more than any wait can sleep (31 years), or any count can mean
        raise KnobError(key, "at most 1e9", value)
    if key.endswith("_window") and number <= 0:
        raise KnobError(key, "more than 0", value)
