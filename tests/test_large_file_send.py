"""A file too large to hold in memory (issue 13, item 5): hashed in one pass, then streamed
from disk in a second, through ``imaging/content.py: open_sent``. The bytes hashed must be
the bytes sent: the sandbox gets exactly the file, the history row names its sha256, and a
file that changes between the passes or during the send is cut before the body's end
(nothing stored, nothing recorded as uploaded under a digest of other bytes).

In process (CliRunner) against the in-process sandbox, over loopback. ``HOLD_LIMIT`` and
httpx's file read size are made small so that a file of a few hundred kB takes the path of
a 500 MB one, in many reads. Two ways to prove the file did not change: its ``fstat``
stamp, when its times are old enough to tell a later write (``SETTLE_NS`` made 0 here),
and otherwise a second hash as it is sent (files written by the test are that fresh).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import invoke, json_lines, posts, sandbox
from tests.support.e2e import write_config
from tests.support.images import write_sized_png
from uploader.errors import ExitCode
from uploader.http import client
from uploader.http.client import import_httpx
from uploader.imaging import content
from uploader.sandbox import Sandbox

SIZE = 300_000
READ = 16384  # httpx's read size here: ~18 reads for SIZE


@pytest.fixture
def server() -> Iterator[Sandbox]:
    with sandbox() as running:
        yield running


@pytest.fixture(autouse=True)
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content, "HOLD_LIMIT", 65536)
    monkeypatch.setattr(content, "CHUNK", 8192)
    monkeypatch.setattr(client, "UPLOAD_READ", READ)  # else import_httpx raises it again
    import_httpx()
    from httpx import _multipart

    monkeypatch.setattr(_multipart.FileField, "CHUNK_SIZE", READ)


@pytest.fixture(params=["stamp", "rehash"])
def proof(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which proof the send uses: the stamp (times old enough) or a second hash."""
    if request.param == "stamp":
        monkeypatch.setattr(content, "SETTLE_NS", 0)
    return str(request.param)


def _rows(env_home: Path) -> list[dict[str, Any]]:
    path = env_home / "uploader" / "history.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM uploads ORDER BY rowid")]


def _data_home() -> Path:
    return Path(os.environ["XDG_DATA_HOME"])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _streamed(monkeypatch: pytest.MonkeyPatch) -> list[content.SentFile]:
    """Every SentFile the upload opened (proof that the file went from disk)."""
    opened: list[content.SentFile] = []
    real = content.SentFile.__init__

    def spy(self: content.SentFile, image: Any, raw: Any) -> None:
        real(self, image, raw)
        opened.append(self)

    monkeypatch.setattr(content.SentFile, "__init__", spy)
    return opened


def test_a_large_file_reaches_the_server_whole_and_its_row_names_its_sha256(
    tmp_path: Path, server: Sandbox, proof: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = write_sized_png(tmp_path / "big.png", SIZE, seed=3)
    opened = _streamed(monkeypatch)
    config = write_config(tmp_path / "c.toml", server.base_url)
    result = invoke(["--config", str(config), "upload", "-f", "json", str(image)])
    assert result.exit_code == ExitCode.OK, result.output
    [record] = json_lines(result.stdout)
    [stored] = server.uploads()
    assert stored["sha256"] == _sha(image)
    assert stored["size"] == SIZE
    [row] = _rows(_data_home())
    assert (row["sha256"], row["status"]) == (_sha(image), "uploaded")
    assert row["remote_id"] == record["id"]
    [sent] = opened
    assert sent.tell() == sent.size == SIZE
    assert (sent.digest is not None) == (proof == "rehash")


def _change_after_hash(monkeypatch: pytest.MonkeyPatch, change: Callable[[], None]) -> None:
    """Run ``change`` once the journal has hashed the file (between the two passes)."""
    from uploader.commands import journal

    real = journal.fingerprint

    def hashed_then_changed(image: Any) -> Any:
        done = real(image)
        change()
        return done

    monkeypatch.setattr(journal, "fingerprint", hashed_then_changed)


def _change_during_send(monkeypatch: pytest.MonkeyPatch, change: Callable[[], None]) -> None:
    """Run ``change`` after the body's second read of the file (bytes already on the wire)."""
    real = content.SentFile.read
    reads = [0]

    def read(self: content.SentFile, count: int = -1) -> bytes:
        data = real(self, count)
        reads[0] += 1
        if reads[0] == 2:
            change()
        return data

    monkeypatch.setattr(content.SentFile, "read", read)


def _rewrite(path: Path, how: str) -> Callable[[], None]:
    """A writer at work on ``path``: same size other bytes, cut short, or grown. The
    modification time moves on by a second, as the next tick of a coarse clock would."""

    def change() -> None:
        before = path.stat()
        if how == "same-size":
            with path.open("r+b") as out:
                out.seek(SIZE // 2)
                out.write(b"\x00" * 64)
        elif how == "shrunk":
            os.truncate(path, SIZE // 2)
        else:
            with path.open("ab") as out:
                out.write(b"more" * 1000)
        later = before.st_mtime_ns + 1_000_000_000
        os.utime(path, ns=(later, later))

    return change


@pytest.mark.parametrize("when", ["after-hash", "during-send"])
@pytest.mark.parametrize("how", ["same-size", "shrunk", "grown"])
def test_a_file_changed_before_its_body_ends_is_cut_and_not_recorded_as_uploaded(
    tmp_path: Path,
    server: Sandbox,
    proof: str,
    monkeypatch: pytest.MonkeyPatch,
    when: str,
    how: str,
) -> None:
    image = write_sized_png(tmp_path / "big.png", SIZE, seed=4)
    hashed = _sha(image)
    change = _rewrite(image, how)
    if when == "after-hash":
        _change_after_hash(monkeypatch, change)
    else:
        _change_during_send(monkeypatch, change)
    config = write_config(tmp_path / "c.toml", server.base_url)
    # Byte for byte: the send's own proof is what is tested here (with metadata stripped,
    # a change that breaks the file's structure is caught earlier: test_strip_upload.py).
    result = invoke(["--config", str(config), "upload", "--keep-metadata", str(image)])
    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""
    assert f"error: {image}: the file changed while being sent" in result.stderr
    assert "hint: wait until the program writing it is done" in result.stderr
    assert server.uploads() == []  # the body never ended: nothing stored
    [row] = _rows(_data_home())
    assert row["sha256"] == hashed
    assert row["status"] == "failed"
    assert row["remote_id"] is None


def test_a_change_inside_the_bytes_already_sent_is_caught_too(
    tmp_path: Path, server: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second hash matches what was sent; the stamp taken at open still tells."""
    image = write_sized_png(tmp_path / "big.png", SIZE, seed=5)

    def change_the_start() -> None:
        with image.open("r+b") as out:
            out.seek(100)
            out.write(b"\x00" * 8)
        os.utime(image, ns=(1, 1))

    _change_during_send(monkeypatch, change_the_start)
    config = write_config(tmp_path / "c.toml", server.base_url)
    result = invoke(["--config", str(config), "upload", str(image)])
    assert result.exit_code == ExitCode.USAGE
    assert "the file changed while being sent" in result.stderr
    assert server.uploads() == []


@pytest.mark.parametrize("how", ["same-size", "shrunk", "grown"])
def test_without_the_history_a_file_changed_during_the_send_is_cut_too(
    tmp_path: Path, server: Sandbox, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    image = write_sized_png(tmp_path / "big.png", SIZE, seed=6)
    _change_during_send(monkeypatch, _rewrite(image, how))
    config = write_config(tmp_path / "c.toml", server.base_url)
    result = invoke(["--config", str(config), "upload", "--no-history", str(image)])
    assert result.exit_code == ExitCode.USAGE
    assert "the file changed while being sent" in result.stderr
    assert server.uploads() == []
    assert _posts_seen(server) == 1  # one attempt, cut: never retried with other bytes


def test_a_cut_body_gives_its_post_credit_back(
    tmp_path: Path, server: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request never reached the server whole: the limiter's reservation is released,
    not kept as spent (the next upload's budget is what it was)."""
    from uploader.ratelimit.limiter import RateLimiter

    released: list[Any] = []
    real = RateLimiter.release

    def release(self: RateLimiter, reservation: Any) -> None:
        released.append(reservation)
        real(self, reservation)

    monkeypatch.setattr(RateLimiter, "release", release)
    image = write_sized_png(tmp_path / "big.png", SIZE, seed=7)
    _change_during_send(monkeypatch, _rewrite(image, "same-size"))
    config = write_config(tmp_path / "c.toml", server.base_url)
    result = invoke(["--config", str(config), "upload", str(image)])
    assert result.exit_code == ExitCode.USAGE
    assert len(released) == 1


@pytest.mark.parametrize("how", ["same-size", "shrunk", "grown"])
def test_a_file_changed_during_the_hash_pass_is_refused_before_any_request(
    tmp_path: Path, server: Sandbox, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    image = write_sized_png(tmp_path / "big.png", SIZE, seed=8)
    change = _rewrite(image, how)
    real = hashlib.sha256

    class Hashing:
        """sha256 that lets the writer in after its second piece of the file."""

        def __init__(self) -> None:
            self.inner, self.pieces = real(), 0

        def update(self, data: bytes) -> None:
            self.inner.update(data)
            self.pieces += 1
            if self.pieces == 2:
                change()

        def hexdigest(self) -> str:
            return self.inner.hexdigest()

    def sha256(*args: Any, **kwargs: Any) -> Any:
        return real(*args, **kwargs) if args or kwargs else Hashing()

    monkeypatch.setattr(hashlib, "sha256", sha256)
    config = write_config(tmp_path / "c.toml", server.base_url)
    result = invoke(["--config", str(config), "upload", str(image)])
    assert result.exit_code == ExitCode.USAGE
    assert f"error: {image}: the file changed while being read\n" in result.stderr
    assert posts(server) == []
    assert not (_data_home() / "uploader" / "history.sqlite3").exists() or not _rows(_data_home())


def test_in_a_batch_only_the_changed_file_fails(
    tmp_path: Path, server: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = [write_sized_png(tmp_path / f"{n}.png", SIZE, seed=10 + n) for n in range(3)]
    change = _rewrite(images[1], "same-size")
    real = content.SentFile.read

    def read(self: content.SentFile, count: int = -1) -> bytes:
        data = real(self, count)
        if self.image.source == images[1] and self.tell() == len(data):
            change()  # after the first read of the second file
        return data

    monkeypatch.setattr(content.SentFile, "read", read)
    config = write_config(tmp_path / "c.toml", server.base_url)
    args = ["--config", str(config), "upload", "-j", "1", "-f", "json", *map(str, images)]
    result = invoke(args)
    assert result.exit_code == ExitCode.PARTIAL
    records = json_lines(result.stdout)
    assert [r["status"] for r in records] == ["uploaded", "failed", "uploaded"]
    assert "the file changed while being sent" in records[1]["error"]
    assert sorted(u["sha256"] for u in server.uploads()) == sorted(_sha(images[n]) for n in (0, 2))
    rows = _rows(_data_home())
    assert [r["status"] for r in sorted(rows, key=lambda r: r["path"])] == [
        "uploaded",
        "failed",
        "uploaded",
    ]


def _posts_seen(server: Sandbox, wait: float = 5.0) -> int:
    """The POSTs the sandbox logged, once it logged one: a request cut mid-body reaches the
    client as an error before the server's thread has logged it (bounded wait)."""
    import time

    deadline = time.monotonic() + wait
    while not posts(server) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # and a moment for a second one, which must not come
    return len(posts(server))
