"""The history around ``upload`` (issue 12): the journal written before every send,
``--skip-existing``, resume, and the history's part in recovery; in process (CliRunner)
against an in-process sandbox, whose request log shows what reached the server."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cli import clock as fake_clock
from tests.support.cli import invoke, json_lines, lines, posts, sandbox
from tests.support.clock import FakeTime
from tests.support.e2e import write_config
from tests.support.http import Routes
from tests.support.images import png_bytes, write_png
from tests.support.imgur import uploaded
from tests.support.pipeline import run_upload
from tests.support.providers import config_of, imgur_toml
from uploader.commands.runtime import Runtime
from uploader.errors import ExitCode
from uploader.http.retry import RetryPolicy
from uploader.sandbox import Sandbox


@pytest.fixture
def server() -> Iterator[Sandbox]:
    with sandbox() as running:
        yield running


def _db(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"]) / "uploader" / "history.sqlite3"


def _rows(env: dict[str, str]) -> list[dict[str, Any]]:
    with sqlite3.connect(_db(env)) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM uploads ORDER BY rowid")]


def _upload(config: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return invoke(["--config", str(config), "upload", *args], env=env)


# -- skip-existing ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["url", "markdown", "html", "bbcode", "json"])
def test_skip_existing_sends_nothing_and_prints_the_same_line(
    tmp_path: Path, server: Sandbox, fmt: str
) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    images = [str(write_png(tmp_path / f"{n}.png", seed=n)) for n in range(3)]
    first = _upload(config, "-f", fmt, *images)
    assert first.exit_code == 0, first.stderr
    assert len(posts(server, "/imgur/3/image")) == 3
    again = _upload(config, "-f", fmt, "--skip-existing", *images)
    assert again.exit_code == 0, again.stderr
    assert len(posts(server, "/imgur/3/image")) == 3  # no POST reached the server
    if fmt == "json":
        before, after = json_lines(first.stdout), json_lines(again.stdout)
        assert [r["status"] for r in after] == ["existing"] * 3
        for old, new in zip(before, after, strict=True):
            assert {k: v for k, v in new.items() if k != "status"} == {
                k: v for k, v in old.items() if k != "status"
            }
    else:
        assert again.stdout == first.stdout
    assert again.stderr == ""


def test_skip_existing_from_config_and_environment(tmp_path: Path, server: Sandbox) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = str(write_png(tmp_path / "a.png", seed=4))
    assert _upload(config, image).exit_code == 0
    by_env = _upload(config, "-f", "json", image, env={"UPLOADER_SKIP_EXISTING": "1"})
    assert json_lines(by_env.stdout)[0]["status"] == "existing"
    config.write_text(
        config.read_text().replace(
            "[providers.", "[defaults]\nskip_existing = true\n\n[providers.", 1
        )
    )
    by_file = _upload(config, "-f", "json", image)
    assert json_lines(by_file.stdout)[0]["status"] == "existing"
    flag_wins = _upload(config, "-f", "json", "--no-skip-existing", image)
    assert json_lines(flag_wins.stdout)[0]["status"] == "uploaded"
    assert len(posts(server, "/imgur/3/image")) == 2


def test_skip_existing_is_per_content_and_account(tmp_path: Path, server: Sandbox) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = write_png(tmp_path / "a.png", seed=5)
    assert _upload(config, str(image)).exit_code == 0
    # Same path, other content: sent.
    write_png(image, seed=6)
    changed = _upload(config, "-f", "json", "--skip-existing", str(image))
    assert json_lines(changed.stdout)[0]["status"] == "uploaded"
    # Same content under another name: existing (the content is what counts).
    copy = tmp_path / "copy.png"
    copy.write_bytes(image.read_bytes())
    renamed = _upload(config, "-f", "json", "--skip-existing", str(copy))
    assert json_lines(renamed.stdout)[0]["status"] == "existing"
    # Another account (client id) of the same profile: sent.
    other = write_config(tmp_path / "o.toml", server.base_url, client_id="other-client")
    elsewhere = _upload(other, "-f", "json", "--skip-existing", str(copy))
    assert json_lines(elsewhere.stdout)[0]["status"] == "uploaded"
    assert len(posts(server, "/imgur/3/image")) == 3


def test_same_content_twice_in_one_batch_is_sent_once(tmp_path: Path, server: Sandbox) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    a = write_png(tmp_path / "a.png", seed=7)
    b = tmp_path / "b.png"
    b.write_bytes(a.read_bytes())
    done = _upload(config, "-f", "json", "--skip-existing", str(a), str(b))
    assert [r["status"] for r in json_lines(done.stdout)] == ["uploaded", "existing"]
    assert len(posts(server, "/imgur/3/image")) == 1


def test_skip_existing_without_history_is_a_usage_error(tmp_path: Path, server: Sandbox) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = str(write_png(tmp_path / "a.png", seed=8))
    done = _upload(config, "--skip-existing", "--no-history", image)
    assert done.exit_code == ExitCode.USAGE
    assert lines(done.stderr)[0] == "error: --skip-existing needs the upload history, which is off"
    assert server.requests() == []


def test_no_history_records_nothing(
    tmp_path: Path, server: Sandbox, hermetic_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = str(write_png(tmp_path / "a.png", seed=9))
    assert _upload(config, "--no-history", image).exit_code == 0
    assert not _db(hermetic_env).exists()
    config.write_text(
        config.read_text().replace("[providers.", "[defaults]\nhistory = false\n\n[providers.", 1)
    )
    assert _upload(config, image).exit_code == 0
    assert not _db(hermetic_env).exists()
    assert _upload(config, "--history", image).exit_code == 0
    assert len(_rows(hermetic_env)) == 1


# -- the rows -----------------------------------------------------------------------------


def test_a_row_holds_the_upload_and_no_secret(
    tmp_path: Path, server: Sandbox, hermetic_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url, client_id="very-secret-cid")
    image = write_png(tmp_path / "a.png", seed=10)
    done = _upload(config, "-f", "json", str(image))
    (record,) = json_lines(done.stdout)
    (row,) = _rows(hermetic_env)
    assert row["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert row["sha256"] == server.uploads()[0]["sha256"]  # the bytes hashed were sent
    assert (row["status"], row["remote_id"], row["url"], row["delete_id"]) == (
        "uploaded",
        record["id"],
        record["url"],
        record["delete_id"],
    )
    assert (row["path"], row["resolved"], row["size"]) == (
        str(image),
        str(image.resolve()),
        image.stat().st_size,
    )
    assert row["profile"] == "sb"
    dump = b"".join(p.read_bytes() for p in _db(hermetic_env).parent.iterdir())
    assert b"very-secret-cid" not in dump


def test_the_pending_row_is_committed_before_the_body_is_sent(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    seen: list[list[tuple[str, str]]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/credits"):
            return httpx.Response(404)
        # Another connection, as another process would see it, while the body is in flight.
        with sqlite3.connect(_db(hermetic_env)) as db:
            seen.append(list(db.execute("SELECT status, path FROM uploads")))
        request.read()
        return httpx.Response(200, json=uploaded())

    image = str(write_png(tmp_path / "a.png"))
    config = config_of(imgur_toml("http://127.0.0.1:1/imgur"), tmp_path)
    run = run_upload(
        config,
        [image],
        hermetic_env,
        FakeTime(1_785_000_000.0),
        transport=httpx.MockTransport(answer),
    )
    assert run.exit_code == ExitCode.OK
    assert seen == [[("pending", image)]]
    assert [row["status"] for row in _rows(hermetic_env)] == ["uploaded"]


def test_a_failed_upload_is_recorded_failed_and_a_lost_answer_ambiguous(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    routes = Routes(
        {
            "POST /imgur/3/image": [
                httpx.Response(
                    400, json={"data": {"error": "bad"}, "success": False, "status": 400}
                ),
                httpx.ReadError("lost"),
            ]
        }
    )
    config = config_of(imgur_toml("http://127.0.0.1:1/imgur"), tmp_path)
    a = str(write_png(tmp_path / "a.png", seed=1))
    b = str(write_png(tmp_path / "b.png", seed=2))
    run = run_upload(
        config,
        [a, b],
        hermetic_env,
        FakeTime(1_785_000_000.0),
        transport=httpx.MockTransport(routes),
        retry=RetryPolicy(attempts=1),
    )
    assert run.exit_code != ExitCode.OK
    rows = _rows(hermetic_env)
    assert [(r["path"], r["status"]) for r in rows] == [(a, "failed"), (b, "ambiguous")]
    assert rows[0]["error"]
    assert rows[1]["error"]


# -- resume -------------------------------------------------------------------------------


def test_a_batch_cut_by_the_budget_resumes_where_it_stopped(tmp_path: Path) -> None:
    # The cron pattern: `upload --skip-existing --on-limit fail ...` takes what the budget
    # allows; the next run, after the reset, sends exactly the rest.
    images = [str(write_png(tmp_path / f"{n}.png", seed=20 + n)) for n in range(5)]
    fake = fake_clock()
    runtime = Runtime(clock=fake.clock, sleep=fake.sleep)
    args = ["-f", "json", "--skip-existing", "--on-limit", "fail", *images]
    with sandbox(fake, imgur_post_limit=3) as server:
        config = write_config(tmp_path / "c.toml", server.base_url)
        first = invoke(["--config", str(config), "upload", *args], runtime=runtime)
        assert first.exit_code == ExitCode.RATE_LIMITED, first.stderr
        statuses = [r["status"] for r in json_lines(first.stdout)]
        # Which files got the three credits depends on the batch's workers; three did.
        assert statuses.count("uploaded") == 3
        assert set(statuses) <= {"uploaded", "failed", "skipped"}
        fake.sleep(3601.0)  # the post bucket resets
        second = invoke(["--config", str(config), "upload", *args], runtime=runtime)
        assert second.exit_code == 0, second.stderr
        again = [r["status"] for r in json_lines(second.stdout)]
        # Exactly the files not uploaded before are sent now; the others are existing.
        assert [s == "uploaded" for s in again] == [s != "uploaded" for s in statuses]
        assert again.count("existing") == 3
        stored = [u["sha256"] for u in server.uploads()]
    assert len(stored) == 5  # each file exactly once
    assert len(set(stored)) == 5


def test_a_file_whose_upload_may_exist_is_not_sent_again_silently(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    lost = Routes({"POST /imgur/3/image": [httpx.ReadError("lost")]})
    fine = Routes({"POST /imgur/3/image": [httpx.Response(200, json=uploaded())]})
    config = config_of(imgur_toml("http://127.0.0.1:1/imgur"), tmp_path)
    image = str(write_png(tmp_path / "a.png"))
    fake = FakeTime(1_785_000_000.0)
    once = RetryPolicy(attempts=1)
    first = run_upload(
        config, [image], hermetic_env, fake, transport=httpx.MockTransport(lost), retry=once
    )
    assert first.results[0].ambiguous
    # Anonymous: the listing cannot tell. Not sent; ambiguous again (exit 5).
    again = run_upload(
        config, [image], hermetic_env, fake, transport=httpx.MockTransport(fine), skip_existing=True
    )
    assert fine.count("POST") == 0
    assert again.exit_code == ExitCode.PROVIDER
    (result,) = again.results
    assert (result.status, result.ambiguous) == ("failed", True)
    assert "an earlier upload of this content" in (result.error or "")
    # --retry-ambiguous: sent, and the record says it may exist twice.
    allowed = run_upload(
        config,
        [image],
        hermetic_env,
        fake,
        transport=httpx.MockTransport(fine),
        skip_existing=True,
        retry=RetryPolicy(retry_ambiguous=True),
    )
    assert fine.count("POST") == 1
    (result,) = allowed.results
    assert (result.status, result.ambiguous) == ("uploaded", True)
    assert "may exist twice" in (result.error or "")
    # Without --skip-existing a new upload is what was asked: sent, and said.
    plain = run_upload(config, [image], hermetic_env, fake, transport=httpx.MockTransport(fine))
    assert plain.results[0].status == "uploaded"


# -- delete from the history ----------------------------------------------------------------


def _deletes(server: Sandbox) -> list[str]:
    return [r["path"] for r in server.requests() if r["method"] == "DELETE"]


def test_delete_by_path_uses_the_stored_deletehash_of_an_anonymous_upload(
    tmp_path: Path, server: Sandbox, hermetic_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = write_png(tmp_path / "a.png", seed=30)
    (record,) = json_lines(_upload(config, "-f", "json", str(image)).stdout)
    done = invoke(["--config", str(config), "delete", str(image)])
    assert done.exit_code == 0, done.stderr
    assert _deletes(server) == [f"/imgur/3/image/{record['delete_id']}"]
    assert server.uploads() == []  # gone from the server
    assert [row["status"] for row in _rows(hermetic_env)] == ["deleted"]
    # A deleted upload is no longer "existing": sent again.
    again = _upload(config, "-f", "json", "--skip-existing", str(image))
    assert json_lines(again.stdout)[0]["status"] == "uploaded"


def test_delete_by_sha256_prefix(
    tmp_path: Path, server: Sandbox, hermetic_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = write_png(tmp_path / "a.png", seed=31)
    (record,) = json_lines(_upload(config, "-f", "json", str(image)).stdout)
    image.unlink()  # the file itself need not exist any more
    digest = hashlib.sha256(png_bytes(seed=31)).hexdigest()
    done = invoke(["--config", str(config), "delete", digest[:10]])
    assert done.exit_code == 0, done.stderr
    assert _deletes(server) == [f"/imgur/3/image/{record['delete_id']}"]
    assert [row["status"] for row in _rows(hermetic_env)] == ["deleted"]


def test_delete_by_id_marks_the_history_row_deleted(
    tmp_path: Path, server: Sandbox, hermetic_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = write_png(tmp_path / "a.png", seed=32)
    (record,) = json_lines(_upload(config, "-f", "json", str(image)).stdout)
    done = invoke(["--config", str(config), "delete", record["delete_id"]])
    assert done.exit_code == 0, done.stderr
    assert [row["status"] for row in _rows(hermetic_env)] == ["deleted"]


@pytest.mark.parametrize("name", ["never.png", "./missing.png"])
def test_delete_of_a_file_the_history_does_not_know_sends_nothing(
    tmp_path: Path, server: Sandbox, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "c.toml", server.base_url)
    if name == "never.png":
        write_png(tmp_path / name, seed=33)
    done = invoke(["--config", str(config), "delete", name])
    assert done.exit_code == ExitCode.USAGE
    assert lines(done.stderr)[0] == (
        f"error: {name}: the history has no upload of this file to profile sb"
    )
    assert server.requests() == []


def test_delete_twice_says_it_was_deleted_already(tmp_path: Path, server: Sandbox) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = write_png(tmp_path / "a.png", seed=34)
    assert _upload(config, str(image)).exit_code == 0
    assert invoke(["--config", str(config), "delete", str(image)]).exit_code == 0
    again = invoke(["--config", str(config), "delete", str(image)])
    assert again.exit_code == ExitCode.USAGE
    assert "was deleted already" in again.stderr
    assert len(_deletes(server)) == 1


# -- read once ------------------------------------------------------------------------------


def test_the_bytes_hashed_are_the_bytes_sent_even_if_the_file_changes(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # The body is sent from the bytes read for the digest, not from a second read: a file
    # rewritten between the two cannot be recorded under a digest the server never got.
    image = write_png(tmp_path / "a.png", seed=40)
    original = image.read_bytes()
    received: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/credits"):
            return httpx.Response(404)
        received.append(request.read())
        return httpx.Response(200, json=uploaded())

    from uploader.imaging import content

    real = content.fingerprint

    def then_rewrite(item: Any) -> Any:
        held = real(item)
        image.write_bytes(png_bytes(seed=41))  # the file changes after it was read
        return held

    config = config_of(imgur_toml("http://127.0.0.1:1/imgur"), tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("uploader.commands.journal.fingerprint", then_rewrite)
        run = run_upload(
            config,
            [str(image)],
            hermetic_env,
            FakeTime(1_785_000_000.0),
            transport=httpx.MockTransport(answer),
        )
    assert run.exit_code == ExitCode.OK
    (body,) = received
    assert original in body
    assert png_bytes(seed=41) not in body
    assert _rows(hermetic_env)[0]["sha256"] == hashlib.sha256(original).hexdigest()


# -- recovery uses the history --------------------------------------------------------------


def test_an_object_the_history_gives_to_an_earlier_upload_is_never_taken_as_a_lost_one(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # Signed in: an earlier run stored a.png as Prev001. Now a.png is uploaded again (a new
    # upload was asked for) and the answer is lost; the listing shows Prev001, every field
    # agreeing and made inside the window (clocks agree to the second): without the history
    # it would be reported as this upload. It is another upload's: ambiguous, not re-sent.
    fake = FakeTime(1_785_000_000.0)
    image = write_png(tmp_path / "a.png")
    item = {
        **uploaded()["data"],
        "id": "Prev001",
        "name": "a.png",
        "size": image.stat().st_size,
        "datetime": int(fake.clock()),
    }
    listing = httpx.Response(200, json={"data": [item], "success": True, "status": 200})
    config = config_of(imgur_toml("http://127.0.0.1:1/imgur"), tmp_path)
    signed_in = {**hermetic_env, "UPLOADER_IM_ACCESS_TOKEN": "im-token"}
    earlier = Routes({"POST /imgur/3/image": [httpx.Response(200, json=uploaded(id="Prev001"))]})
    first = run_upload(
        config, [str(image)], signed_in, fake, transport=httpx.MockTransport(earlier)
    )
    assert first.results[0].id == "Prev001"
    lost = Routes(
        {
            "POST /imgur/3/image": [httpx.ReadError("lost")],
            "GET /imgur/3/account/me/images": [listing],
        },
        clock=fake.clock,
    )
    second = run_upload(
        config,
        [str(image)],
        signed_in,
        fake,
        transport=httpx.MockTransport(lost),
        retry=RetryPolicy(attempts=3, base=0.5),
    )
    (result,) = second.results
    assert (result.status, result.id, result.ambiguous) == ("failed", None, True)
    assert lost.count("POST") == 1  # not re-sent: it may exist


# -- the end-of-batch look keeps the history true -------------------------------------------


def _statuses(env: dict[str, str]) -> list[tuple[str, str, str | None]]:
    return [(Path(r["path"]).name, r["status"], r["remote_id"]) for r in _rows(env)]


def test_a_file_found_at_the_end_of_the_batch_is_uploaded_in_the_history(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    from tests.test_upload_recheck import _b_answer, _b_listed, _batch
    from tests.test_upload_recovery import LOST
    from tests.test_upload_recovery import _item as item_of

    _, run, _ = _batch(
        tmp_path,
        hermetic_env,
        [LOST, _b_answer()],
        [_b_listed(), item_of("Mine001", 1_785_000_000.0)],
    )
    assert [r.status for r in run.results] == ["uploaded", "uploaded"]
    assert _statuses(hermetic_env) == [
        ("a.png", "uploaded", "Mine001"),
        ("b.png", "uploaded", "Bbbbbb1"),
    ]


def test_a_file_proven_absent_and_sent_again_at_the_end_has_a_row_per_attempt(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    from tests.test_upload_recheck import _b_answer, _b_listed, _batch
    from tests.test_upload_recovery import LOST

    _, run, _ = _batch(
        tmp_path, hermetic_env, [LOST, _b_answer(), _b_answer("Again01")], [_b_listed()]
    )
    assert [r.id for r in run.results] == ["Again01", "Bbbbbb1"]
    assert _statuses(hermetic_env) == [
        ("a.png", "failed", None),  # proven never stored
        ("b.png", "uploaded", "Bbbbbb1"),
        ("a.png", "uploaded", "Again01"),
    ]
    assert "proved it absent" in _rows(hermetic_env)[0]["error"]


@pytest.mark.parametrize("skip", [True, False])
def test_the_same_content_in_flight_twice_waits_its_turn(
    tmp_path: Path, server: Sandbox, skip: bool
) -> None:
    # -j 4: after the first file, three copies of one content would go at once. The
    # second and third wait for the first copy: --skip-existing then finds it (sent once);
    # without it they are sent, and no copy is taken for a lost answer ("may exist twice").
    config = write_config(tmp_path / "c.toml", server.base_url)
    first = str(write_png(tmp_path / "first.png", seed=50))
    copy = write_png(tmp_path / "c0.png", seed=51)
    copies = [str(copy)]
    for n in (1, 2):
        other = tmp_path / f"c{n}.png"
        other.write_bytes(copy.read_bytes())
        copies.append(str(other))
    args = ["-j", "4", "-f", "json", first, *copies]
    done = _upload(config, *(["--skip-existing"] if skip else []), *args)
    assert done.exit_code == 0, done.stderr
    records = json_lines(done.stdout)
    if skip:
        # One of the copies (whichever took its turn first) is sent; the others find it.
        assert records[0]["status"] == "uploaded"
        assert sorted(r["status"] for r in records[1:]) == ["existing", "existing", "uploaded"]
        assert len({r["id"] for r in records[1:]}) == 1
        assert len(posts(server, "/imgur/3/image")) == 2
    else:
        assert [r["status"] for r in records] == ["uploaded"] * 4
        assert [r["ambiguous"] for r in records] == [False] * 4
        assert len(posts(server, "/imgur/3/image")) == 4
    assert done.stderr == ""


def test_delete_of_hex_the_history_does_not_know_is_the_providers_id(
    tmp_path: Path, server: Sandbox
) -> None:
    """README: a hex string that is no prefix the history knows is sent as an id."""
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = write_png(tmp_path / "a.png", seed=35)
    assert _upload(config, str(image)).exit_code == 0
    done = invoke(["--config", str(config), "delete", "deadbeef00"])
    assert done.exit_code == ExitCode.PROVIDER, done.stderr
    assert lines(done.stderr)[0].startswith("error: deadbeef00 (profile sb): Imgur has no such")
    assert _deletes(server) == ["/imgur/3/image/deadbeef00"]
