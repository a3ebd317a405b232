"""``uploader history`` in-process (issue 12, items 5 and 9): listing, filters, JSON, the
table, --clear, and a history that is off, missing or broken."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.support.cli import invoke, json_lines, lines
from tests.support.clock import FakeTime
from uploader.cli import history as cli_history
from uploader.commands import history as core
from uploader.commands.runtime import Runtime
from uploader.config.paths import history_path
from uploader.config.settings import Config, Defaults
from uploader.history.store import History, Target

IMGUR = Target("imgur", "imgur", "https://api.imgur.com", "acct-1")
GYAZO = Target("gyazo", "gyazo", "https://api.gyazo.com", "acct-2")
T0 = 1_900_000_000.0  # 2030-03-17T17:46:40Z
SHA = ["a" * 64, "b" * 64, "c" * 64, "d" * 64]


pytestmark = pytest.mark.usefixtures("utc")  # local times read in UTC (conftest.py)


@pytest.fixture
def db() -> Path:
    return history_path(os.environ)


@pytest.fixture
def seeded(db: Path) -> list[int]:
    """Four rows, one minute apart: uploaded (imgur), failed (gyazo), pending (imgur),
    uploaded and ambiguous (gyazo, with extras)."""
    clock = FakeTime(T0)
    history = History(db, clock=clock)
    rows = []
    for n, (target, sha) in enumerate(zip([IMGUR, GYAZO, IMGUR, GYAZO], SHA, strict=True)):
        clock.now = T0 + 60 * n
        row = history.begin(
            target, sha256=sha, size=100 + n, path=f"s{n}.png", resolved=f"/shots/s{n}.png"
        )
        assert row is not None
        rows.append(row)
    history.finish(
        rows[0], "uploaded", remote_id="Im1", url="https://i.imgur.com/Im1.png", delete_id="dh1"
    )
    history.finish(rows[1], "failed", error="HTTP 500 from Gyazo")
    history.finish(
        rows[3],
        "uploaded",
        remote_id="gy3",
        url="https://i.gyazo.com/gy3.png",
        delete_id="gy3",
        ambiguous=True,
        extra=[("permalink_url", "https://gyazo.com/gy3"), ("path", "ignored")],
    )
    history.close()
    return rows


def _runtime(now: float = T0 + 240) -> Runtime:
    return Runtime(clock=FakeTime(now))


def _paths(stdout: str) -> list[str]:
    return [record["path"] for record in json_lines(stdout)]


def test_json_has_upload_keys_then_sha_time_size_and_the_extras(seeded: list[int]) -> None:
    done = invoke(["history", "--json"], runtime=_runtime())
    assert done.exit_code == 0, done.stderr
    records = json_lines(done.stdout)
    assert _paths(done.stdout) == ["s3.png", "s2.png", "s1.png", "s0.png"]
    assert list(records[0]) == [
        "path",
        "provider",
        "status",
        "id",
        "url",
        "delete_id",
        "error",
        "ambiguous",
        "sha256",
        "time",
        "size",
        "resolved",
        "permalink_url",
    ]
    assert records[0] == {
        "path": "s3.png",
        "provider": "gyazo",
        "status": "uploaded",
        "id": "gy3",
        "url": "https://i.gyazo.com/gy3.png",
        "delete_id": "gy3",
        "error": None,
        "ambiguous": True,
        "sha256": SHA[3],
        "time": "2030-03-17T17:49:40Z",
        "size": 103,
        "resolved": "/shots/s3.png",
        "permalink_url": "https://gyazo.com/gy3",  # an extra never overrides our keys
    }
    assert records[1]["status"] == "pending"
    assert (records[1]["id"], records[1]["url"], records[1]["delete_id"]) == (None, None, None)
    assert (records[2]["status"], records[2]["error"]) == ("failed", "HTTP 500 from Gyazo")
    assert done.stderr == ""


def test_the_table_is_newest_first_in_local_time(seeded: list[int]) -> None:
    done = invoke(["history"], runtime=_runtime())
    assert done.exit_code == 0, done.stderr
    assert lines(done.stdout) == [
        "TIME                 STATUS     PROFILE  SHA256        PATH    URL",
        "2030-03-17 17:49:40  uploaded*  gyazo    dddddddddddd  s3.png  https://i.gyazo.com/gy3.png",
        "2030-03-17 17:48:40  pending    imgur    cccccccccccc  s2.png",
        "2030-03-17 17:47:40  failed     gyazo    bbbbbbbbbbbb  s1.png  (HTTP 500 from Gyazo)",
        "2030-03-17 17:46:40  uploaded   imgur    aaaaaaaaaaaa  s0.png  https://i.imgur.com/Im1.png",
    ]


def test_the_table_shows_local_time(seeded: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    done = invoke(["history", "--limit", "1"], runtime=_runtime())
    assert lines(done.stdout)[1].startswith("2030-03-18 02:49:40  uploaded*")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--profile", "imgur"], ["s2.png", "s0.png"]),
        (["--status", "uploaded"], ["s3.png", "s0.png"]),
        (["--status", "failed", "--profile", "gyazo"], ["s1.png"]),
        (["--status", "deleted"], []),
        (["--since", "2m"], ["s3.png", "s2.png"]),  # now is T0 + 4 min
        (["--since", "1h"], ["s3.png", "s2.png", "s1.png", "s0.png"]),
        (["--since", "3m30s"], ["s3.png", "s2.png", "s1.png"]),
        (["--since", "90s"], ["s3.png"]),
        (["--since", "2030-03-17T17:48:00"], ["s3.png", "s2.png"]),  # local (UTC here)
        (["--since", "2030-03-17T18:48:00+01:00"], ["s3.png", "s2.png"]),
        (["--since", "2030-03-18"], []),
        (["--since", "2030-03-17"], ["s3.png", "s2.png", "s1.png", "s0.png"]),
        (["--limit", "2"], ["s3.png", "s2.png"]),
        (["--limit", "0"], ["s3.png", "s2.png", "s1.png", "s0.png"]),
        (["/shots/s1.png"], ["s1.png"]),
        (["CCCCCC"], ["s2.png"]),
        (["cccccc", "--profile", "gyazo"], []),
        (["ccccc"], []),  # 5 digits: not a prefix
        (["nothing.png"], []),
    ],
)
def test_filters(seeded: list[int], args: list[str], expected: list[str]) -> None:
    done = invoke(["history", "--json", *args], runtime=_runtime())
    assert done.exit_code == 0, done.stderr
    assert _paths(done.stdout) == expected
    assert done.stderr == ""


def test_a_relative_path_is_resolved_against_the_cwd(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    history = History(db)
    history.begin(
        IMGUR, sha256=SHA[0], size=1, path="here.png", resolved=str(tmp_path / "here.png")
    )
    history.begin(IMGUR, sha256=SHA[1], size=1, path="here.png", resolved="/elsewhere/here.png")
    done = invoke(["history", "--json", "here.png"])
    assert [r["sha256"] for r in json_lines(done.stdout)] == [SHA[0]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "error: Invalid value for '--since': 'yesterday' is not a date"),
        (["--since", "2h ago"], "'2h ago' is not a date (2026-11-30)"),
        (["--since", "2030-13-01"], "'2030-13-01' is not a date"),
        (["--status", "done"], "error: Invalid value for '--status': 'done' is not one of"),
        (["--limit", "-1"], "error: Invalid value for '--limit': -1 is not in the range x>=0"),
        (["--clear", "--status", "failed"], "error: --clear takes only --profile"),
        (["--clear", "x.png"], "error: --clear takes only --profile"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    seeded: list[int], args: list[str], message: str
) -> None:
    done = invoke(["history", *args], runtime=_runtime())
    assert done.exit_code == 2
    assert done.stdout == ""
    assert message in lines(done.stderr)[0]
    assert lines(done.stderr)[1].startswith("hint: ")
    assert len(lines(done.stderr)) == 2


def test_parse_since_reads_dates_times_and_durations() -> None:
    now = 1_000_000.0
    assert core.parse_since("90s", now) == now - 90
    assert core.parse_since("45m", now) == now - 2700
    assert core.parse_since("2h", now) == now - 7200
    assert core.parse_since("3d", now) == now - 3 * 86400
    assert core.parse_since("1w", now) == now - 7 * 86400
    assert core.parse_since("1h30m", now) == now - 5400
    assert core.parse_since("1.5h", now) == now - 5400
    assert core.parse_since("2026-11-30T00:00:00Z", now) == 1_795_996_800.0
    for bad in ("", "h", "2x", "-2h", "inf", "nan", "2h-", "99999-01-01"):
        with pytest.raises(ValueError, match="is not a date"):
            core.parse_since(bad, now)


def test_nothing_found_prints_nothing_and_exits_0(seeded: list[int]) -> None:
    done = invoke(["history", "--status", "deleted"], runtime=_runtime())
    assert (done.exit_code, done.stdout, done.stderr) == (0, "", "")


def test_no_history_at_all_is_empty_and_creates_nothing(db: Path) -> None:
    done = invoke(["history"])
    assert (done.exit_code, done.stdout, done.stderr) == (0, "", "")
    assert not db.parent.exists()


def test_on_a_terminal_the_table_shows_20_and_says_so(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = History(db)
    for n in range(25):
        history.begin(IMGUR, sha256=f"{n:02d}" * 32, size=1, path=f"{n}.png", resolved=None)
    monkeypatch.setattr(cli_history, "_terminal", lambda _stream: True)
    done = invoke(["history"])
    assert len(lines(done.stdout)) == 21  # the header and 20 rows
    assert lines(done.stdout)[1].endswith("24.png")
    assert done.stderr == "the 20 newest shown; --limit 0 shows all\n"
    assert len(lines(invoke(["history", "--limit", "0"]).stdout)) == 26
    assert len(json_lines(invoke(["history", "--json"]).stdout)) == 25  # JSON: all
    assert invoke(["history", "--status", "failed"]).stderr == "no upload recorded matches\n"
    monkeypatch.setattr(cli_history, "_terminal", lambda _stream: False)
    assert len(lines(invoke(["history"]).stdout)) == 26  # piped: all


def _config(tmp_path: Path, table: str) -> list[str]:
    path = tmp_path / "config.toml"
    path.write_text(f"[defaults]\n{table}\n")
    return ["--config", str(path)]


def test_clear_with_yes_forgets_every_row_and_says_how_many(seeded: list[int], db: Path) -> None:
    done = invoke(["history", "--clear", "--yes"])
    assert (done.exit_code, done.stdout, done.stderr) == (0, "", "forgot 4 recorded upload(s)\n")
    assert invoke(["history", "--json"]).stdout == ""
    assert History(db).entries() == []


def test_clear_with_a_profile_forgets_only_that_profiles_rows(seeded: list[int]) -> None:
    done = invoke(["history", "--clear", "--yes", "--profile", "gyazo"])
    assert done.stderr == "forgot 2 recorded upload(s) of profile gyazo\n"
    assert _paths(invoke(["history", "--json"]).stdout) == ["s2.png", "s0.png"]


def test_clear_without_a_terminal_and_without_yes_refuses(seeded: list[int]) -> None:
    done = invoke(["history", "--clear"])
    assert done.exit_code == 2
    assert lines(done.stderr) == [
        "error: --clear forgets the delete handles of anonymous uploads too: not without"
        " --yes when there is no terminal to ask on",
        "hint: add --yes: `uploader history --clear --yes`",
    ]
    assert len(json_lines(invoke(["history", "--json"]).stdout)) == 4


@pytest.mark.parametrize(("answer", "left"), [("y\n", 0), ("n\n", 4), ("\n", 4)])
def test_clear_on_a_terminal_asks_first(
    seeded: list[int], monkeypatch: pytest.MonkeyPatch, answer: str, left: int
) -> None:
    monkeypatch.setattr(cli_history, "_terminal", lambda _stream: True)
    done = invoke(["history", "--clear"], stdin=answer)
    assert done.exit_code == 0
    assert lines(done.stderr)[0].startswith(
        "forget 4 recorded upload(s), 2 with a delete handle kept nowhere else? [y/N]"
    )
    assert lines(done.stderr)[-1] == (
        "forgot 4 recorded upload(s)" if not left else "nothing forgotten"
    )
    assert len(json_lines(invoke(["history", "--json"]).stdout)) == left


def test_clear_also_removes_the_corrupt_copies_kept_aside(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"garbage " * 100)
    first = invoke(["history"])
    assert first.exit_code == 0
    assert "was unreadable (file is not a database); kept aside as" in first.stderr
    assert [p.name for p in db.parent.iterdir() if ".corrupt-" in p.name] != []
    done = invoke(["history", "--clear", "--yes"])
    assert (
        done.stderr == "forgot 0 recorded upload(s) and 1 unreadable history file(s) kept aside\n"
    )
    assert [p.name for p in db.parent.iterdir() if ".corrupt-" in p.name] == []


def test_with_recording_off_the_list_still_shows_earlier_rows_and_says_so(
    seeded: list[int], tmp_path: Path
) -> None:
    done = invoke([*_config(tmp_path, "history = false"), "history", "--json"])
    assert done.exit_code == 0
    assert len(json_lines(done.stdout)) == 4
    assert done.stderr == (
        "recording is off ([defaults] history = false): these are the uploads earlier runs"
        " recorded\n"
    )
    cleared = invoke([*_config(tmp_path, "history = false"), "history", "--clear", "--yes"])
    assert cleared.stderr == "forgot 4 recorded upload(s)\n"


def test_open_history_is_off_when_the_config_says_so(db: Path) -> None:
    runtime = Runtime(env={"XDG_DATA_HOME": str(db.parent.parent)}, clock=FakeTime(T0))
    off = core.open_history(
        Config(path=Path("c.toml"), exists=False, defaults=Defaults(history=False)), runtime
    )
    assert (off.enabled, off.path) == (False, None)
    on = core.open_history(Config(path=Path("c.toml"), exists=False), runtime)
    assert on.path == db
    assert on.begin(IMGUR, sha256=SHA[0], size=1, path="-", resolved=None) == 1
    assert on.entries()[0].time == T0  # the runtime's clock


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('history = "no"', "key 'defaults.history' must be"),
        ("history = 0", "key 'defaults.history' must be"),
    ],
)
def test_the_history_setting_is_checked_like_every_boolean(
    tmp_path: Path, value: str, message: str
) -> None:
    done = invoke([*_config(tmp_path, value), "history"])
    assert done.exit_code == 2
    assert message in done.stderr


def test_an_unusable_history_warns_once_and_lists_nothing(db: Path) -> None:
    db.mkdir(parents=True)  # a directory in its place
    done = invoke(["history", "--json"])
    assert (done.exit_code, done.stdout) == (0, "")
    assert lines(done.stderr) == [
        f"warning: the upload history {db} cannot be used (a directory is in its place: {db}):"
        " this run records nothing and --skip-existing does not see earlier uploads"
    ]
    cleared = invoke(["history", "--clear", "--yes"])
    assert cleared.exit_code == 2
    assert lines(cleared.stderr)[-1] == (
        f"error: the upload history {db} was not cleared (see the warning above)"
    )


def test_undecodable_names_and_controls_print_on_one_line(db: Path) -> None:
    name = os.fsdecode(b"caf\xe9\nshot.png")
    History(db).begin(IMGUR, sha256=SHA[0], size=1, path=name, resolved=None)
    done = invoke(["history"])
    assert done.exit_code == 0
    assert lines(done.stdout)[1].endswith("aaaaaaaaaaaa  caf\\xe9 shot.png")
    [record] = json_lines(invoke(["history", "--json"]).stdout)
    assert record["path"] == name
    assert json.loads(json.dumps(record))["path"] == name
