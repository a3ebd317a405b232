"""The values of the upload history: a row as an :class:`Entry`, and strings in and out.

Nothing read from the database is trusted: :func:`to_entry` skips a row that lacks a value it
cannot do without (or has one of the wrong type: a hand-edited database) and normalises the
optional ones. Strings are bound as UTF-8 bytes cast to TEXT (:func:`raw`) and read back with
:func:`decode`, so a file name that is not UTF-8 round-trips exactly.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

HistoryStatus = Literal["pending", "uploaded", "failed", "ambiguous", "deleted"]
STATUSES: frozenset[str] = frozenset(get_args(HistoryStatus))

MIN_PREFIX = 6  # hex digits of a sha256 prefix accepted as a reference
_HEX = frozenset("0123456789abcdef")
TEXT = "CAST(? AS TEXT)"  # the placeholder of every string: see raw


@dataclass(frozen=True)
class Target:
    """Where uploads go: profile name, provider kind, base URL, account (a hash such as
    Credential.identity, never a secret)."""

    profile: str
    kind: str
    base_url: str
    account: str


@dataclass(frozen=True)
class Entry:
    """One row: one attempt to upload one file to one target."""

    row: int  # rowid
    sha256: str  # hex of the content
    size: int
    path: str  # as given ("-" for stdin)
    resolved: str | None  # absolute resolved path (None for stdin)
    target: Target
    time: float  # epoch when the row was written (the attempt started)
    updated: float  # epoch of the last state change
    status: HistoryStatus
    remote_id: str | None
    url: str | None
    delete_id: str | None
    error: str | None
    ambiguous: bool  # for uploaded: may exist twice; mirrors UploadResult.ambiguous
    extra: tuple[tuple[str, str | int], ...]  # UploadResult.extra, stored as JSON text


def raw(text: str | None) -> bytes | None:
    """A string as UTF-8 bytes for ``CAST(? AS TEXT)``: file names that are not UTF-8
    (surrogate escapes, as ``os.fsdecode`` gives them) are stored as their own bytes and
    read back as the same string; sqlite3 would refuse them as ``str``."""
    if text is None:
        return None
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return text.encode("utf-8", "replace")


def decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def target_params(target: Target) -> tuple[bytes | None, ...]:
    return tuple(
        raw(value) for value in (target.profile, target.kind, target.base_url, target.account)
    )


def match_clause(ref: str) -> tuple[str, list[object]]:
    """The WHERE clause for a reference: a sha256 prefix, or a path (see lookup)."""
    clauses: list[str] = []
    params: list[object] = []
    digits = ref.lower()
    if MIN_PREFIX <= len(digits) <= 64 and set(digits) <= _HEX:
        clauses.append("(sha256 >= ? AND sha256 < ?)")  # an index range: the prefix
        params += [digits, digits + "g"]
    paths = {ref}
    with suppress(OSError, ValueError):
        paths |= {os.path.abspath(ref), os.path.realpath(ref)}
    clauses.append(f"resolved IN ({', '.join([TEXT] * len(paths))})")
    params += [raw(path) for path in sorted(paths)]
    clauses.append(f"(resolved IS NULL AND path = {TEXT})")
    params.append(raw(ref))
    return "(" + " OR ".join(clauses) + ")", params


def text(value: object) -> str | None:
    """A stored optional string; an integer (a hand-edited id) as text; anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def to_entry(row: Sequence[Any]) -> Entry | None:
    """A row as an :class:`Entry`, or None when a value it cannot do without is missing
    or of the wrong type (a hand-edited database); optional values are normalised."""
    (rowid, sha256, size, path, resolved, profile, kind, base_url, account) = row[:9]
    (started, updated, status, remote_id, url, delete_id, error, ambiguous, extra) = row[9:]
    texts = (sha256, path, profile, kind, base_url, account)
    when = number(started)
    if (
        not isinstance(rowid, int)
        or status not in STATUSES
        or not all(isinstance(value, str) for value in texts)
        or when is None
    ):
        return None
    return Entry(
        row=rowid,
        sha256=sha256,
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else 0,
        path=path,
        resolved=text(resolved),
        target=Target(profile, kind, base_url, account),
        time=when,
        updated=number(updated) or when,
        status=cast(HistoryStatus, status),
        remote_id=text(remote_id),
        url=text(url),
        delete_id=text(delete_id),
        error=text(error),
        ambiguous=isinstance(ambiguous, int) and ambiguous != 0,
        extra=extras(extra),
    )


def extras(text: object) -> tuple[tuple[str, str | int], ...]:
    """Stored provider extras: a JSON list of [key, value] pairs; bad items dropped."""
    if not isinstance(text, str) or not text:
        return ()
    try:
        items = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(items, list):
        return ()
    pairs: list[tuple[str, str | int]] = []
    for item in items:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
            value = item[1]
            if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
                pairs.append((item[0], value))
    return tuple(pairs)
