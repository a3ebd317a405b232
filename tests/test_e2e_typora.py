"""Typora's "Custom Command" contract, end to end: it runs `CMD "p1" "p2"` and takes the
URLs from the LAST N lines of stdout, one per image in order; a line that does not start
with http://, https:// or file:// fails that image only ("Fail to parse result image
path"). A failed file must never shift another file's link."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.e2e import posts, run_cli, sandbox_process, write_config
from tests.support.images import write_png

LINK = re.compile(r"(https?|file)://\S+\Z")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_process() as url:
        yield url


def typora_parse(stdout: bytes, count: int) -> list[str | None]:
    """What Typora makes of the output: the last ``count`` lines, a link or a failure."""
    lines = stdout.decode().split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it is not a line of its own
    last = lines[-count:]
    assert len(last) == count, f"fewer than {count} lines: {stdout!r}"
    return [line if LINK.match(line) else None for line in last]


@pytest.mark.parametrize("failing", [0, 1])
def test_two_paths_one_failing_keeps_each_link_on_its_line(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str], failing: int
) -> None:
    config = write_config(tmp_path / "c.toml", sandbox)
    good = write_png(tmp_path / "typora-icon.png", seed=500 + failing)
    bad = tmp_path / "typora-icon2.png"
    bad.write_text("not a picture")
    paths = [str(good), str(bad)] if failing == 1 else [str(bad), str(good)]
    done = run_cli(["--config", str(config), "upload", *paths], hermetic_env)
    assert done.returncode == 6, done.stderr  # some failed: the batch code
    parsed = typora_parse(done.stdout, 2)
    assert parsed[failing] is None
    link = parsed[1 - failing]
    assert link is not None
    assert link.startswith(f"{sandbox}/imgur/i/")
    assert f"error: {bad}: not an image or video" in done.stderr.decode()


def test_typora_test_uploader_twice_with_skip_existing_costs_nothing(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", sandbox)
    icons = [
        str(write_png(tmp_path / f"typora-icon{name}.png", seed=510 + n))
        for n, name in enumerate(("", "2"))
    ]
    args = ["--config", str(config), "upload", "--skip-existing", *icons]
    first = run_cli(args, hermetic_env)
    assert first.returncode == 0, first.stderr
    sent = len(posts(sandbox, "/3/image"))
    again = run_cli(args, hermetic_env)
    assert again.returncode == 0, again.stderr
    assert len(posts(sandbox, "/3/image")) == sent  # nothing sent the second time
    assert typora_parse(again.stdout, 2) == typora_parse(first.stdout, 2)
    assert None not in typora_parse(again.stdout, 2)


def test_a_picture_passed_twice_is_sent_once_and_answered_on_both_lines(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    """A note that shows one picture twice: Typora passes its path twice and pairs the
    last N lines with its N paths, so the picture's link comes on both of its lines."""
    config = write_config(tmp_path / "c.toml", sandbox)
    first = write_png(tmp_path / "one.png", seed=520)
    second = write_png(tmp_path / "two.png", seed=521)
    before = len(posts(sandbox, "/3/image"))
    paths = [str(first), str(second), str(first), str(first)]
    done = run_cli(["--config", str(config), "upload", "-j", "4", *paths], hermetic_env)
    assert done.returncode == 0, done.stderr
    parsed = typora_parse(done.stdout, 4)
    assert None not in parsed
    assert parsed[0] == parsed[2] == parsed[3]
    assert parsed[0] != parsed[1]
    assert len(posts(sandbox, "/3/image")) - before == 2
    assert done.stderr == b""  # nothing left out: every name has its line
