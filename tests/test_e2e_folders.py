"""End to end: ``uploader upload DIR`` (issue 13, item 1), the real process against
``uploader sandbox``: a tree with nested folders, files that are not images, hidden names,
a link loop and a link to an ancestor; -r, --include/--exclude, --hidden, -v, -q."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.e2e import get_json, posts, run_cli, sandbox_process, write_config
from tests.support.images import write_png


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_process() as url:
        yield url


def _tree(root: Path) -> Path:
    """shots/
    a.png  b.png  notes.txt  .hidden.png  empty.png(0 bytes)  loop -> loop
    2024/  c.png  readme.md  up -> ..  (a link to an ancestor)
    2024/05/  d.png
    .thumbs/  t.png
    tmp/  e.png
    """
    for seed, name in enumerate(
        [
            "a.png",
            "b.png",
            ".hidden.png",
            "2024/c.png",
            "2024/05/d.png",
            ".thumbs/t.png",
            "tmp/e.png",
        ]
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_png(root / name, seed=100 + seed)
    (root / "notes.txt").write_text("a note")
    (root / "2024" / "readme.md").write_text("# readme")
    (root / "empty.png").write_bytes(b"")
    os.symlink("loop", root / "loop")
    os.symlink("..", root / "2024" / "up")
    return root


def _run(config: Path, env: dict[str, str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    done = run_cli(["--config", str(config), *args], env)
    records = [json.loads(line) for line in done.stdout.decode().splitlines()]
    return done.returncode, records, done.stderr.decode()


def _stored(sandbox: str) -> dict[str, str]:
    return {u["id"]: u["sha256"] for u in get_json(f"{sandbox}/_sandbox/uploads")}


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_recursive_tree_uploads_each_image_once_in_order(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    root = _tree(tmp_path / "shots")
    config = write_config(tmp_path / "c.toml", sandbox)
    before = len(posts(sandbox, "/3/image"))
    code, records, err = _run(config, hermetic_env, "upload", "-r", "-f", "json", str(root))
    assert code == 0, err
    assert [r["path"] for r in records] == [
        str(root / "2024" / "05" / "d.png"),
        str(root / "2024" / "c.png"),
        str(root / "a.png"),
        str(root / "b.png"),
        str(root / "tmp" / "e.png"),
    ]
    stored = _stored(sandbox)
    for record in records:
        assert record["status"] == "uploaded"
        assert stored[record["id"]] == _sha(record["path"])  # the line's file, byte for byte
    assert len(posts(sandbox, "/3/image")) - before == 5  # the link to an ancestor: once
    assert err.splitlines() == [
        "skipped in folders: 2 files that are not images or videos, 1 empty file, "
        "1 symbolic link loop (-v names them)"
    ]


def test_verbose_names_the_skipped_files_and_quiet_hides_the_count(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    root = _tree(tmp_path / "shots")
    config = write_config(tmp_path / "c.toml", sandbox)
    code, records, err = _run(config, hermetic_env, "-v", "upload", "-f", "json", str(root))
    assert code == 0, err
    assert [r["path"] for r in records] == [str(root / "a.png"), str(root / "b.png")]
    assert f"skipped {root / 'notes.txt'}: not an image or video" in err
    assert f"skipped {root / 'empty.png'}: empty file" in err
    assert f"skipped {root / 'loop'}: symbolic link loop" in err
    assert "readme.md" not in err  # not in a folder walked without -r
    assert f"{root}: 2 files to upload, 1 file that is not an image or video, 1 empty file, " in err
    assert "1 symbolic link loop, 2 hidden names left out, " in err
    assert "2 subfolders not descended" in err  # .thumbs is hidden
    code, records, err = _run(config, hermetic_env, "-q", "upload", "-f", "json", str(root))
    assert code == 0
    assert len(records) == 2
    assert err == ""


def test_include_exclude_and_hidden(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    root = _tree(tmp_path / "shots")
    config = write_config(tmp_path / "c.toml", sandbox)
    args = ["upload", "-r", "-f", "json", "--include", "*.png", "--exclude", "tmp/**"]
    code, records, err = _run(config, hermetic_env, *args, "--hidden", str(root))
    assert code == 0, err
    assert [os.path.relpath(r["path"], root) for r in records] == [
        ".hidden.png",
        ".thumbs/t.png",
        "2024/05/d.png",
        "2024/c.png",
        "a.png",
        "b.png",
    ]
    stored = _stored(sandbox)
    assert all(stored[r["id"]] == _sha(r["path"]) for r in records)
    # empty.png matches '*.png' and is skipped; notes.txt, readme.md, loop are left out.
    assert err == "skipped in folders: 1 empty file (-v names them)\n"


def test_a_file_named_and_in_its_folder_is_sent_once_and_a_named_text_file_fails(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    root = _tree(tmp_path / "shots")
    config = write_config(tmp_path / "c.toml", sandbox)
    before = len(posts(sandbox, "/3/image"))
    code, records, err = _run(
        config,
        hermetic_env,
        "upload",
        "-f",
        "json",
        str(root / "b.png"),
        str(root),
        str(root / "notes.txt"),
    )
    assert code == 6, err  # one file failed: the text file named explicitly
    assert [(r["path"], r["status"]) for r in records] == [
        (str(root / "b.png"), "uploaded"),
        (str(root / "a.png"), "uploaded"),
        (str(root / "notes.txt"), "failed"),
    ]
    assert len(posts(sandbox, "/3/image")) - before == 2
    assert (
        "1 path left out: its file was reached earlier (each file is uploaded once; -v names it)"
        in err
    )
    assert f"error: {root / 'notes.txt'}: not an image or video" in err


def test_nothing_left_is_exit_2_and_nothing_sent(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    root = _tree(tmp_path / "shots")
    config = write_config(tmp_path / "c.toml", sandbox)
    before = len(posts(sandbox))
    code, records, err = _run(config, hermetic_env, "upload", "-r", "--exclude", "*.png", str(root))
    assert code == 2
    assert records == []
    assert err.splitlines()[0].startswith(f"error: {root}: no image or video files in the folder")
    assert err.splitlines()[1].startswith("hint: the patterns match the path inside the folder")
    assert len(posts(sandbox)) == before


def test_a_file_named_twice_has_a_line_for_each_name_and_is_sent_once(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    root = _tree(tmp_path / "shots")
    config = write_config(tmp_path / "c.toml", sandbox)
    os.symlink("a.png", root / "alias.png")
    before = len(posts(sandbox, "/3/image"))
    names = [str(root / "a.png"), str(root / "b.png"), str(root / "alias.png")]
    code, records, err = _run(config, hermetic_env, "-v", "upload", "-f", "json", *names)
    assert code == 0, err
    assert [(r["path"], r["status"]) for r in records] == [
        (names[0], "uploaded"),
        (names[1], "uploaded"),
        (names[2], "existing"),  # on the server already: not sent again
    ]
    assert records[2]["url"] == records[0]["url"]
    assert records[2]["id"] == records[0]["id"]
    assert len(posts(sandbox, "/3/image")) - before == 2
    assert f"{names[2]}: the same file as {names[0]}: sent once, its line repeats" in err
