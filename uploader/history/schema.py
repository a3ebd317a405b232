"""The history database's schema: the migrations, applied in order from version 0.

``PRAGMA user_version`` holds the number of migrations applied. Migration ``n`` (counting
from 1) takes a database from version ``n - 1`` to ``n``; a released migration is never
edited, only followed by a new one. Version 1 is the first release.

One row of ``uploads`` is one attempt to upload one file to one target (profile, provider
kind, base URL, account identity): it is written ``pending`` before the body is sent and
completed after the answer. No column holds a secret: ``account`` is a hash of the
credential (:attr:`Credential.identity`), ``delete_id`` is a delete handle the provider hands
to whoever uploaded (Imgur deletehash, Gyazo image id, Mastodon media id).
"""

from __future__ import annotations

import os
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from uploader.config.paths import ensure_private_dir
from uploader.history.rows import decode

if TYPE_CHECKING:
    import sqlite3

BUSY_TIMEOUT = 30.0  # seconds another process may hold the write lock before we give up

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the first release.
    (
        """CREATE TABLE uploads (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            path TEXT NOT NULL,
            resolved TEXT,
            profile TEXT NOT NULL,
            kind TEXT NOT NULL,
            base_url TEXT NOT NULL,
            account TEXT NOT NULL,
            time REAL NOT NULL,
            updated REAL NOT NULL,
            status TEXT NOT NULL,
            remote_id TEXT,
            url TEXT,
            delete_id TEXT,
            error TEXT,
            ambiguous INTEGER NOT NULL DEFAULT 0,
            extra TEXT
        )""",
        # --skip-existing: this content at this target.
        "CREATE INDEX uploads_content ON uploads (sha256, profile, kind, base_url, account)",
        # Recovery: the remote objects an account's rows claim.
        "CREATE INDEX uploads_account ON uploads (kind, base_url, account, remote_id)",
        # `uploader history`: newest first, --since.
        "CREATE INDEX uploads_time ON uploads (time)",
        "CREATE INDEX uploads_resolved ON uploads (resolved)",
    ),
)

VERSION = len(MIGRATIONS)


class CorruptError(Exception):
    """The file is not a usable SQLite database of ours: keep it aside, start anew."""


class NewerError(Exception):
    """The file was written by a newer version: leave it alone."""


def connect(path: Path, *, create: bool) -> sqlite3.Connection | None:
    """A connection to the database at ``path`` (created 0600 in a 0700 directory), not
    yet prepared (see :func:`prepare`); None when ``create`` is false and there is none.
    SQLite reads nothing yet: a corrupt file opens fine."""
    import sqlite3

    if path.is_dir():
        raise IsADirectoryError(f"a directory is in its place: {path}")
    if not create and not path.exists():
        return None
    ensure_private_dir(path.parent)
    _create_private(path)
    # timeout: SQLite's busy timeout (waits for another process's write lock); no implicit
    # transactions (isolation_level None: each write is our own BEGIN IMMEDIATE); batch
    # workers share the connection under History's lock.
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    db.text_factory = decode
    return db


def prepare(db: sqlite3.Connection, path: Path) -> None:
    """WAL mode, secure_delete, the schema migrated, the files private. Raises
    ``sqlite3.Error``, ``OSError``, :class:`CorruptError` or :class:`NewerError` (the caller
    decides what each means, and closes ``db``: a corrupt file is moved aside first, before
    SQLite's close can remove its -wal)."""
    # Read before anything is written: a newer or foreign database is left as it is. One
    # read transaction: another process may migrate the file between two reads.
    db.execute("BEGIN")
    try:
        version = user_version(db)
        if version == 0:
            _check_empty(db)
    finally:
        db.execute("ROLLBACK")
    _into_wal(db)
    # WAL: a commit survives the process being killed without an fsync of its own.
    db.execute("PRAGMA synchronous = NORMAL")
    # Freed space is zeroed (some builds do it by default, not all): a row `history
    # --clear` forgets, or an old copy of a row moved on a page, leaves no trace.
    db.execute("PRAGMA secure_delete = ON")
    if version != VERSION:
        migrate(db)
    for suffix in ("", "-wal", "-shm"):
        _make_private(Path(f"{path}{suffix}"))


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite does (its -wal and -shm take the same mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)  # the umask may have taken more than group and other bits
    finally:
        os.close(fd)


def _make_private(path: Path) -> None:
    """Take group and other bits off an existing file (the history holds file names)."""
    with suppress(FileNotFoundError):
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            os.chmod(path, mode & 0o700)


def user_version(db: sqlite3.Connection) -> int:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if not isinstance(version, int) or version < 0:
        raise CorruptError(f"schema version {version!r}")
    if version > VERSION:
        raise NewerError(f"schema version {version}, this one knows {VERSION}")
    return version


def _into_wal(db: sqlite3.Connection) -> None:
    """``journal_mode = WAL``. Switching a new file into WAL needs it alone, and SQLite
    answers "locked" at once (no busy wait) while another process opens it too: retried,
    within the busy timeout. A file already in WAL mode passes at once."""
    import sqlite3

    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            busy = str(getattr(exc, "sqlite_errorname", "")).startswith("SQLITE_BUSY")
            if not busy or time.monotonic() > deadline:
                raise
        time.sleep(0.005)


def _check_empty(db: sqlite3.Connection) -> None:
    """A database at version 0 must hold nothing: anything else is another program's."""
    names = {str(row[0]) for row in db.execute("SELECT name FROM sqlite_master")}
    if any(not name.startswith("sqlite_") for name in names):
        raise CorruptError("not an upload history: it holds other tables")


def migrate(db: sqlite3.Connection) -> None:
    """Apply the missing migrations in one transaction (whoever comes first does it)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = user_version(db)
        if version == 0:
            _check_empty(db)
        for number in range(version + 1, VERSION + 1):
            for statement in MIGRATIONS[number - 1]:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
