"""The bad-input catalogue, folders (issue 13): `upload DIR` with nothing to take, a
folder of subfolders only, patterns that leave everything out, a bad pattern. Each case is
the real `uploader` process: exit 2, one `error:` line (and a `hint:`), nothing sent."""

from __future__ import annotations

from pathlib import Path

from tests.support.canned import Canned, canned_server
from tests.support.e2e import run_cli, write_config
from tests.support.images import write_png


def _config(tmp_path: Path, url: str = "http://127.0.0.1:9", extra: str = "") -> Path:
    return write_config(
        tmp_path / "config.toml",
        url,
        client_id="cid",
        name="im",
        defaults="[defaults]\nretries = 1",
        extra=extra,
    )


def _check(done: object, code: int, message: str) -> str:
    assert done.returncode == code, (done.returncode, done.stderr)  # type: ignore[attr-defined]
    err = done.stderr.decode()  # type: ignore[attr-defined]
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0].startswith("error: ")
    assert message in lines[0], lines
    assert all(line.startswith(("error: ", "hint: ")) for line in lines)
    return err


def _upload_nothing_sent(
    tmp_path: Path,
    env: dict[str, str],
    target: str,
    code: int,
    message: str,
    stdin: bytes | None = None,
) -> None:
    with canned_server(Canned(500)) as (url, recorder):
        config = _config(tmp_path, url)
        done = run_cli(["--config", str(config), "upload", target], env, stdin=stdin)
        _check(done, code, message)
        assert recorder.requests == []


def test_empty_directory(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    (tmp_path / "shots").mkdir()
    _upload_nothing_sent(
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
            ["--config", str(_config(tmp_path, url)), "upload", str(tmp_path / "shots")],
            hermetic_env,
        )
        err = _check(done, 2, "shots: no image or video files directly in the folder")
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
        args = ["--config", str(_config(tmp_path, url)), "upload", "-r", str(tmp_path / "shots")]
        done = run_cli([*args, "--include", "*.jpg", "--exclude", "tmp/**"], hermetic_env)
        err = _check(done, 2, "shots: no image or video files in the folder or its subfolders")
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
            ["--config", str(_config(tmp_path, url)), "upload", str(tmp_path / "docs")],
            hermetic_env,
        )
        err = _check(done, 2, "docs: no image or video files directly in the folder")
        assert "(1 other file skipped)" in err
        assert "hint: -v names the files skipped" in err
        assert recorder.requests == []


def test_bad_pattern(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    (tmp_path / "shots").mkdir()
    write_png(tmp_path / "shots" / "a.png")
    with canned_server(Canned(500)) as (url, recorder):
        args = ["--config", str(_config(tmp_path, url)), "upload", str(tmp_path / "shots")]
        done = run_cli([*args, "--exclude", "[z-a].png"], hermetic_env)
        _check(done, 2, "--exclude '[z-a].png': not a valid pattern")
        done = run_cli([*args, "--include", "/"], hermetic_env)
        _check(done, 2, "--include '/': the pattern is empty")
        assert recorder.requests == []
