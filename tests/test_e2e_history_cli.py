"""`uploader history` as a real process: whatever the history file holds, one line of
warning or error, the documented exit code, never a traceback."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.support.e2e import CLI, run_cli
from uploader.history import schema
from uploader.history.store import History, Target

IMGUR = Target("imgur", "imgur", "https://api.imgur.com", "acct")


def _db(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"]) / "uploader" / "history.sqlite3"


def _seed(path: Path, count: int = 3) -> None:
    history = History(path)
    for n in range(count):
        row = history.begin(IMGUR, sha256=f"{n:02d}" * 32, size=n, path=f"{n}.png", resolved=None)
        history.finish(row, "uploaded", remote_id=f"id{n}", url=f"https://i.imgur.com/id{n}.png")
    history.close()


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database " * 300)


def _directory(path: Path) -> None:
    path.mkdir()


def _newer(path: Path) -> None:
    _seed(path)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {schema.VERSION + 5}")


@pytest.mark.parametrize(
    ("damage", "warning"),
    [
        (_garbage, "was unreadable (file is not a database); kept aside as"),
        (_directory, "cannot be used (a directory is in its place"),
        (_newer, "was written by a newer version of uploader"),
    ],
)
def test_a_damaged_history_is_one_warning_and_exit_0(
    hermetic_env: dict[str, str], damage: object, warning: str
) -> None:
    path = _db(hermetic_env)
    path.parent.mkdir(parents=True)
    damage(path)  # type: ignore[operator]
    done = run_cli(["history", "--json"], hermetic_env)
    err = done.stderr.decode()
    assert (done.returncode, done.stdout) == (0, b""), err
    assert len(err.splitlines()) == 1
    assert err.startswith(f"warning: the upload history {path} ")
    assert warning in err


def test_rows_recorded_are_listed_by_a_real_process(hermetic_env: dict[str, str]) -> None:
    _seed(_db(hermetic_env))
    done = run_cli(["history", "--json", "--limit", "2"], hermetic_env)
    assert (done.returncode, done.stderr) == (0, b"")
    records = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [r["id"] for r in records] == ["id2", "id1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["history", "--since", "last week"], "error: Invalid value for '--since': 'last week'"),
        (["history", "--clear"], "error: --clear forgets the delete handles"),
        (["history", "--status", "gone"], "error: Invalid value for '--status'"),
    ],
)
def test_usage_problems_are_one_error_line_and_exit_2(
    hermetic_env: dict[str, str], args: list[str], message: str
) -> None:
    _seed(_db(hermetic_env))
    done = run_cli(args, hermetic_env)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "Traceback" not in err
    first, hint = err.splitlines()
    assert first.startswith(message)
    assert hint.startswith("hint: ")
    assert len(History(_db(hermetic_env)).entries()) == 3  # nothing forgotten


def test_a_reader_that_goes_away_early_is_not_an_error(hermetic_env: dict[str, str]) -> None:
    _seed(_db(hermetic_env), 2000)
    proc = subprocess.Popen(
        [*CLI, "history", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**hermetic_env, "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()  # `uploader history --json | head -1`
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (0, b"")
