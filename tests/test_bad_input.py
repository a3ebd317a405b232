"""The bad-input catalogue: the real `uploader` process, one case each.

Every case asserts the one-line message, the exit code from the design, no traceback, and
whether anything reached the server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.canned import Canned, canned_server
from tests.support.e2e import run_cli, write_config
from tests.support.images import write_png, write_sized_png
from tests.support.imgur import gateway_429, imgur_exception, legacy_error


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


def test_missing_file(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    _upload_nothing_sent(
        tmp_path, hermetic_env, str(tmp_path / "no.png"), 2, "no.png: no such file"
    )


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


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file; see test_media")
def test_unreadable_file(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    path = write_png(tmp_path / "locked.png")
    path.chmod(0)
    _upload_nothing_sent(tmp_path, hermetic_env, str(path), 2, "permission denied")


def test_empty_file(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    _upload_nothing_sent(
        tmp_path, hermetic_env, str(tmp_path / "empty.png"), 2, "empty.png: file is empty"
    )


def test_text_with_image_extension(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    (tmp_path / "fake.png").write_text("<html>not an image</html>")
    _upload_nothing_sent(
        tmp_path, hermetic_env, str(tmp_path / "fake.png"), 2, "fake.png: not an image or video"
    )


def test_file_over_provider_limit(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    big = write_sized_png(tmp_path / "big.png", 21 * 1024 * 1024)
    _upload_nothing_sent(
        tmp_path, hermetic_env, str(big), 2, "is over Imgur's 20.0 MiB image limit"
    )


def test_broken_symlink(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    os.symlink(tmp_path / "gone.png", tmp_path / "link.png")
    _upload_nothing_sent(
        tmp_path, hermetic_env, str(tmp_path / "link.png"), 2, "link.png: broken symbolic link"
    )


def test_empty_stdin(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    _upload_nothing_sent(tmp_path, hermetic_env, "-", 2, "standard input is empty", stdin=b"")


def test_unknown_provider_name(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    image = write_png(tmp_path / "a.png")
    done = run_cli(
        ["--config", str(_config(tmp_path)), "upload", "-p", "flickr", str(image)], hermetic_env
    )
    err = _check(done, 2, "unknown provider 'flickr' (configured: im)")
    assert "hint: add a [providers.flickr] table" in err


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ('[providers.x]\nkind = "flickr"\n', 2, "line 2: key 'providers.x.kind' is 'flickr'"),
        ("[defaults\nformat = 'url'\n", 2, "invalid TOML"),
        ('[defaults]\nmax_wait = "soon"\n', 2, "line 2: key 'defaults.max_wait' must be a number"),
        (
            'default_provider = "x"\n[providers.x]\nkind = "imgur"\n',
            3,
            "profile 'x' has no client_id",
        ),
        (
            '[providers.x]\nkind = "imgur"\nclient_id = "a"\nbase_url = "http://imgur.example"\n',
            2,
            "uses plain http to a non-loopback host",
        ),
    ],
)
def test_config_problems(
    tmp_path: Path, hermetic_env: dict[str, str], text: str, code: int, message: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    image = write_png(tmp_path / "a.png")
    done = run_cli(["--config", str(config), "upload", str(image)], hermetic_env)
    err = _check(done, code, message)
    if code == 2 and "profile" not in message:
        assert str(config) in err


LEGACY_403 = json.dumps(legacy_error("Invalid client_id", status=403))
STRUCTURED = json.dumps(imgur_exception(1003, "File type invalid (1)"))
GATEWAY_429 = json.dumps(gateway_429("legacy-api-x"))
NEW_413 = json.dumps(
    {
        "id": "legacy-api-y",
        "code": 413,
        "detail": "file is over the size limit",
        "status": "Request Entity Too Large",
    }
)
HTML = (("Content-Type", "text/html; charset=utf-8"),)


@pytest.mark.parametrize(
    ("canned", "code", "message"),
    [
        (Canned(200, b"<html>hello</html>", HTML), 5, "a body that is not JSON"),
        (
            Canned(
                200,
                json.dumps(legacy_error("odd", status=200, route=None)).encode(),
            ),
            5,
            "Imgur refused the upload: odd",
        ),
        (Canned(403, LEGACY_403.encode()), 3, "Imgur rejected the credentials: Invalid client_id"),
        (Canned(400, STRUCTURED.encode()), 5, "Imgur refused the file type: File type invalid"),
        (
            Canned(429, GATEWAY_429.encode(), (("Content-Type", "application/vnd.imgur.v1+json"),)),
            4,
            "rate limit reached",
        ),
        (Canned(413, NEW_413.encode()), 5, "file is over the size limit (HTTP 413)"),
        (
            Canned(
                404, b"<html><head><title>imgur: the simple 404 page</title></head></html>", HTML
            ),
            5,
            "imgur: the simple 404 page",
        ),
        (
            Canned(503, b"<html><title>503 first byte timeout</title>Error 503</html>", HTML),
            5,
            "HTTP 503",
        ),
        (
            Canned(
                200,
                b'{"data": {"id": "abc", "link": "https://i.imgur.com/abc.png"}}',
                truncate=True,
            ),
            5,
            "closed the connection without a full answer",
        ),
    ],
)
def test_server_answers(
    tmp_path: Path, hermetic_env: dict[str, str], canned: Canned, code: int, message: str
) -> None:
    image = write_png(tmp_path / "a.png")
    with canned_server(canned) as (url, recorder):
        config = _config(tmp_path, url)
        done = run_cli(
            ["--config", str(config), "upload", "--on-limit", "fail", str(image)], hermetic_env
        )
        _check(done, code, message)
        assert len(recorder.requests) == 1
        assert recorder.requests[0][1] == "/imgur/3/image"


def test_rejected_token(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    body = json.dumps(legacy_error("Unauthorized", status=403))
    image = write_png(tmp_path / "a.png")
    env = {**hermetic_env, "UPLOADER_IM_ACCESS_TOKEN": "rejected-token-123"}
    with canned_server(Canned(403, body.encode())) as (url, recorder):
        done = run_cli(["--config", str(_config(tmp_path, url)), "upload", str(image)], env)
        err = _check(done, 3, "Imgur rejected the credentials: Unauthorized (HTTP 403)")
        assert "rejected-token-123" not in err
        assert recorder.requests[0][2]["authorization"] == "Bearer rejected-token-123"
        assert len(recorder.requests) == 1
