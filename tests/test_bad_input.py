"""The bad-input catalogue: every class of bad input of issues 10-11, several instances
each, through the real `uploader` process (tests/support/e2e.py) against a canned server
or the sandbox. Every case asserts the exit code, the one `error:` line (+ `hint:`), no
traceback, what the server received (nothing, when nothing may be sent) and that nothing
is half-written. Shared checks: tests/support/badinput.py.

Where each class lives (issue 11's sections):

- paths that cannot be sent (missing, an empty directory, empty, text, too big, a broken link, a
  FIFO, a device, standard input empty or larger than the profile takes), config files
  (syntax, kinds, profile names), server answers, a rejected token: this file
- section 2, rate-limit state that cannot hurt (absurd resets, hostile state files: cut,
  a directory, a FIFO, a device, wrong types; kill -9 reservations, cold-start races):
  test_bad_input_ratestate.py
- section 3, bounded time (trickling servers, low-speed values, the backoff floor, an
  answer with no end): test_bad_input_time.py
- section 4, output that cannot be written (a reader that leaves, ``>&-``, ``/dev/full``,
  click's own --help and --version included): test_bad_input_output.py; a stderr that
  cannot be written (closed, full, its reader gone): test_bad_input_stderr.py; a stdout
  file that fills up in the middle of a line (ulimit -f): test_bad_input_torn.py
- section 5, config values and secrets: documented keys that crashed, a value refused from
  one source and accepted from another, secrets that cannot be sent (from a variable, a
  command, the store, `auth set-token`), every URL key of every kind (userinfo, a query or
  fragment, a bad port or IPv6 address, plain http to non-loopback hosts), sandbox knobs:
  test_bad_input_config.py
- section 5, content checks that read too little (truncated or forged headers of each
  type), file names with control characters, bidi overrides or bytes that are not UTF-8
  in every output format, text options that are not UTF-8, a server's text (titles, error
  messages) on one line without terminal escapes: test_bad_input_content.py
- section 5, ids and links checked before sending, for every command and provider; and
  section 7, every link or id the tool printed accepted back: test_bad_input_ids.py
- section 5, files the tool owns of the wrong kind (cache and state directories, cache
  entries, credentials.toml, a config path that is no config file), notices under ``-q``:
  test_bad_input_owned.py
- issue 13, folders with nothing to take (empty, subfolders only without -r, no images,
  patterns that leave everything out, a bad pattern): test_bad_input_folders.py
- section 5's "one check per value, whatever its source" for the options and keys of
  issues 13-17 (jobs, serve's host and secret, [serve] origins, the Redis URL, a custom
  profile's sxcu path, low_speed_limit): test_bad_input_values.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.badinput import check_error, imgur_config, refused, upload_nothing_sent
from tests.support.canned import Canned, canned_server
from tests.support.e2e import run_cli
from tests.support.images import png_bytes, write_png, write_sized_png
from tests.support.imgur import gateway_429, imgur_exception, legacy_error


def _path_case(tmp_path: Path, case: str) -> str:
    """Make the bad path ``case`` names under ``tmp_path``; the argument to upload."""
    if case == "empty-name":
        return ""
    if case == "directory":
        (tmp_path / "shots").mkdir()
        return str(tmp_path / "shots")
    if case == "empty":
        (tmp_path / "empty.png").write_bytes(b"")
    elif case == "text":
        (tmp_path / "fake.png").write_text("<html>not an image</html>")
    elif case == "big":
        return str(write_sized_png(tmp_path / "big.png", 21 * 1024 * 1024))
    elif case == "symlink":
        os.symlink(tmp_path / "gone.png", tmp_path / "link.png")
    elif case == "fifo":
        os.mkfifo(tmp_path / "pipe.png")  # never opened: it would block
    names = {"missing": "no.png", "empty": "empty.png", "text": "fake.png"}
    names |= {"symlink": "link.png", "fifo": "pipe.png", "device": "/dev/zero", "stdin": "-"}
    return str(tmp_path / names[case]) if case not in ("device", "stdin") else names[case]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no.png: no such file"),
        ("empty-name", "'': an empty path names no file"),  # read as ".", before
        ("directory", "shots: no image or video files directly in the folder (it is empty)"),
        ("empty", "empty.png: file is empty"),
        ("text", "fake.png: not an image or video"),
        ("big", "is over Imgur's 20.0 MiB image limit"),
        ("symlink", "link.png: broken symbolic link"),
        ("fifo", "pipe.png: not a regular file"),
        ("device", "/dev/zero: not a regular file"),
        ("stdin", "standard input is empty"),
    ],
)
def test_a_path_that_cannot_be_sent_is_refused_before_any_request(
    tmp_path: Path, hermetic_env: dict[str, str], case: str, message: str
) -> None:
    target = _path_case(tmp_path, case)
    upload_nothing_sent(tmp_path, hermetic_env, target, 2, message, stdin=b"")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file; see test_media")
def test_unreadable_file(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    path = write_png(tmp_path / "locked.png")
    path.chmod(0)
    upload_nothing_sent(tmp_path, hermetic_env, str(path), 2, "permission denied")


def test_unknown_provider_name(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    image = write_png(tmp_path / "a.png")
    done = run_cli(
        ["--config", str(imgur_config(tmp_path)), "upload", "-p", "flickr", str(image)],
        hermetic_env,
    )
    err = check_error(done, 2, "unknown provider 'flickr' (configured: im)")
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
        # A profile name is printed on its own line and typed after -p.
        ('[providers.""]\nkind = "imgur"\n', 2, "key 'providers' is not a profile name"),
        ('[providers."a\\nb"]\nkind = "imgur"\n', 2, "'providers.a\\nb' is not a profile"),
        ('[providers."a\\u202eb"]\nkind = "imgur"\n', 2, "'providers.a\\u202eb' is not a"),
    ],
)
def test_config_problems(
    tmp_path: Path, hermetic_env: dict[str, str], text: str, code: int, message: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    image = write_png(tmp_path / "a.png")
    done = run_cli(["--config", str(config), "upload", str(image)], hermetic_env)
    err = check_error(done, code, message)
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
        config = imgur_config(tmp_path, url)
        done = run_cli(
            ["--config", str(config), "upload", "--on-limit", "fail", str(image)], hermetic_env
        )
        check_error(done, code, message)
        assert len(recorder.requests) == 1
        assert recorder.requests[0][1] == "/imgur/3/image"


def test_rejected_token(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    body = json.dumps(legacy_error("Unauthorized", status=403))
    image = write_png(tmp_path / "a.png")
    env = {**hermetic_env, "UPLOADER_IM_ACCESS_TOKEN": "rejected-token-123"}
    with canned_server(Canned(403, body.encode())) as (url, recorder):
        done = run_cli(["--config", str(imgur_config(tmp_path, url)), "upload", str(image)], env)
        err = check_error(done, 3, "Imgur rejected the credentials: Unauthorized (HTTP 403)")
        assert "rejected-token-123" not in err
        assert recorder.requests[0][2]["authorization"] == "Bearer rejected-token-123"
        assert len(recorder.requests) == 1


# Past 16 MiB, standard input is read no further than the profile takes (it asks then).
OVER = 16 << 20


@pytest.mark.parametrize(
    "given",
    [bytes(OVER + 1), b"some text, not an image. " * (OVER // 20), png_bytes() + bytes(OVER)],
    ids=["zeros", "text", "png-head"],
)
def test_standard_input_is_read_no_further_than_the_profile_takes(
    tmp_path: Path, hermetic_env: dict[str, str], given: bytes
) -> None:
    """`upload - < /dev/zero` spooled without end (a full disk) before."""
    sizes = "max_image_size = 1000\nmax_video_size = 1000\n"
    with canned_server(Canned(500)) as (url, recorder):
        config = imgur_config(tmp_path, url, extra=sizes)
        done = run_cli(["--config", str(config), "upload", "-"], hermetic_env, stdin=given)
        refused(done, recorder, 2, "-: standard input is larger than the 1000 bytes")
