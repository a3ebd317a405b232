"""The upload history store (issue 12, items 1, 2, 8, 9): a journal in SQLite that never
stops an upload, whatever is found on disk."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import FakeTime
from uploader.config.paths import history_path
from uploader.history import schema
from uploader.history.store import Entry, History, Target

IMGUR = Target("imgur", "imgur", "https://api.imgur.com", "acct-hash-1")
OTHER_ACCOUNT = Target("imgur", "imgur", "https://api.imgur.com", "acct-hash-2")
RENAMED = Target("mine", "imgur", "https://api.imgur.com", "acct-hash-1")
GYAZO = Target("gyazo", "gyazo", "https://api.gyazo.com", "acct-hash-3")
SHA_A = "a1" * 32
SHA_B = "b2" * 32


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "uploader" / "history.sqlite3"


@pytest.fixture
def warnings() -> list[str]:
    return []


@pytest.fixture
def history(db_path: Path, warnings: list[str]) -> Iterator[History]:
    clock = FakeTime(1_800_000_000.0)
    with History(db_path, clock=clock, warn=warnings.append) as store:
        store.clock = clock  # type: ignore[attr-defined]
        yield store


def _begin(history: History, target: Target = IMGUR, sha: str = SHA_A, path: str = "a.png") -> int:
    row = history.begin(target, sha256=sha, size=1234, path=path, resolved=f"/home/me/{path}")
    assert row is not None
    return row


def _raw_rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as other:
        return other.execute("SELECT id, status, remote_id FROM uploads ORDER BY id").fetchall()


# -- the API --------------------------------------------------------------------------------


def test_history_path_follows_xdg_data_home(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "d")}
    assert history_path(env) == tmp_path / "d" / "uploader" / "history.sqlite3"
    fallback = {"HOME": str(tmp_path), "XDG_DATA_HOME": "relative/ignored"}
    assert history_path(fallback) == tmp_path / ".local/share/uploader/history.sqlite3"


def test_begin_commits_a_pending_row_another_connection_sees_at_once(
    history: History, db_path: Path
) -> None:
    row = history.begin(IMGUR, sha256=SHA_A.upper(), size=7, path="-", resolved=None)
    assert row is not None
    # A second connection (another process, or this one after kill -9) sees the row now.
    with sqlite3.connect(db_path) as other:
        seen = other.execute(
            "SELECT sha256, size, path, resolved, profile, kind, base_url, account, status,"
            " time FROM uploads WHERE id = ?",
            (row,),
        ).fetchall()
    assert seen == [
        (
            SHA_A,
            7,
            "-",
            None,
            "imgur",
            "imgur",
            "https://api.imgur.com",
            "acct-hash-1",
            "pending",
            1_800_000_000.0,
        )
    ]


def test_finish_completes_the_row_with_every_value(history: History) -> None:
    row = _begin(history)
    history.clock.now += 5  # type: ignore[attr-defined]
    history.finish(
        row,
        "uploaded",
        remote_id="AbC12",
        url="https://i.imgur.com/AbC12.png",
        delete_id="dh-123",
        ambiguous=True,
        extra=[("width", 640), ("type", "image/png")],
    )
    [entry] = history.entries()
    assert entry == Entry(
        row=row,
        sha256=SHA_A,
        size=1234,
        path="a.png",
        resolved="/home/me/a.png",
        target=IMGUR,
        time=1_800_000_000.0,
        updated=1_800_000_005.0,
        status="uploaded",
        remote_id="AbC12",
        url="https://i.imgur.com/AbC12.png",
        delete_id="dh-123",
        error=None,
        ambiguous=True,
        extra=(("width", 640), ("type", "image/png")),
    )
    failed = _begin(history, sha=SHA_B)
    history.finish(failed, "failed", error="HTTP 500 from Imgur")
    assert history.lookup(SHA_B)[0].error == "HTTP 500 from Imgur"
    history.finish(None, "uploaded", remote_id="x")  # no row (history off): nothing
    with pytest.raises(ValueError, match="not a history status"):
        history.finish(row, "gone")  # type: ignore[arg-type]


def test_existing_is_this_content_at_this_target_not_failed_nor_deleted(
    history: History,
) -> None:
    uploaded = _begin(history)
    history.finish(uploaded, "uploaded", remote_id="one")
    history.clock.now += 1  # type: ignore[attr-defined]
    pending = _begin(history)
    history.clock.now += 1  # type: ignore[attr-defined]
    ambiguous = _begin(history)
    history.finish(ambiguous, "ambiguous", error="the answer was lost")
    history.finish(_begin(history), "failed", error="500")
    deleted = _begin(history)
    history.finish(deleted, "uploaded", remote_id="two")
    history.mark_deleted(deleted)
    _begin(history, sha=SHA_B)  # other content
    _begin(history, target=OTHER_ACCOUNT)  # other account
    _begin(history, target=RENAMED)  # other profile, same account
    found = history.existing(IMGUR, SHA_A.upper())
    assert [(e.row, e.status) for e in found] == [
        (ambiguous, "ambiguous"),
        (pending, "pending"),
        (uploaded, "uploaded"),
    ]


def test_claimed_ids_are_the_accounts_remote_ids_whatever_the_profile(history: History) -> None:
    history.finish(_begin(history), "uploaded", remote_id="one")
    history.finish(_begin(history, target=RENAMED), "uploaded", remote_id="two")
    history.finish(_begin(history), "failed", remote_id="three", error="post failed")
    deleted = _begin(history)
    history.finish(deleted, "uploaded", remote_id="four")
    history.mark_deleted(deleted)
    _begin(history)  # pending: no id yet
    history.finish(_begin(history, target=OTHER_ACCOUNT), "uploaded", remote_id="other")
    history.finish(_begin(history, target=GYAZO), "uploaded", remote_id="gyazo")
    assert history.claimed_ids(IMGUR) == {"one", "two", "three", "four"}
    assert history.claimed_ids(GYAZO) == {"gyazo"}


def test_lookup_by_hash_prefix_and_by_path(
    history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "shots"
    here.mkdir()
    monkeypatch.chdir(here)
    a = history.begin(IMGUR, sha256=SHA_A, size=1, path="a.png", resolved=str(here / "a.png"))
    b = history.begin(GYAZO, sha256=SHA_B, size=1, path="-", resolved=None)
    c = history.begin(
        IMGUR, sha256=SHA_B, size=1, path="a.png", resolved=str(tmp_path / "elsewhere/a.png")
    )
    assert [e.row for e in history.lookup("A1A1A1")] == [a]  # case does not matter
    assert [e.row for e in history.lookup(SHA_B[:10])] == [c, b]
    assert history.lookup("a1a1a") == []  # under 6 digits: not a prefix
    assert [e.row for e in history.lookup("a.png")] == [a]  # resolved against the cwd
    assert [e.row for e in history.lookup(str(here / "a.png"))] == [a]
    assert [e.row for e in history.lookup("./a.png")] == [a]
    assert [e.row for e in history.lookup("-")] == [b]  # stdin: as given
    assert [e.row for e in history.lookup(SHA_B[:10], profile="gyazo")] == [b]
    assert history.lookup("nothing.png") == []


def test_entries_filters_and_limits(history: History) -> None:
    rows = []
    for n in range(5):
        history.clock.now = 1_800_000_000.0 + n * 100  # type: ignore[attr-defined]
        rows.append(_begin(history, target=GYAZO if n % 2 else IMGUR, sha=f"{n:02d}" * 32))
    history.finish(rows[0], "uploaded")
    history.finish(rows[2], "failed")
    assert [e.row for e in history.entries()] == rows[::-1]
    assert [e.row for e in history.entries(profile="gyazo")] == [rows[3], rows[1]]
    assert [e.row for e in history.entries(status="failed")] == [rows[2]]
    assert [e.row for e in history.entries(status="bogus")] == []
    assert [e.row for e in history.entries(since=1_800_000_200.0)] == rows[:1:-1]
    assert [e.row for e in history.entries(limit=2)] == [rows[4], rows[3]]
    assert history.entries(limit=0) == []
    assert [e.row for e in history.entries(match="030303")] == [rows[3]]
    assert [e.row for e in history.entries(profile="imgur", limit=1, since=0)] == [rows[4]]


def test_equal_times_are_newest_first_by_row(history: History) -> None:
    rows = [_begin(history) for _ in range(3)]
    assert [e.row for e in history.existing(IMGUR, SHA_A)] == rows[::-1]


def test_mark_deleted_and_clear(history: History) -> None:
    row = _begin(history)
    history.finish(row, "uploaded", remote_id="x", delete_id="dh")
    history.clock.now += 9  # type: ignore[attr-defined]
    history.mark_deleted(row)
    [entry] = history.entries()
    assert (entry.status, entry.delete_id, entry.updated) == ("deleted", "dh", 1_800_000_009.0)
    _begin(history, target=GYAZO)
    _begin(history, target=GYAZO)
    assert history.clear("gyazo") == 2
    assert [e.row for e in history.entries()] == [row]
    assert history.clear() == 1
    assert history.entries() == []
    assert history.clear() == 0


def test_what_clear_forgets_is_gone_from_the_files(
    history: History, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sqlite3.connect

    def without_secure_delete(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        # Debian builds SQLite with secure_delete on; macOS's and others' leave it off.
        db = real(*args, **kwargs)
        db.execute("PRAGMA secure_delete = OFF")
        return db

    monkeypatch.setattr(sqlite3, "connect", without_secure_delete)
    for n in range(40):
        _begin(history, path=f"keep-{n}.png")
        if n % 4 == 0:
            _begin(history, target=GYAZO, path=f"forget-me-{n}.png")
    with sqlite3.connect(db_path) as other:  # the rows reach the database file itself
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert b"forget-me-" in db_path.read_bytes()
    assert history.clear("gyazo") == 10
    # Still open (another process may hold it too): neither the database nor its WAL
    # holds a trace of the forgotten rows.
    for name in (db_path, Path(f"{db_path}-wal")):
        if name.exists():
            assert b"forget-me-" not in name.read_bytes(), name
    assert b"keep-39.png" in db_path.read_bytes()
    assert len(history.entries()) == 40


def test_strings_round_trip_exactly_undecodable_file_names_included(history: History) -> None:
    name = os.fsdecode(b"/tmp/caf\xe9.png")  # Latin-1 name on a UTF-8 system
    row = history.begin(IMGUR, sha256=SHA_A, size=1, path=name, resolved=name)
    history.finish(row, "failed", error="bad \ud800 surrogate", url="https://x/\u00e9")
    [entry] = history.lookup(name)
    assert (entry.path, entry.resolved, entry.url) == (name, name, "https://x/\u00e9")
    assert entry.error == "bad ? surrogate"


# -- off, lazy, private ---------------------------------------------------------------------


def test_history_off_is_a_no_op_everywhere(tmp_path: Path) -> None:
    off = History(None)
    assert off.enabled is False
    assert off.begin(IMGUR, sha256=SHA_A, size=1, path="a", resolved=None) is None
    off.finish(1, "uploaded")
    off.mark_deleted(1)
    assert off.existing(IMGUR, SHA_A) == []
    assert off.claimed_ids(IMGUR) == set()
    assert off.lookup(SHA_A) == []
    assert off.entries() == []
    assert off.clear() == 0
    off.close()


def test_nothing_is_opened_before_first_use_and_reads_create_nothing(
    db_path: Path, warnings: list[str]
) -> None:
    history = History(db_path, warn=warnings.append)
    assert history.enabled is True
    assert not db_path.parent.exists()
    assert history.entries() == []
    assert history.existing(IMGUR, SHA_A) == []
    assert history.clear() == 0
    assert not db_path.parent.exists()
    assert history.begin(IMGUR, sha256=SHA_A, size=1, path="a", resolved=None) == 1
    assert db_path.exists()
    assert warnings == []


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277])
def test_the_database_is_0600_in_a_0700_directory_whatever_the_umask(
    db_path: Path, umask: int
) -> None:
    old = os.umask(umask)
    try:
        history = History(db_path)
        _begin(history)
    finally:
        os.umask(old)
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(db_path.parent.parent.stat().st_mode) == 0o700
    for name in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
    history.close()


def test_an_existing_database_readable_by_others_is_made_private(db_path: Path) -> None:
    _begin(History(db_path))
    os.chmod(db_path, 0o644)
    history = History(db_path)
    assert history.entries() != []
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_journal_mode_is_wal_and_version_is_set(history: History, db_path: Path) -> None:
    _begin(history)
    with sqlite3.connect(db_path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert other.execute("PRAGMA user_version").fetchone() == (schema.VERSION,)
    assert history._db is not None
    assert history._db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    assert history._db.execute("PRAGMA busy_timeout").fetchone() == (30000,)


def test_one_history_shared_by_threads_loses_no_row(history: History) -> None:
    def work(n: int) -> None:
        for i in range(25):
            row = history.begin(IMGUR, sha256=f"{n}{i:03d}" * 16, size=i, path="-", resolved=None)
            history.finish(row, "uploaded", remote_id=f"{n}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(history.claimed_ids(IMGUR)) == 100
    assert {e.status for e in history.entries()} == {"uploaded"}


WRITER = """
import sys, time
from pathlib import Path
from uploader.history.store import History, Target

path, n, go = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
for _ in range(30_000):  # all four start writing together (bounded: 30 s at most)
    if go.exists():
        break
    time.sleep(0.001)
history = History(path, warn=lambda message: print(message, file=sys.stderr))
target = Target("imgur", "imgur", "https://api.imgur.com", "acct")
for i in range(50):
    row = history.begin(target, sha256=f"{n:02d}{i:02d}" * 16, size=i, path=f"{n}-{i}.png",
                        resolved=None)
    if row is None:
        sys.exit(f"row {i} not written")
    history.finish(row, "uploaded", remote_id=f"{n}-{i}", url=f"https://i/{n}-{i}")
"""


def test_four_processes_writing_at_once_lose_no_row_and_never_see_a_lock(db_path: Path) -> None:
    # All four start on no database at all: creating it and its schema races too.
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    go = db_path.parent.parent / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db_path), str(n), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(4)
    ]
    go.parent.mkdir(parents=True)
    go.touch()
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [(proc.returncode, err) for proc, (_out, err) in zip(procs, results, strict=True)] == [
        (0, "")
    ] * 4
    rows = _raw_rows(db_path)
    assert len(rows) == 200
    assert {status for _row, status, _id in rows} == {"uploaded"}
    assert len({remote for _row, _status, remote in rows}) == 200


def test_importing_the_store_does_not_import_sqlite3() -> None:
    """The hotkey path imports the store; sqlite3 is loaded when the database is opened."""
    code = (
        "import sys; import uploader.history.store as s; "
        "s.History(None).entries(); assert 'sqlite3' not in sys.modules, 'sqlite3'; "
        "s.History(s.Path(sys.argv[1])); assert 'sqlite3' not in sys.modules, 'on init'"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code, "/nonexistent/h.sqlite3"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
