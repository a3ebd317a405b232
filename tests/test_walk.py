"""Folders expanded into the files to upload (``imaging/walk.py``, ``imaging/patterns.py``):
real trees under tmp_path, the files and order that come out, what is said about the rest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.images import write_png
from uploader.errors import InputFileError, UsageError
from uploader.imaging.patterns import Filters, compile_pattern
from uploader.imaging.walk import Expansion, expand


def _tree(root: Path, *names: str) -> Path:
    """PNG files (distinct content) at ``names`` under ``root``; ``x.txt`` names are text."""
    for seed, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".txt"):
            path.write_text("not an image")
        else:
            write_png(path, seed=seed)
    return root


def _rel(expansion: Expansion, root: Path) -> list[str]:
    return [os.path.relpath(p, root) for p in expansion.paths]


def _told(expansion: Expansion) -> tuple[list[str], list[str]]:
    notices: list[str] = []
    debug: list[str] = []
    expansion.tell(notices.append, debug.append)
    return notices, debug


# -- which files, in which order ---------------------------------------------------------


def test_a_folder_gives_the_files_directly_in_it_sorted(tmp_path: Path) -> None:
    root = _tree(tmp_path / "shots", "b.png", "a.png", "C.png", "sub/x.png")
    done = expand([str(root)])
    assert _rel(done, root) == ["C.png", "a.png", "b.png"]  # code point order, no subfolder
    assert done.paths[0] == str(root / "C.png")  # the folder as named, joined


def test_recursive_descends_depth_first_in_sorted_order(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "b.png", "a/z.png", "a/b/y.png", "a.png", "a0/w.png")
    done = expand([str(root)], recursive=True)
    assert _rel(done, root) == ["a/b/y.png", "a/z.png", "a.png", "a0/w.png", "b.png"]


def test_the_order_of_the_arguments_is_kept(tmp_path: Path) -> None:
    second = _tree(tmp_path / "b", "1.png", "2.png")
    first = _tree(tmp_path / "a", "9.png")
    single = write_png(tmp_path / "single.png", seed=50)
    done = expand([str(second), str(single), str(first)])
    assert done.paths == (
        str(second / "1.png"),
        str(second / "2.png"),
        str(single),
        str(first / "9.png"),
    )


def test_the_label_is_the_folder_as_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path / "shots", "a.png", "sub/b.png")
    monkeypatch.chdir(tmp_path)
    assert expand(["shots/"], recursive=True).paths == ("shots/a.png", "shots/sub/b.png")
    # Trailing slashes, however many, are not doubled into the name (`shots//a.png`).
    assert expand(["./shots//"]).paths == ("./shots/a.png",)
    assert expand([f"{tmp_path}///shots///"]).paths == (f"{tmp_path}///shots/a.png",)
    monkeypatch.chdir(tmp_path / "shots")
    assert expand(["."]).paths == ("./a.png",)
    assert expand(["./"]).paths == ("./a.png",)


def test_files_and_stdin_pass_through_unchecked(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("text")
    done = expand(["-", str(tmp_path / "missing.png"), str(tmp_path / "notes.txt")])
    # The checks that follow refuse them, each with its own message.
    assert done.paths == ("-", str(tmp_path / "missing.png"), str(tmp_path / "notes.txt"))
    assert done.skipped == ()


# -- hidden names -------------------------------------------------------------------------


def test_hidden_files_and_folders_are_left_out_unless_hidden(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", ".h.png", "a.png", ".cache/b.png", "sub/.c.png", "sub/d.png")
    assert _rel(expand([str(root)], recursive=True), root) == ["a.png", "sub/d.png"]
    every = expand([str(root)], recursive=True, hidden=True)
    assert _rel(every, root) == [".cache/b.png", ".h.png", "a.png", "sub/.c.png", "sub/d.png"]


def test_a_hidden_folder_or_file_named_explicitly_is_taken(tmp_path: Path) -> None:
    root = _tree(tmp_path / ".shots", "a.png")
    hidden_file = write_png(tmp_path / ".x.png", seed=9)
    assert expand([str(root), str(hidden_file)]).paths == (str(root / "a.png"), str(hidden_file))


# -- include / exclude ---------------------------------------------------------------------


def test_include_without_a_slash_matches_at_any_depth(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "a.png", "a.jpg", "x/b.png", "x/y/c.png", "x/y/d.gif")
    done = expand([str(root)], recursive=True, include=["*.png"])
    assert _rel(done, root) == ["a.png", "x/b.png", "x/y/c.png"]


def test_include_and_exclude_combine_and_exclude_wins(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "a.png", "tmp/b.png", "tmp/deep/c.png", "k/tmp.png", "d.gif")
    done = expand([str(root)], recursive=True, include=["*.png"], exclude=["tmp/**"])
    assert _rel(done, root) == ["a.png", "k/tmp.png"]
    both = expand([str(root)], recursive=True, include=["*.png", "*.gif"], exclude=["a.*"])
    assert _rel(both, root) == ["d.gif", "k/tmp.png", "tmp/b.png", "tmp/deep/c.png"]


def test_a_pattern_with_a_slash_is_anchored_at_the_folder(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "a.png", "x/a.png", "x/x/a.png")
    assert _rel(expand([str(root)], recursive=True, include=["/a.png"]), root) == ["a.png"]
    assert _rel(expand([str(root)], recursive=True, include=["x/*.png"]), root) == ["x/a.png"]
    deep = expand([str(root)], recursive=True, include=["x/**/a.png"])
    assert _rel(deep, root) == ["x/a.png", "x/x/a.png"]


def test_a_folder_pattern_leaves_out_its_whole_subtree(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "a.png", "raw/b.png", "x/raw/c.png", "raw.png", "y/raw")
    done = expand([str(root)], recursive=True, exclude=["raw/"])
    assert _rel(done, root) == ["a.png", "raw.png", "y/raw"]  # 'raw/' matches folders only
    by_name = expand([str(root)], recursive=True, exclude=["raw"])
    assert _rel(by_name, root) == ["a.png", "raw.png"]
    assert _rel(expand([str(root)], recursive=True, include=["raw"]), root) == [
        "raw/b.png",
        "x/raw/c.png",
        "y/raw",  # a file named raw too
    ]


def test_an_excluded_folder_is_not_even_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path / "s", "a.png", "tmp/b.png", "tmp/c.png", "tmp/deep/d.png")
    listed: list[str] = []
    real = os.scandir

    def scandir(path: str) -> object:
        listed.append(os.path.relpath(path, root))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    done = expand([str(root)], recursive=True, exclude=["tmp"])
    monkeypatch.undo()
    assert _rel(done, root) == ["a.png"]
    assert listed == ["."]
    _, debug = _told(done)
    assert debug == [f"{root}: 1 file to upload, 1 left out by --include/--exclude"]


def test_patterns_do_not_apply_to_files_named_explicitly(tmp_path: Path) -> None:
    image = write_png(tmp_path / "a.png", seed=1)
    done = expand([str(image)], exclude=["*.png"])
    assert done.paths == (str(image),)
    assert any("no folder was named" in text for text in done.warnings)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.png", "a.png", True),
        ("*.png", "x/y/a.png", True),
        ("*.png", "a.PNG", False),  # case-sensitive
        ("a?.png", "ab.png", True),
        ("a?.png", "a/.png", False),
        ("[ab].png", "b.png", True),
        ("[!ab].png", "b.png", False),
        ("[!ab].png", "c.png", True),
        ("[0-9]*.png", "7x.png", True),
        ("x/*.png", "x/y/a.png", False),  # '*' stays within one folder
        ("x/**", "x/y/a.png", True),
        ("**/y/*.png", "x/y/a.png", True),
        ("**/y/*.png", "y/a.png", True),
        ("a/**/b.png", "a/b.png", True),
        ("a/**/b.png", "a/q/r/b.png", True),
        ("shot**.png", "shot/x.png", True),
        ("\\*.png", "*.png", True),
        ("\\*.png", "a.png", False),
        ("[a.png", "[a.png", True),  # an unclosed '[' is literal
        ("a+b(1).png", "a+b(1).png", True),
        ("./a.png", "a.png", True),  # the folder named, as the shell writes it
        ("./a.png", "x/a.png", False),  # anchored
        ("./x/*.png", "x/a.png", True),
        (".//x/*.png", "x/a.png", True),
        ("..x/*.png", "..x/a.png", True),  # a name that starts with dots is a name
        ("*..png", "a..png", True),
    ],
)
def test_pattern_rules(pattern: str, path: str, expected: bool) -> None:
    assert compile_pattern(pattern, "--include").matches(path, is_dir=False) is expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "empty"),
        ("/", "empty"),
        ("./", "empty"),
        ("[z-a]", "valid"),
        ("../shots/*.png", "no part is '.' or '..'"),
        ("2024/../*.png", "no part is '.' or '..'"),
        ("a/./b.png", "no part is '.' or '..'"),
        ("..", "no part is '.' or '..'"),
    ],
)
def test_a_bad_pattern_is_a_usage_error(pattern: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Filters.parse([], [pattern])


# -- what is skipped, and said ----------------------------------------------------------


def test_non_images_in_a_folder_are_skipped_counted_and_named(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "a.png", "notes.txt", "sub/more.txt")
    (root / "empty.png").write_bytes(b"")
    done = expand([str(root)], recursive=True)
    assert _rel(done, root) == ["a.png"]
    notices, debug = _told(done)
    assert notices == [
        "skipped in folders: 2 files that are not images or videos, 1 empty file (-v names them)"
    ]
    assert f"skipped {root / 'notes.txt'}: not an image or video" in "\n".join(debug)
    assert f"skipped {root / 'sub' / 'more.txt'}: not an image or video" in "\n".join(debug)
    assert f"skipped {root / 'empty.png'}: empty file" in debug


def test_a_pdf_in_a_folder_is_skipped_but_taken_when_named(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "a.png")
    (root / "doc.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n")
    done = expand([str(root)])
    assert _rel(done, root) == ["a.png"]
    (item,) = done.skipped
    assert item.detail == "not an image or video (application/pdf; name the file to upload it)"
    assert expand([str(root / "doc.pdf")]).paths == (str(root / "doc.pdf"),)


def test_a_non_image_reached_twice_is_counted_once(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "a.png", "notes.txt")
    os.symlink("notes.txt", root / "z.txt")
    done = expand([str(root)])
    assert [item.label for item in done.skipped] == [str(root / "notes.txt")]


def test_broken_links_loops_and_special_files_are_skipped(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "a.png")
    os.symlink(root / "gone.png", root / "broken.png")
    os.symlink("self", root / "self")
    os.mkfifo(root / "pipe")  # opening it would block: never opened
    done = expand([str(root)], recursive=True)
    assert _rel(done, root) == ["a.png"]
    assert sorted(item.kind for item in done.skipped) == ["broken", "loop", "special"]
    notices, _ = _told(done)
    assert "1 broken symbolic link, 1 symbolic link loop, 1 special file" in notices[0]


def test_a_name_that_is_not_utf8_is_skipped_not_a_crash(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "a.png")
    os.link(root / "a.png", os.fsencode(root) + b"/\xff.png")
    done = expand([str(root)])
    assert _rel(done, root) == ["a.png"]
    (item,) = done.skipped
    assert item.kind == "name"
    item.label.encode("utf-8")  # printable


def test_an_unreadable_subfolder_is_a_warning_and_the_walk_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path / "s", "a.png", "locked/b.png", "z/c.png")
    real = os.scandir

    def scandir(path: str) -> object:  # chmod 0 would not stop root: refuse like the OS
        if path.endswith("locked"):
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    done = expand([str(root)], recursive=True)
    monkeypatch.undo()
    assert _rel(done, root) == ["a.png", "z/c.png"]
    assert done.warnings == (
        f"warning: {root / 'locked'}: cannot read the folder (permission denied): "
        "the files in it are skipped",
    )
    notices, _ = _told(done)
    assert notices[0] == done.warnings[0]


def test_an_unreadable_folder_named_alone_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path / "locked", "a.png")

    def scandir(path: str) -> object:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(InputFileError) as caught:
        expand([str(root)])
    # What is wrong, with its reason: not "no image or video files" in it.
    assert caught.value.message == f"{root}: cannot read the folder (permission denied)"
    assert caught.value.hint == "check its permissions (ls -ld names the owner and mode)"


def test_an_unreadable_folder_among_others_is_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path / "s", "a.png")
    locked = _tree(tmp_path / "locked", "b.png")
    real = os.scandir

    def scandir(path: str) -> object:
        if path == str(locked):
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    done = expand([str(locked), str(root)])
    monkeypatch.undo()
    assert _rel(done, root) == ["a.png"]
    assert done.warnings == (
        f"warning: {locked}: cannot read the folder (permission denied): "
        "the files in it are skipped",
    )


# -- links and files reached twice ---------------------------------------------------------


def test_a_link_loop_and_a_link_to_an_ancestor_end(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "a.png", "sub/b.png")
    os.symlink("..", root / "sub" / "up")
    os.symlink(root, root / "sub" / "root")
    os.symlink("../sub", root / "sub" / "me")
    done = expand([str(root)], recursive=True)
    assert _rel(done, root) == ["a.png", "sub/b.png"]
    _, debug = _told(done)
    assert sum("not walked again" in line for line in debug) == 3


def test_a_linked_folder_is_walked_once_through_its_first_name(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "real/a.png")
    os.symlink("real", root / "alias")  # 'alias' sorts first: its name wins
    done = expand([str(root)], recursive=True)
    assert _rel(done, root) == ["alias/a.png"]


def test_a_file_reached_twice_is_taken_once_at_its_first_place(tmp_path: Path) -> None:
    """Found again in a folder: left out. Named again on the command line: it keeps its
    place (line N is the Nth name's), as a twin of its first name (sent once)."""
    root = _tree(tmp_path / "s", "b.png", "c.png")
    os.symlink("c.png", root / "a.png")
    os.link(root / "b.png", root / "d.png")
    done = expand([str(root / "c.png"), str(root), str(root / "b.png"), str(root / "c.png")])
    assert done.paths == tuple(str(root / n) for n in ("c.png", "b.png", "b.png", "c.png"))
    assert done.twins == {2: 1, 3: 0}
    assert done.duplicates == (
        (str(root / "a.png"), str(root / "c.png")),  # a link
        (str(root / "c.png"), str(root / "c.png")),  # named, then in its folder
        (str(root / "d.png"), str(root / "b.png")),  # a hard link
    )
    notices, debug = _told(done)
    assert f"{root / 'a.png'}: the same file as {root / 'c.png'}: taken once" in debug
    assert f"{root / 'b.png'}: named again: sent once, its line repeats that one" in debug
    assert notices == [
        "3 paths left out: their files were reached earlier (each file is uploaded once; "
        "-v names them)"
    ]


def test_a_file_named_under_two_names_is_a_twin_of_the_first(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "b.png")
    os.symlink("b.png", root / "link.png")
    done = expand([str(root / "b.png"), str(root / "link.png"), str(root / "b.png")])
    assert done.paths == tuple(str(root / n) for n in ("b.png", "link.png", "b.png"))
    assert done.twins == {1: 0, 2: 0}
    assert done.duplicates == ()
    notices, debug = _told(done)
    assert notices == []
    assert (
        f"{root / 'link.png'}: the same file as {root / 'b.png'}: sent once, its line repeats"
        " that one" in debug
    )


def test_a_folder_named_twice_or_inside_another_gives_its_files_once(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "a.png", "sub/b.png")
    done = expand([str(root), str(root / "sub"), str(root)], recursive=True)
    assert _rel(done, root) == ["a.png", "sub/b.png"]  # and no 'no image' warning
    assert done.warnings == ()


def test_a_folder_whose_files_were_taken_under_another_name_is_not_empty(
    tmp_path: Path,
) -> None:
    root = _tree(tmp_path / "s", "sub/a.png", "b.png")
    done = expand([str(root / "sub" / "a.png"), str(root / "sub"), str(root)], recursive=True)
    assert _rel(done, root) == ["sub/a.png", "b.png"]
    assert done.warnings == ()  # not "sub: no image or video files"
    notices, _ = _told(done)
    assert notices == [
        "1 path left out: its file was reached earlier (each file is uploaded once; -v names it)"
    ]


def test_names_with_line_breaks_or_escapes_are_told_on_one_line(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "a.png", "new\nline.txt", "esc\x1b[2Jape.txt", "b\rc.txt")
    os.mkdir(root / "sub\ndir")
    done = expand([str(root)])
    notices, debug = _told(done)
    said = notices + debug
    assert f"skipped {root}/new line.txt: not an image or video" in "\n".join(debug)
    assert f"skipped {root}/esc [2Jape.txt: not an image or video" in "\n".join(debug)
    assert f"skipped {root}/b c.txt: not an image or video" in "\n".join(debug)
    assert not any(char in text for text in said for char in "\n\r\x1b")
    (tmp_path / "e\nf").mkdir()
    with pytest.raises(InputFileError):  # the error is made one line where it is printed
        expand([str(tmp_path / "e\nf")])
    warned: list[str] = []
    expand([str(tmp_path / "e\nf"), str(root)]).tell(warned.append, warned.append)
    assert f"warning: {tmp_path}/e f: no image or video files" in warned[0]


def test_a_non_image_named_explicitly_after_its_folder_still_reaches_the_checks(
    tmp_path: Path,
) -> None:
    root = _tree(tmp_path / "s", "a.png", "notes.txt")
    done = expand([str(root), str(root / "notes.txt")])
    assert done.paths == (str(root / "a.png"), str(root / "notes.txt"))


# -- nothing left ----------------------------------------------------------------------------


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "e").mkdir()
    with pytest.raises(InputFileError) as caught:
        expand([str(tmp_path / "e")])
    assert caught.value.message == (
        f"{tmp_path / 'e'}: no image or video files directly in the folder (it is empty)"
    )
    assert caught.value.hint is None


def test_only_subfolders_without_r_hints_at_r(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "x/a.png", "y/b.png", ".h.png")
    with pytest.raises(InputFileError) as caught:
        expand([str(root)])
    assert "(1 hidden name left out, 2 subfolders not descended)" in caught.value.message
    assert caught.value.hint == (
        "-r (--recursive) descends into subfolders; --hidden takes names that start with '.'"
    )


def test_a_tree_of_empty_folders_is_not_called_empty(tmp_path: Path) -> None:
    (tmp_path / "t" / "a" / "b").mkdir(parents=True)
    with pytest.raises(InputFileError) as caught:
        expand([str(tmp_path / "t")], recursive=True)
    assert caught.value.message == (
        f"{tmp_path / 't'}: no image or video files in the folder or its subfolders "
        "(only 2 subfolders, with no files in them)"
    )
    loop = tmp_path / "loop"
    (loop / "x").mkdir(parents=True)
    os.symlink("..", loop / "x" / "up")
    with pytest.raises(InputFileError, match=r"\(only 1 subfolder, with no files in it\)$"):
        expand([str(loop)], recursive=True)


def test_nothing_left_tells_debug_what_was_skipped_before_the_error(tmp_path: Path) -> None:
    root = _tree(tmp_path / "docs", "notes.txt", "sub/x.txt")
    (root / "empty.png").write_bytes(b"")
    debug: list[str] = []
    with pytest.raises(InputFileError) as caught:
        expand([str(root)], recursive=True, debug=debug.append)
    # The counts by kind in the error; -v names each file (the hint says so).
    assert caught.value.message == (
        f"{root}: no image or video files in the folder or its subfolders "
        "(2 files that are not images or videos, 1 empty file)"
    )
    assert caught.value.hint == "-v names the files skipped"
    assert f"skipped {root / 'empty.png'}: empty file" in debug
    assert f"skipped {root / 'notes.txt'}: not an image or video" in "\n".join(debug)
    assert f"skipped {root / 'sub' / 'x.txt'}: not an image or video" in "\n".join(debug)


def test_patterns_that_leave_nothing_are_an_error(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "a.png", "b/c.png")
    with pytest.raises(InputFileError, match=r"\(2 left out by --include/--exclude\)"):
        expand([str(root)], recursive=True, include=["*.jpg"])


def test_patterns_that_differ_only_by_case_say_so_in_the_hint(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "a.png", "b/c.png", "d.gif")
    with pytest.raises(InputFileError) as caught:
        expand([str(root)], recursive=True, include=["*.PNG"])
    assert caught.value.hint is not None
    assert "patterns are case-sensitive: 2 files would match ignoring case" in caught.value.hint
    with pytest.raises(InputFileError) as caught:  # nothing to do with case: not said
        expand([str(root)], recursive=True, include=["*.jpg"])
    assert "case" not in str(caught.value.hint)


def test_an_empty_folder_among_others_is_a_warning(tmp_path: Path) -> None:
    root = _tree(tmp_path / "s", "a.png")
    (tmp_path / "e").mkdir()
    done = expand([str(tmp_path / "e"), str(root)])
    assert done.paths == (str(root / "a.png"),)
    assert done.warnings == (
        f"warning: {tmp_path / 'e'}: no image or video files directly in the folder (it is empty)",
    )
