"""The upload history: a journal of every attempt to upload a file, in SQLite.

One row per attempt (:class:`Entry`): the content's sha256 and size, the path as given and
resolved, the target (profile, provider kind, base URL, account identity), when, the outcome
(:data:`HistoryStatus`), the remote id, link and delete handle, the error. A row is written
``pending`` and committed *before* the body is sent (:meth:`History.begin`) and completed
after the answer (:meth:`History.finish`): a run killed at any instant leaves every file
known uploaded, known not sent, or ``pending`` (= may exist).

Secrets are never stored: the API takes none. ``account`` is a hash of the credential
(:attr:`Credential.identity`), never a token, and a delete handle (Imgur deletehash, Gyazo
image id, Mastodon media id) is what the provider hands to whoever uploaded.

The database (``$XDG_DATA_HOME/uploader/history.sqlite3``, 0600 in a 0700 directory) is
opened on first use, not on construction: the hotkey path pays for ``sqlite3`` only when it
writes. WAL mode with ``synchronous=NORMAL`` (a commit survives the process being killed;
no fsync beyond what WAL needs), a 30 s busy timeout, one ``BEGIN IMMEDIATE`` transaction per
state change: several processes (a hotkey, a cron job, a batch) write at once.

The history never stops an upload. A corrupt file (not a database, truncated, garbage) is
moved aside as ``history.sqlite3.corrupt-<UTC stamp>`` with one warning and a new one is
started; an unusable one (permission denied, a directory in its place, disk full, locked
beyond the timeout) or one written by a newer version (left untouched) gives one warning and
the :class:`History` acts as off. Rows with bad values (a hand-edited database) are skipped
or normalised. Text round-trips exactly, undecodable file names (surrogate escapes) included.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from uploader.history.rows import (
    STATUSES,
    TEXT,
    Entry,
    HistoryStatus,
    Target,
    match_clause,
    raw,
    target_params,
    text,
    to_entry,
)
from uploader.history.schema import CorruptError, NewerError, connect, prepare

if TYPE_CHECKING:
    import sqlite3

__all__ = ["STATUSES", "Entry", "History", "HistoryStatus", "Target"]

_T = TypeVar("_T")
_SELECT = (
    "SELECT id, sha256, size, path, resolved, profile, kind, base_url, account, time,"
    " updated, status, remote_id, url, delete_id, error, ambiguous, extra FROM uploads"
)
_EXISTING = (
    "SELECT id, sha256, size, path, resolved, profile, kind, base_url, account, time,"
    " updated, status, remote_id, url, delete_id, error, ambiguous, extra FROM uploads"
    " WHERE sha256 = CAST(? AS TEXT) AND profile = CAST(? AS TEXT) AND kind = CAST(? AS TEXT)"
    " AND base_url = CAST(? AS TEXT) AND account = CAST(? AS TEXT)"
    " AND status NOT IN ('failed', 'deleted') ORDER BY time DESC, id DESC"
)
_NEWEST = "ORDER BY time DESC, id DESC"
_CLAIMED = (
    "SELECT DISTINCT remote_id FROM uploads WHERE kind = CAST(? AS TEXT)"
    " AND base_url = CAST(? AS TEXT) AND account = CAST(? AS TEXT) AND remote_id IS NOT NULL"
)
_INSERT = (
    "INSERT INTO uploads (sha256, size, path, resolved, profile, kind, base_url, account,"
    " time, updated, status) VALUES (CAST(? AS TEXT), ?, CAST(? AS TEXT), CAST(? AS TEXT),"
    " CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), ?, ?, 'pending')"
)
_FINISH = (
    "UPDATE uploads SET status = ?, remote_id = CAST(? AS TEXT), url = CAST(? AS TEXT),"
    " delete_id = CAST(? AS TEXT), error = CAST(? AS TEXT), ambiguous = ?, extra = ?,"
    " updated = ? WHERE id = ?"
)


class History:
    """The journal; every method is safe to call when the history is off or broken."""

    def __init__(
        self,
        path: Path | None,
        *,
        clock: Callable[[], float] = time.time,
        warn: Callable[[str], None] = lambda _m: None,
    ) -> None:
        """path None: history off (every method a no-op / empty). NO I/O here: the database
        is opened (created, 0600 file in a 0700 dir, WAL, busy_timeout, schema migrated) on
        first use."""
        self.path = path
        self._clock = clock
        self._warn = warn
        self._db: sqlite3.Connection | None = None
        self._opening: sqlite3.Connection | None = None  # connected, not yet prepared
        self._inode: int | None = None
        self._failed = False  # gave up (warned once): off for the rest of the run
        self._set_aside_once = False  # a corrupt file is set aside (and warned of) once
        self._lock = threading.RLock()  # batch workers share one History

    @property
    def enabled(self) -> bool:
        return self.path is not None and not self._failed

    def begin(
        self, target: Target, *, sha256: str, size: int, path: str, resolved: str | None
    ) -> int | None:
        """Write a `pending` row and COMMIT it before returning (the journal rule); its row
        id, or None when the history is off or unusable (then warn once, never raise)."""
        now = self._clock()
        params = (
            raw(sha256.lower()),
            size,
            raw(path),
            raw(resolved),
            *target_params(target),
            now,
            now,
        )
        return self._use(lambda db: _write(db, _INSERT, params).lastrowid, None)

    def finish(
        self,
        row: int | None,
        status: HistoryStatus,
        *,
        remote_id: str | None = None,
        url: str | None = None,
        delete_id: str | None = None,
        error: str | None = None,
        ambiguous: bool = False,
        extra: Sequence[tuple[str, str | int]] = (),
    ) -> None:
        """Complete a row (one transaction). row None: no-op."""
        if row is None:
            return
        if status not in STATUSES:
            raise ValueError(f"not a history status: {status!r}")
        params = (
            status,
            raw(remote_id),
            raw(url),
            raw(delete_id),
            raw(error),
            int(bool(ambiguous)),
            json.dumps([[str(key), value] for key, value in extra]) if extra else None,
            self._clock(),
            row,
        )
        self._use(lambda db: _write(db, _FINISH, params), None)

    def existing(self, target: Target, sha256: str) -> list[Entry]:
        """Rows for this content and target that are not `failed` and not `deleted`,
        newest first (uploaded, pending and ambiguous ones: the caller decides)."""
        params = (raw(sha256.lower()), *target_params(target))
        none: list[Entry] = []
        return self._use(lambda db: _select(db, _EXISTING, params), none, create=False)

    def claimed_ids(self, target: Target) -> set[str]:
        """remote_id of every row of this account (kind, base URL, account: whatever the
        profile's name) that has one, whatever its status: a remote object claimed by one
        row is never another file's lost upload (a failed row's object, say a media whose
        post failed, is still that other file's)."""
        params = target_params(target)[1:]
        none: list[tuple[object, ...]] = []
        rows = self._use(lambda db: db.execute(_CLAIMED, params).fetchall(), none, create=False)
        return {value for value in (text(row[0]) for row in rows) if value}

    def lookup(self, ref: str, *, profile: str | None = None) -> list[Entry]:
        """Rows whose sha256 starts with ref (hex, at least 6 chars) or whose path or
        resolved path equals ref (also tried resolved against the cwd), newest first.

        A path as given (relative, say ``shot.png``) matches only rows that have no resolved
        path (stdin's ``-``): the same name in another directory is another file."""
        return self.entries(profile=profile, match=ref)

    def entries(
        self,
        *,
        profile: str | None = None,
        status: str | None = None,
        since: float | None = None,
        match: str | None = None,
        limit: int | None = None,
    ) -> list[Entry]:
        """Newest first; match: path/resolved equality or sha256 prefix as in lookup."""
        if status is not None and status not in STATUSES:
            return []
        where: list[str] = []
        params: list[object] = []
        if profile is not None:
            where.append(f"profile = {TEXT}")
            params.append(raw(profile))
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if since is not None:
            where.append("time >= ?")
            params.append(since)
        if match is not None:
            clause, values = match_clause(match)
            where.append(clause)
            params.extend(values)
        # Fixed clauses only; every value is bound.
        sql = " ".join([_SELECT, "WHERE", " AND ".join(where or ["1"]), _NEWEST])
        return self._use(lambda db: _select(db, sql, params, limit), [], create=False)

    def mark_deleted(self, row: int) -> None:
        """The remote object of ``row`` was deleted (one transaction)."""
        sql = "UPDATE uploads SET status = 'deleted', updated = ? WHERE id = ?"
        params = (self._clock(), row)
        self._use(lambda db: _write(db, sql, params), None)

    def clear(self, profile: str | None = None) -> int:
        """Forget every row (of ``profile``); the number of rows removed. The removed rows
        are overwritten in the file (``secure_delete``, on from the start: see
        ``schema.prepare``) and the WAL is emptied: forgotten means gone from the disk, not
        only from the listing."""

        def work(db: sqlite3.Connection) -> int:
            if profile is None:
                count = _write(db, "DELETE FROM uploads", ()).rowcount
            else:
                count = _write(
                    db, "DELETE FROM uploads WHERE profile = CAST(? AS TEXT)", (raw(profile),)
                ).rowcount
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            return max(count, 0)

        return self._use(work, 0, create=False)

    def close(self) -> None:
        with self._lock:
            self._close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the connection: opened on first use, given up on the first failure ------------------

    def _use(
        self, work: Callable[[sqlite3.Connection], _T], default: _T, *, create: bool = True
    ) -> _T:
        """``work`` on the open database, or ``default`` when the history is off, broken
        or (``create`` false: a read) not there yet. Never raises for the database's sake."""
        if self.path is None or self._failed:
            return default
        import sqlite3

        with self._lock:
            while True:
                try:
                    db = self._connection(self.path, create=create)
                    return default if db is None else work(db)
                except NewerError as newer:
                    self._give_up(str(newer), newer=True)
                    return default
                except (sqlite3.Error, CorruptError, OSError, ValueError, OverflowError) as exc:
                    if not self._set_aside_once and _is_corrupt(exc):
                        self._set_aside_once = True
                        if self._set_aside(self.path, _why(exc)):
                            continue  # once: a new database
                    self._give_up(_why(exc))
                    return default

    def _connection(self, path: Path, *, create: bool) -> sqlite3.Connection | None:
        if self._db is None:
            self._close()  # one whose preparation was interrupted
            # Which file we open: a corrupt one is moved aside only if it is still that one.
            self._inode = _inode(path)
            self._opening = connect(path, create=create)
            if self._opening is None:
                return None
            self._inode = self._inode or _inode(path)
            prepare(self._opening, path)
            self._db, self._opening = self._opening, None
        return self._db

    def _set_aside(self, path: Path, why: str) -> bool:
        """Move the corrupt database (and its -wal, -shm, -journal) aside, then close it
        (SQLite removes a -wal on close); whether done."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock()))
        aside = path.with_name(f"{path.name}.corrupt-{stamp}")
        number = 1
        while aside.exists():
            aside = path.with_name(f"{path.name}.corrupt-{stamp}-{number}")
            number += 1
        moved = False
        try:
            if path.stat().st_ino == self._inode:  # not a new one another process started
                os.rename(path, aside)
                moved = True
                for suffix in ("-wal", "-shm", "-journal"):
                    with suppress(FileNotFoundError):
                        os.rename(f"{path}{suffix}", f"{aside}{suffix}")
        except FileNotFoundError:
            pass  # another process moved it first
        except OSError as exc:
            self._give_up(f"{why}; it could not be kept aside: {_why(exc)}")
            return False
        self._close()
        where = f"kept aside as {aside}" if moved else "another uploader process kept it aside"
        self._warn(
            f"warning: the upload history {path} was unreadable ({why}); {where}; a new one"
            " was started: uploads made before are not known to --skip-existing"
        )
        return True

    def _give_up(self, why: str, *, newer: bool = False) -> None:
        self._failed = True
        self._close()
        if newer:
            self._warn(
                f"warning: the upload history {self.path} was written by a newer version of"
                f" uploader ({why}): left untouched; this run records nothing and"
                " --skip-existing does not see earlier uploads"
            )
        else:
            self._warn(
                f"warning: the upload history {self.path} cannot be used ({why}): this run"
                " records nothing and --skip-existing does not see earlier uploads"
            )

    def _close(self) -> None:
        for db in (self._db, self._opening):
            if db is not None:
                with suppress(Exception):
                    db.close()
        self._db = self._opening = None


def _write(db: sqlite3.Connection, sql: str, params: Sequence[object]) -> sqlite3.Cursor:
    """One state change, one ``BEGIN IMMEDIATE`` transaction, committed on return."""
    db.execute("BEGIN IMMEDIATE")
    try:
        cursor = db.execute(sql, params)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with suppress(Exception):
                db.execute("ROLLBACK")
        raise
    return cursor


def _select(
    db: sqlite3.Connection, sql: str, params: Sequence[object], limit: int | None = None
) -> list[Entry]:
    found: list[Entry] = []
    if limit is not None and limit <= 0:
        return found
    for row in db.execute(sql, params):
        entry = to_entry(row)
        if entry is not None:
            found.append(entry)
            if limit is not None and len(found) >= limit:
                break
    return found


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _is_corrupt(exc: BaseException) -> bool:
    if isinstance(exc, CorruptError):
        return True
    name = str(getattr(exc, "sqlite_errorname", ""))
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
