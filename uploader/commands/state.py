"""``uploader state migrate --to redis://...``: the local rate-limit figures into Redis.

Every key of the local file store (one per provider, base URL and credential) is merged
into the Redis state of the same key, so that a team switching to the shared backend keeps
what each host knows: for each bucket, the lowest remaining of one window wins (its reset
stored once, the earlier), a newer window replaces an older one, a pause lasts the longer.
Reservations are not copied: they belong to requests of this host. The local files stay
(they are the fallback store).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from uploader.commands.runtime import Runtime, open_redis
from uploader.config import paths
from uploader.config.settings import Config
from uploader.config.statebackend import parse_redis_url
from uploader.errors import (
    NetworkError,
    OutputClosedError,
    OutputError,
    UploaderError,
    UsageError,
)
from uploader.providers import provider_class
from uploader.ratelimit.bucket import SAME_WINDOW_SLACK
from uploader.ratelimit.failover import SHARE_SUFFIX, state_of
from uploader.ratelimit.policy import state_key
from uploader.ratelimit.stateshape import shifted
from uploader.ratelimit.store import FileStateStore

KEY = re.compile(r"[0-9a-f]{32}")
FIELDS = ("limit", "remaining", "reset_at", "observed_at", "source", "blocked_until")


def _time(bucket: dict[str, Any], name: str) -> float | None:
    value = bucket.get(name)
    return float(value) if isinstance(value, int | float) else None


def merge(remote: dict[str, Any], local: dict[str, Any], now: float) -> list[str]:
    """Fold ``local``'s buckets into ``remote`` (in place); one word per bucket changed:
    ``NAME REMAINING/LIMIT``."""
    changed = []
    for name, mine in sorted(local["buckets"].items()):
        if "~" in name or not isinstance(mine.get("remaining"), int):
            continue  # a fallback allowance, or no figure to give
        if name + SHARE_SUFFIX in local["buckets"]:
            continue  # capped at a share of the fleet's own figure: not this host's news
        reset = _time(mine, "reset_at")
        if reset is not None and reset <= now:
            continue  # a window that ended: nothing it says still holds
        theirs = remote["buckets"].get(name)
        their_reset = None if theirs is None else _time(theirs, "reset_at")
        if theirs is None or their_reset is None or their_reset <= now:
            remote["buckets"][name] = {k: mine[k] for k in FIELDS if mine.get(k) is not None}
        elif reset is not None and abs(reset - their_reset) <= SAME_WINDOW_SLACK:
            left = theirs.get("remaining")
            if isinstance(left, int) and left <= mine["remaining"] and reset >= their_reset:
                continue  # Redis knows as much already
            theirs["remaining"] = min(mine["remaining"], left if isinstance(left, int) else 10**9)
            theirs["reset_at"] = min(reset, their_reset)
        elif reset is not None and reset > their_reset:
            remote["buckets"][name] = {k: mine[k] for k in FIELDS if mine.get(k) is not None}
        else:
            continue  # Redis' window is the newer one
        bucket = remote["buckets"][name]
        blocked = _time(mine, "blocked_until")
        if blocked is not None and blocked > (_time(bucket, "blocked_until") or 0.0):
            bucket["blocked_until"] = blocked
        limit = bucket.get("limit")
        changed.append(f"{name} {bucket['remaining']}/{limit if limit is not None else '?'}")
    return changed


def profiles_by_key(config: Config | None, env: Mapping[str, str]) -> dict[str, str]:
    """The profiles of ``config`` by their state key (those whose credential resolves)."""
    found: dict[str, list[str]] = {}
    for profile in config.profiles if config is not None else ():
        try:
            identity = provider_class(profile.kind).resolve_credential(profile, env).identity
        except UploaderError:
            continue
        found.setdefault(state_key(profile.kind, profile.base_url, identity), []).append(
            profile.name
        )
    return {key: ", ".join(names) for key, names in found.items()}


def migrate(
    to: str | None,
    runtime: Runtime,
    *,
    config: Config | None,
    dry_run: bool,
    emit: Callable[[str], None],
) -> int:
    """Copy every local key into the Redis at ``to`` (None: the configured backend); print
    one line per key, named by its profiles where the config has them; return how many
    keys had figures to copy."""
    if to is None:
        target = config.state.redis() if config is not None else None
        if target is None:
            raise UsageError(
                "state migrate: no --to, and the configured [state] backend is the local files",
                hint="give the Redis to copy into: --to redis://HOST:PORT/DB",
            )
    else:
        target = parse_redis_url(to, "--to", file_ok=False)
    shown_as = profiles_by_key(config, runtime.env)
    directory = paths.state_dir(runtime.env) / "ratelimit"
    try:
        names = sorted(p.stem for p in directory.glob("*.json") if KEY.fullmatch(p.stem))
    except OSError:
        names = []
    local = FileStateStore(directory, notify=runtime.notify)
    # Only here and in the Redis backend: this command is for teams that use it.
    from uploader.ratelimit.redis_store import BackendError

    remote = open_redis(target, runtime, runtime.notify)
    copied = 0
    try:
        remote.probe()
        for key in names:
            mine = local.read(key)

            def fold(state: dict[str, Any], now: float, mine: dict[str, Any] = mine) -> list[str]:
                before = repr(state)
                # This host's times moved onto Redis' clock (the fleet's one timeline).
                changed = merge(state, shifted(mine, now - runtime.clock()), now)
                if dry_run and repr(state) != before:
                    raise _DryRun(changed)
                return changed

            try:
                changed = remote.update(key, fold, runtime.clock)
            except _DryRun as shown:
                changed = shown.changed
            verb = "would copy" if dry_run else "copied"
            named = f"{key} ({shown_as[key]})" if key in shown_as else key
            copied += bool(changed)
            try:
                emit(
                    f"{verb} {named}: {', '.join(changed)}" if changed else f"{named}: nothing new"
                )
            except OutputClosedError as exc:
                # Even when the reader left (`| head -1`): the keys after this one were
                # not copied, and exit 0 would say the migration is done.
                done, written = names.index(key) + 1, 0 if dry_run else copied
                if done == len(names):
                    where = f"every key was read ({written} copied)"
                else:
                    where = f"stopped after {done} of {len(names)} keys ({written} copied)"
                raise OutputError(
                    f"state migrate: could not write to standard output ({exc.reason}): "
                    f"{where}" + ("" if done == len(names) else ", the rest not read"),
                    hint="run the command again with standard output going to a terminal or "
                    "a file (copying twice is harmless: the lowest figures win)",
                ) from None
    except BackendError as exc:
        raise NetworkError(
            f"rate-limit state: {target.shown} {state_of(str(exc))} ({exc}): "
            f"{copied} of {len(names)} keys copied",
            hint="start the Redis server or check the URL, then run the command again "
            "(copying twice is harmless: the lowest figures win)",
            sent=copied > 0,
        ) from None
    finally:
        remote.close()
    if not names:
        emit(f"no local rate-limit state in {directory}: nothing to copy")
    return copied


class _DryRun(Exception):
    def __init__(self, changed: list[str]) -> None:
        super().__init__("dry run")
        self.changed = changed
