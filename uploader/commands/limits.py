"""``uploader limits``: what every bucket of every profile has left, and when it resets."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from uploader.commands.runtime import Runtime, describe_store, open_provider, wire
from uploader.config.settings import Config
from uploader.errors import ConfigError, UploaderError
from uploader.output import one_line
from uploader.ratelimit.limiter import BucketState, LimitPolicy
from uploader.timewords import clock, describe


@dataclass(frozen=True)
class ProfileLimits:
    """One profile's buckets, or why they cannot be shown (no credential, placeholder)."""

    profile: str
    kind: str
    base_url: str
    buckets: tuple[BucketState, ...]
    error: UploaderError | None = None
    state: str | None = None  # where the figures are kept (see describe_store)


def gather(
    config: Config, name: str | None, runtime: Runtime, *, refresh: bool
) -> list[ProfileLimits]:
    """Bucket states per profile; with ``refresh``, one cheap live call first."""
    if name is not None:
        profiles = [config.profile(name)]
    else:
        profiles = list(config.profiles)
        if not profiles:
            config.profile(None)  # raises the "no config" error with its hint
            raise ConfigError(f"{config.path}: no [providers] configured")
    found = []
    for profile in profiles:
        try:
            buckets, where = _buckets(config, profile.name, runtime, refresh=refresh)
        except UploaderError as exc:
            if name is not None:
                raise
            # One profile that cannot be asked (not signed in, say) must not hide the others.
            found.append(ProfileLimits(profile.name, profile.kind, profile.base_url, (), exc))
            continue
        found.append(
            ProfileLimits(profile.name, profile.kind, profile.base_url, buckets, None, where)
        )
    return found


def _buckets(
    config: Config, name: str, runtime: Runtime, *, refresh: bool
) -> tuple[tuple[BucketState, ...], str]:
    if refresh:
        _, provider, http = open_provider(config, name, runtime, policy=LimitPolicy())
        with http:
            updates = provider.live_limits()
            if provider.session.limiter is not None:
                provider.session.limiter.record(updates, source="live")
    limiter = wire(config, name, runtime).limiter
    return tuple(limiter.states()), describe_store(limiter.store)


def render_text(items: Sequence[ProfileLimits], now: float | None = None) -> list[str]:
    now = time.time() if now is None else now
    lines: list[str] = []
    for item in items:
        lines.append(f"{item.profile} ({item.kind}, {item.base_url})")
        if item.error is not None:
            lines.append(f"  not available: {one_line(item.error.message)}")
            if item.error.hint:
                lines.append(f"  hint: {one_line(item.error.hint)}")
        lines.extend(f"  {bucket_line(state, now)}" for state in item.buckets)
    where = next((item.state for item in items if item.state), None)
    if where:
        lines.append(f"state: {where}")
    return lines


def bucket_line(state: BucketState, now: float) -> str:
    """One bucket as a person reads it: what is left, when it resets, where the figures
    came from (``uploader limits`` and ``uploader demo`` print these lines)."""
    left = "?" if state.remaining is None else str(state.remaining)
    total = "?" if state.limit is None else str(state.limit)
    text = f"{state.label}: {left}/{total} left"
    if state.reserve:
        text += f" (reserve {state.reserve})"
    if state.reset_at is not None:
        text += f"; resets {describe(state.reset_at, now)}"
    if state.limit is None and state.remaining is None:
        # A budget with no documented size (a custom host's) that no answer has told.
        text = f"{state.label}: no limit known yet (no answer has reported one)"
    elif state.source == "default" or state.observed_at is None:
        used = state.remaining is not None and state.remaining != state.limit
        # Requests were counted against the documented size, which no answer
        # has confirmed yet (Mastodon's statuses, say, report another family).
        text += (
            "; counted locally, no answer has reported it (documented default)"
            if used
            else "; not seen yet (documented default)"
        )
    else:
        how = {
            "headers": "headers seen",
            "live": "live check",
            "counted": "counted locally",
            "refused": "refused (the server said spent)",
            "paused": "paused after the server refused a request",
        }.get(state.source, state.source)
        text += f"; {how} {clock(state.observed_at, now)}"
    if state.held:
        text += f"; {state.held} held by requests in flight"
        if state.held_until is not None:
            text += f" (released {describe(state.held_until, now)} at the latest)"
    return text


def to_json(items: Sequence[ProfileLimits], now: float | None = None) -> list[dict[str, object]]:
    now = time.time() if now is None else now
    rows: list[dict[str, object]] = []
    for item in items:
        if item.error is not None:
            rows.append(
                {
                    "profile": item.profile,
                    "kind": item.kind,
                    "bucket": None,
                    "error": one_line(item.error.message),
                }
            )
        for state in item.buckets:
            rows.append(
                {
                    "profile": item.profile,
                    "kind": item.kind,
                    "bucket": state.bucket,
                    "label": state.label,
                    "limit": state.limit,
                    "remaining": state.remaining,
                    "reserve": state.reserve,
                    "held": state.held,
                    "reset_at": _iso(state.reset_at),
                    "resets_in": None if state.reset_at is None else round(state.reset_at - now, 1),
                    "source": state.source,
                    "observed_at": _iso(state.observed_at),
                    "state": item.state,
                }
            )
    return rows


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    try:
        return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):  # a time the calendar cannot show
        return None
