"""The shape of one key's rate-limit state, and the check every backend applies to what it
loads (:func:`clean_state`): anything ill-typed is dropped, so the limiter never meets a
string where it does arithmetic. See :mod:`uploader.ratelimit.store` for the shape; the
file format with its checksum trailer (:func:`encode`, :func:`decode`) is described
there too."""

from __future__ import annotations

import json
import math
import zlib
from typing import Any

from uploader.ratelimit import owner as owners

VERSION = 1

# Fields a stored bucket may have, and their type: anything else is dropped on load, so the
# limiter never meets a string where it does arithmetic (or a NaN, which json accepts).
_INT_FIELDS = ("limit", "remaining", "strikes")
_TIME_FIELDS = ("reset_at", "observed_at", "next_at", "blocked_until", "refused_at")
# A state file holds a few buckets and reservations: a few kB. Anything far larger (a
# device or a huge file linked there) is not read whole.
LARGEST_STATE = 4 << 20
# Counts above this are not credits anyone has (and would overflow float arithmetic).
MAX_COUNT = 10**9


def empty_state() -> dict[str, Any]:
    return {"version": VERSION, "buckets": {}, "reservations": []}


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _clean_bucket(raw: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    bucket: dict[str, Any] = {}
    for name in _INT_FIELDS:
        if name in raw and (raw[name] is None or _is_count(raw[name])):
            bucket[name] = raw[name]
    for name in _TIME_FIELDS:
        if name in raw and (raw[name] is None or _is_time(raw[name])):
            bucket[name] = raw[name]
    for name in ("source", "note"):
        if isinstance(raw.get(name), str):
            bucket[name] = raw[name]
    if isinstance(raw.get("refreshed"), bool):
        bucket["refreshed"] = raw["refreshed"]
    known = (*_INT_FIELDS, *_TIME_FIELDS, "source", "note", "refreshed")
    dropped.extend(name for name in known if name in raw and name not in bucket)
    return bucket


def _clean_reservation(raw: object) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    costs = raw.get("costs")
    if (
        not isinstance(raw.get("id"), str)
        or not _is_time(raw.get("expires"))
        or not isinstance(costs, dict)
        or not all(isinstance(k, str) and _is_count(v) for k, v in costs.items())
    ):
        return None
    cleaned = {"id": raw["id"], "costs": dict(costs), "expires": raw["expires"]}
    holder = owners.clean(raw.get("owner"))
    if holder is not None:
        cleaned["owner"] = holder
    elif "owner" in raw:
        cleaned["owner"] = None  # unreadable: held until it expires, and reported
    return cleaned


def shifted(state: dict[str, Any], shift: float) -> dict[str, Any]:
    """``state`` with its buckets' times moved by ``shift`` seconds (from one clock onto
    another: Redis' and a host's); under a second, the round trip's noise, it is left as is.
    A new dict; ``state`` is not changed."""
    if abs(shift) < 1.0:
        return state
    buckets = {
        name: {k: v + shift if k in _TIME_FIELDS and _is_time(v) else v for k, v in raw.items()}
        for name, raw in state["buckets"].items()
    }
    return {**state, "buckets": buckets}


def clean_state(data: object, dropped: list[str] | None = None) -> dict[str, Any] | None:
    """``data`` reduced to the well-typed state shape; None when it is not a state at all.

    What is dropped on the way is appended to ``dropped`` (for the warning)."""
    dropped = [] if dropped is None else dropped
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None
    buckets, reservations = data.get("buckets"), data.get("reservations")
    if not isinstance(buckets, dict) or not isinstance(reservations, list):
        return None
    state = empty_state()
    for name, raw in buckets.items():
        if isinstance(name, str) and isinstance(raw, dict):
            state["buckets"][name] = _clean_bucket(raw, dropped)
        else:
            dropped.append("a bucket")
    for item in reservations:
        cleaned = _clean_reservation(item)
        if cleaned is not None:
            if "owner" in cleaned and cleaned["owner"] is None:
                del cleaned["owner"]
                dropped.append("a reservation's owner")
            state["reservations"].append(cleaned)
        else:
            dropped.append("a reservation")
    return state


# The checksum trailer: two bits per character, in whitespace JSON ignores.
_SPACE = b" \t\r\n"
_QUAD = [bytes(_SPACE[(n >> s) & 3] for s in (6, 4, 2, 0)) for n in range(256)]
_UNQUAD = {quad: n for n, quad in enumerate(_QUAD)}
_TRAILER = 17  # "\n" and 16 characters


class TornError(ValueError):
    """The file's checksum does not match its JSON: a write torn by a crash."""


def encode(text: str) -> bytes:
    """``text`` (JSON ending in ``}``) with its checksum trailer."""
    body = text.encode("utf-8")
    crc = zlib.crc32(body)
    return (
        b"".join((body, b"\n", _QUAD[crc >> 24], _QUAD[(crc >> 16) & 255], _QUAD[(crc >> 8) & 255]))
        + _QUAD[crc & 255]
    )


def decode(raw: bytes) -> Any:
    """The JSON value in ``raw``; :class:`TornError` when its trailer does not match."""
    if len(raw) > _TRAILER and raw[-_TRAILER] == 10 and raw[-_TRAILER - 1] == 125:  # "\n", "}"
        quads = [_UNQUAD.get(raw[i : i + 4]) for i in range(len(raw) - 16, len(raw), 4)]
        if None not in quads:
            body = raw[:-_TRAILER]
            a, b, c, d = quads
            if zlib.crc32(body) != (a << 24 | b << 16 | c << 8 | d):  # type: ignore[operator]
                raise TornError("torn write")
            return json.loads(body.decode("utf-8"))
    return json.loads(raw.decode("utf-8"))
