"""The bad-input catalogue, folders (issue 13): `upload DIR` with nothing to take, a
folder of subfolders only, patterns that leave everything out, a bad pattern. Each case is
the real `uploader` process: exit 2, one `error:` line (and a `hint:`), nothing sent."""

from __future__ import annotations

from pathlib import Path

from tests.support.badinput import check_error, imgur_config, upload_nothing_sent
from tests.support.canned import Canned, canned_server
from tests.support.e2e import run_cli
from tests.support.images import write_png


def test_empty_directory(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    (tmp_path / "shots").mkdir()
    upload_nothing_sent(
        tmp_path,
        hermetic_env,
        str(tmp_path / "shots"),
        2,
        "shots: no image or video files directly in the folder (it is empty)",
    )


def test_directory_with_only_subfolders_hints_at_r(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    (tmp_path / "shots" / "2024").mkdir(parents=True)
    write_png(tmp_path / "shots" / "2024" / "a.png")
    with canned_server(Canned(500)) as (url, recorder):
        done = run_cli(
            ["--config", str(imgur_config(tmp_path, url)), "upload", str(tmp_path / "shots")],
            hermetic_env,
        )
        err = check_error(done, 2, "shots: no image or video files directly in the folder")
        assert "(1 subfolder not descended)" in err
        assert "hint: -r (--recursive) descends into subfolders" in err
        assert recorder.requests == []


def test_directory_whose_files_the_patterns_all_leave_out(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    (tmp_path / "shots" / "tmp").mkdir(parents=True)
    write_png(tmp_path / "shots" / "a.png")
    write_png(tmp_path / "shots" / "tmp" / "b.png")
    with canned_server(Canned(500)) as (url, recorder):
        args = [
            "--config",
            str(imgur_config(tmp_path, url)),
            "upload",
            "-r",
            str(tmp_path / "shots"),
        ]
        done = run_cli([*args, "--include", "*.jpg", "--exclude", "tmp/**"], hermetic_env)
        err = check_error(done, 2, "shots: no image or video files in the folder or its subfolders")
        assert "(2 left out by --include/--exclude)" in err
        assert "hint: the patterns match the path inside the folder" in err
        assert recorder.requests == []


def test_directory_of_files_that_are_no_images(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("hello")
    with canned_server(Canned(500)) as (url, recorder):
        done = run_cli(
            ["--config", str(imgur_config(tmp_path, url)), "upload", str(tmp_path / "docs")],
            hermetic_env,
        )
        err = check_error(done, 2, "docs: no image or video files directly in the folder")
        assert "(1 file that is not an image or video)" in err
        assert "hint: -v names the files skipped" in err
        # As the hint says: -v names it (before the error, which stays the last line).
        verbose = run_cli(
            ["-v", "--config", str(imgur_config(tmp_path, url)), "upload", str(tmp_path / "docs")],
            hermetic_env,
        )
        assert verbose.returncode == 2
        said = verbose.stderr.decode().splitlines()
        assert said[0] == f"skipped {tmp_path / 'docs' / 'notes.txt'}: not an image or video " + (
            "(its content matches no supported format)"
        )
        assert said[1].startswith(f"error: {tmp_path / 'docs'}: no image or video files")
        assert "Traceback" not in verbose.stderr.decode()
        assert recorder.requests == []


def test_bad_pattern(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    (tmp_path / "shots").mkdir()
    write_png(tmp_path / "shots" / "a.png")
    with canned_server(Canned(500)) as (url, recorder):
        args = ["--config", str(imgur_config(tmp_path, url)), "upload", str(tmp_path / "shots")]
        done = run_cli([*args, "--exclude", "[z-a].png"], hermetic_env)
        check_error(done, 2, "--exclude '[z-a].png': not a valid pattern")
        done = run_cli([*args, "--include", "/"], hermetic_env)
        check_error(done, 2, "--include '/': the pattern is empty")
        assert recorder.requests == []
