"""A history that is corrupt, unusable, newer or hand-edited never stops an upload and
never raises: one warning, then a new database (corrupt) or no history (the rest)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import FakeTime
from uploader.history import schema
from uploader.history.store import History, Target

IMGUR = Target("imgur", "imgur", "https://api.imgur.com", "acct")
SHA = "c3" * 32
STAMP = 1_800_000_000.0  # 2027-01-15T08:00:00Z
ASIDE = "history.sqlite3.corrupt-20270115T080000Z"


def _history(path: Path, warnings: list[str]) -> History:
    return History(path, clock=FakeTime(STAMP), warn=warnings.append)


def _write_some(path: Path, count: int = 40) -> None:
    history = History(path)
    for n in range(count):
        row = history.begin(IMGUR, sha256=SHA, size=n, path=f"{n}.png", resolved=None)
        history.finish(row, "uploaded", remote_id=f"id{n}", url="https://i/" + "x" * 200)
    history.close()


def _upload_once(history: History) -> int | None:
    row = history.begin(IMGUR, sha256=SHA, size=1, path="new.png", resolved=None)
    history.finish(row, "uploaded", remote_id="fresh")
    return row


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x89PNG not a database at all " * 200)


def _truncated(path: Path) -> None:
    _write_some(path, 400)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    assert len(data) > 8192
    path.write_bytes(data[: len(data) // 2])


def _header_smashed(path: Path) -> None:
    _write_some(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[0:16] = b"garbage garbage!"
    path.write_bytes(bytes(data))


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('mine')")


@pytest.mark.parametrize("damage", [_garbage, _truncated, _header_smashed, _foreign])
def test_a_corrupt_database_is_kept_aside_with_one_warning_and_a_new_one_starts(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    path = tmp_path / "history.sqlite3"
    damage(path)
    before = path.read_bytes()
    warnings: list[str] = []
    history = _history(path, warnings)
    assert _upload_once(history) == 1
    assert _upload_once(history) == 2
    assert [e.remote_id for e in history.entries()] == ["fresh", "fresh"]
    assert history.enabled
    assert warnings == [
        f"warning: the upload history {path} was unreadable ("
        + warnings[0].split("(", 1)[1].split(")", 1)[0]
        + f"); kept aside as {tmp_path / ASIDE}; a new one was started: uploads made before"
        " are not known to --skip-existing"
    ]
    assert (tmp_path / ASIDE).read_bytes() == before  # kept as it was


def test_truncated_reads_warn_keep_aside_and_find_nothing(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    _truncated(path)
    warnings: list[str] = []
    history = _history(path, warnings)
    assert history.existing(IMGUR, SHA) == []
    assert len(warnings) == 1
    assert "was unreadable" in warnings[0]
    assert (tmp_path / ASIDE).exists()


def test_the_wal_and_shm_go_aside_with_the_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    _garbage(path)
    Path(f"{path}-wal").write_bytes(b"old wal")
    Path(f"{path}-shm").write_bytes(b"old shm")
    warnings: list[str] = []
    assert _upload_once(_history(path, warnings)) == 1
    assert (tmp_path / f"{ASIDE}-wal").read_bytes() == b"old wal"
    assert (tmp_path / f"{ASIDE}-shm").exists()  # shared memory: SQLite rewrote it already
    assert len(warnings) == 1


def test_a_second_corrupt_file_the_same_second_gets_its_own_name(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    (tmp_path / ASIDE).write_bytes(b"an earlier one")
    _garbage(path)
    assert _upload_once(_history(path, [])) == 1
    assert (tmp_path / ASIDE).read_bytes() == b"an earlier one"
    assert (tmp_path / f"{ASIDE}-1").read_bytes().startswith(b"\x89PNG")


def _directory(path: Path) -> None:
    path.mkdir(parents=True)


def _parent_is_a_file(path: Path) -> None:
    path.parent.parent.mkdir(parents=True, exist_ok=True)
    path.parent.write_text("I am a file")


def _locked(path: Path) -> None:
    _write_some(path, 1)


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (_directory, "a directory is in its place"),
        (_parent_is_a_file, "not a directory"),
    ],
)
def test_an_unusable_place_gives_one_warning_and_no_history(
    tmp_path: Path, damage: Callable[[Path], None], why: str
) -> None:
    path = tmp_path / "data" / "history.sqlite3"
    damage(path)
    warnings: list[str] = []
    history = _history(path, warnings)
    assert _upload_once(history) is None
    assert _upload_once(history) is None
    assert history.entries() == []
    assert history.existing(IMGUR, SHA) == []
    assert history.enabled is False
    assert len(warnings) == 1
    # Off for the rest of the run, even once the place is usable again: no retry each file
    # (a lock would cost its timeout every time), no second warning.
    if path.is_dir():
        path.rmdir()
    else:
        path.parent.unlink()
    assert _upload_once(history) is None
    assert not path.exists()
    assert len(warnings) == 1
    assert warnings[0].startswith(f"warning: the upload history {path} cannot be used (")
    assert why in warnings[0]
    assert warnings[0].endswith(
        "): this run records nothing and --skip-existing does not see earlier uploads"
    )


def test_a_database_locked_beyond_the_timeout_gives_one_warning_and_no_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.sqlite3"
    _write_some(path, 1)
    monkeypatch.setattr(schema, "BUSY_TIMEOUT", 0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        warnings: list[str] = []
        history = _history(path, warnings)
        assert _upload_once(history) is None
        assert _upload_once(history) is None
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(warnings) == 1
    assert "cannot be used (database is locked)" in warnings[0]
    assert [row[0] for row in sqlite3.connect(path).execute("SELECT id FROM uploads")] == [1]


def test_a_read_only_database_gives_one_warning_and_no_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.sqlite3"
    _write_some(path, 3)
    before = path.read_bytes()
    real = sqlite3.connect

    def read_only(database: Any, **kwargs: Any) -> sqlite3.Connection:
        # chmod does not stop root: open it the way SQLite opens a file it may not write.
        return real(f"file:{database}?mode=ro", uri=True, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", read_only)
    warnings: list[str] = []
    history = _history(path, warnings)
    assert _upload_once(history) is None
    assert _upload_once(history) is None
    assert len(warnings) == 1
    assert "cannot be used (attempt to write a readonly database)" in warnings[0]
    assert path.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes any file")
def test_a_read_only_file_gives_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    _write_some(path, 3)
    os.chmod(path, 0o400)
    warnings: list[str] = []
    assert _upload_once(_history(path, warnings)) is None
    assert len(warnings) == 1


def test_a_newer_database_is_left_untouched_with_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    _write_some(path, 3)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {schema.VERSION + 1}")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = path.read_bytes()
    warnings: list[str] = []
    history = _history(path, warnings)
    assert history.entries() == []
    assert _upload_once(history) is None
    assert warnings == [
        f"warning: the upload history {path} was written by a newer version of uploader"
        f" (schema version {schema.VERSION + 1}, this one knows {schema.VERSION}): left"
        " untouched; this run records nothing and --skip-existing does not see earlier uploads"
    ]
    assert path.read_bytes() == before


def test_migrations_run_in_order_from_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    path.touch()
    assert _upload_once(_history(path, [])) == 1
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (schema.VERSION,)
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"uploads", "uploads_content", "uploads_time"} <= names


def test_a_later_migration_upgrades_an_older_database_and_keeps_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.sqlite3"
    _write_some(path, 2)
    v2 = ("CREATE TABLE probe (n INTEGER)", "INSERT INTO probe VALUES (2)")
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, v2))
    monkeypatch.setattr(schema, "VERSION", schema.VERSION + 1)
    warnings: list[str] = []
    history = _history(path, warnings)
    assert len(history.entries()) == 2
    assert warnings == []
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (schema.VERSION,)
        assert db.execute("SELECT n FROM probe").fetchall() == [(2,)]


def test_hand_edited_rows_are_skipped_or_normalised(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with sqlite3.connect(path) as db:  # the same table without its constraints
        db.execute(
            "CREATE TABLE uploads (id INTEGER PRIMARY KEY, sha256, size, path, resolved,"
            " profile, kind, base_url, account, time, updated, status, remote_id, url,"
            " delete_id, error, ambiguous, extra)"
        )
        db.execute("PRAGMA user_version = 1")
        good = (SHA, 5, "a.png", None, "imgur", "imgur", "https://api.imgur.com", "acct")
        rows: list[tuple[Any, ...]] = [
            (*good, 10.0, 11.0, "uploaded", "id", "https://i/id", "dh", None, 0, '[["w", 3]]'),
            (*good, 20.0, None, "UPLOADED", "x", None, None, None, 0, None),  # unknown status
            (*good, None, None, "uploaded", "x", None, None, None, 0, None),  # no time
            (*good, "soon", None, "uploaded", "x", None, None, None, 0, None),  # time: text
            (None, *good[1:], 30.0, 30.0, "pending", None, None, None, None, 0, None),
            (
                *good[:2],
                b"blob",
                *good[3:],
                40.0,
                40.0,
                "pending",
                None,
                None,
                None,
                None,
                0,
                None,
            ),  # path: a blob
            (
                SHA,
                "big",
                "b.png",
                7,
                *good[4:],
                50.0,
                "later",
                "uploaded",
                123,
                4.5,
                b"\x00",
                None,
                "yes",
                "not json",
            ),
            (
                SHA,
                -3,
                "c.png",
                None,
                *good[4:],
                60.0,
                60.0,
                "ambiguous",
                None,
                None,
                None,
                None,
                1,
                '[["ok", "v"], ["bad", 1.5], ["n"], 7, [1, 2], ["t", true]]',
            ),
        ]
        db.executemany("INSERT INTO uploads VALUES (NULL" + ", ?" * 17 + ")", rows)
        db.execute(
            "INSERT INTO uploads VALUES (NULL, ?, 1, CAST(x'ff2e706e67' AS TEXT), NULL, 'imgur',"
            " 'imgur', 'https://api.imgur.com', 'acct', 70.0, 70.0, 'failed', NULL, NULL, NULL,"
            " NULL, 0, NULL)",
            (SHA,),
        )
    warnings: list[str] = []
    history = _history(path, warnings)
    found = history.entries()
    assert [(e.path, e.status) for e in found] == [
        (os.fsdecode(b"\xff.png"), "failed"),
        ("c.png", "ambiguous"),
        ("b.png", "uploaded"),
        ("a.png", "uploaded"),
    ]
    _failed, ambiguous, edited, first = found
    assert (ambiguous.size, ambiguous.ambiguous, ambiguous.extra) == (0, True, (("ok", "v"),))
    assert (edited.size, edited.resolved, edited.updated, edited.remote_id) == (0, "7", 50.0, "123")
    assert (edited.url, edited.delete_id, edited.ambiguous, edited.extra) == (None, None, False, ())
    assert (first.updated, first.extra) == (11.0, (("w", 3),))
    assert [e.path for e in history.existing(IMGUR, SHA)] == ["c.png", "b.png", "a.png"]
    assert history.claimed_ids(IMGUR) == {"id", "x", "123"}
    assert warnings == []


def test_a_file_corrupt_again_after_the_new_start_gives_up_instead_of_looping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from uploader.history import store

    path = tmp_path / "history.sqlite3"
    calls: list[int] = []

    def always_corrupt(_db: object, _path: Path) -> None:
        calls.append(1)
        if len(calls) > 5:  # the loop this test guards against: fail, never hang
            raise RuntimeError("looping")
        raise schema.CorruptError("still corrupt")

    monkeypatch.setattr(store, "prepare", always_corrupt)
    warnings: list[str] = []
    history = _history(path, warnings)
    assert _upload_once(history) is None
    assert len(calls) == 2  # the file, then the new one: given up
    assert [w.split(" (", 1)[0] for w in warnings] == [
        f"warning: the upload history {path} was unreadable",
        f"warning: the upload history {path} cannot be used",
    ]


def test_a_full_disk_gives_one_warning_and_no_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.sqlite3"
    _write_some(path, 1)
    real = sqlite3.connect

    def full(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = real(*args, **kwargs)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages + 2}")  # the disk fills up soon
        return db

    monkeypatch.setattr(sqlite3, "connect", full)
    warnings: list[str] = []
    history = _history(path, warnings)
    rows = [_upload_once(history) for _ in range(300)]
    assert None in rows
    assert all(row is None for row in rows[rows.index(None) :])
    assert len(warnings) == 1
    assert "cannot be used (database or disk is full)" in warnings[0]


def test_a_corrupt_file_another_process_replaced_first_is_not_moved_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from uploader.history import store

    path = tmp_path / "history.sqlite3"
    _garbage(path)
    real = store.prepare

    def other_process_first(db: sqlite3.Connection, where: Path) -> None:
        try:
            real(db, where)
        except schema.CorruptError:
            raise
        except sqlite3.DatabaseError:
            # Meanwhile another uploader moved it aside and started a new one.
            if not (tmp_path / "theirs").exists():
                os.rename(path, tmp_path / "theirs")
                _write_some(path, 2)
            raise

    monkeypatch.setattr(store, "prepare", other_process_first)
    warnings: list[str] = []
    history = _history(path, warnings)
    assert _upload_once(history) == 3  # in their new database, beside their two rows
    assert warnings == [
        f"warning: the upload history {path} was unreadable (file is not a database);"
        " another uploader process kept it aside; a new one was started: uploads made"
        " before are not known to --skip-existing"
    ]
    assert not (tmp_path / ASIDE).exists()


def test_a_database_another_process_migrates_meanwhile_is_not_taken_for_foreign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The version and the tables are read in one transaction: a process that creates the
    schema between the two reads must not make the new file look like another program's."""
    import threading

    path = tmp_path / "history.sqlite3"
    real = schema._check_empty
    other: list[int | None] = []
    started: list[threading.Thread] = []

    def meanwhile(db: sqlite3.Connection) -> None:
        if not started:  # the first reader only: the other process reads unhindered
            worker = threading.Thread(
                target=lambda: other.append(_upload_once(History(path))), daemon=True
            )
            started.append(worker)
            worker.start()
            worker.join(timeout=2)  # it may finish now only if our read let it
        real(db)

    monkeypatch.setattr(schema, "_check_empty", meanwhile)
    warnings: list[str] = []
    assert _upload_once(_history(path, warnings)) is not None
    assert warnings == []
    started[0].join(timeout=60)
    assert other[0] is not None


class _BusyTwice:
    """A connection whose switch to WAL is refused at once twice (another process opens
    the new file at the same moment), then done."""

    def __init__(self, refusals: int = 2, name: str = "SQLITE_BUSY") -> None:
        self.calls = 0
        self.refusals = refusals
        self.name = name

    def execute(self, sql: str) -> _BusyTwice:
        assert sql == "PRAGMA journal_mode = WAL"
        self.calls += 1
        if self.calls <= self.refusals:
            exc = sqlite3.OperationalError("database is locked")
            exc.sqlite_errorname = self.name  # type: ignore[attr-defined]
            raise exc
        return self

    def fetchall(self) -> list[tuple[str]]:
        return [("wal",)]


def test_switching_a_new_file_to_wal_is_retried_while_another_process_opens_it() -> None:
    db = _BusyTwice()
    schema._into_wal(db)  # type: ignore[arg-type]
    assert db.calls == 3


def test_other_errors_switching_to_wal_are_not_retried() -> None:
    db = _BusyTwice(name="SQLITE_IOERR")
    with pytest.raises(sqlite3.OperationalError):
        schema._into_wal(db)  # type: ignore[arg-type]
    assert db.calls == 1
