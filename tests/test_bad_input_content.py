"""The bad-input catalogue, issue 11 section 5: content checks that read too little, file
names that would break "one line per file" in any output format, text options that are
not UTF-8; through the real `uploader` process (index: test_bad_input.py)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.badinput import check_error, imgur_config, refused, upload_nothing_sent
from tests.support.canned import Canned, canned_server
from tests.support.e2e import posts, run_cli, sandbox_process, write_all_kinds, write_config
from tests.support.images import WHOLE, png_bytes, write_png

WHOLE_PNG = png_bytes(seed=5)


def _ihdr(png: bytes, *, width: int = 8, height: int = 8) -> bytes:
    """``png`` with its IHDR saying ``width`` x ``height``, checksum recomputed."""
    chunk = b"IHDR" + width.to_bytes(4, "big") + height.to_bytes(4, "big") + png[24:29]
    return png[:12] + chunk + zlib.crc32(chunk).to_bytes(4, "big") + png[33:]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_process() as base:
        yield base


def test_standard_input_cut_short_is_refused(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    upload_nothing_sent(
        tmp_path, hermetic_env, "-", 2, "-: not a complete PNG file", stdin=WHOLE_PNG[:-12]
    )


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("text.bmp", b"BM is how this note starts, and it goes on as text." * 3, "not an image"),
        ("cut.png", WHOLE_PNG[:-20], "not a complete PNG file (truncated: no IEND"),
        ("cut.jpg", WHOLE["jpg"][:-2] + bytes(40), "not a complete JPG file (truncated"),
        ("cut.gif", WHOLE["gif"][:-1], "not a complete GIF file (truncated: no GIF trailer"),
        ("cut.webp", WHOLE["webp"][:-3], "not a complete WEBP file (truncated: its RIFF"),
        ("cut.mp4", WHOLE["mp4"][:-4], "not a complete MP4 file (truncated: a box ends"),
        ("cut.bmp", WHOLE["bmp"][:30], "not a complete BMP file (truncated"),
        ("cut.webm", WHOLE["webm"][:-2], "not a complete WEBM file (truncated"),
        ("text.png", b"\x89PNG\r\n\x1a\n" + b"plain text, no chunks" * 4, "no IHDR chunk"),
        # The hostile re-audit: a forged PNG header (bad checksum, 0 pixels wide).
        ("crc.png", WHOLE_PNG[:29] + b"\0\0\0\0" + WHOLE_PNG[33:], "IHDR chunk is damaged"),
        ("zero.png", _ihdr(WHOLE_PNG, width=0), "0 pixels wide or high"),
        ("flat.png", _ihdr(WHOLE_PNG, height=0), "0 pixels wide or high"),
    ],
)
def test_content_that_is_not_a_whole_file_is_refused(
    tmp_path: Path, hermetic_env: dict[str, str], name: str, data: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(data)
    upload_nothing_sent(tmp_path, hermetic_env, str(tmp_path / name), 2, message)


NAMES = [
    "two\nlines.png",
    "carriage\rreturn.png",
    "sep\u2028arator.png",
    "tab\there.png",
    "esc\x1b[31mred.png",  # a terminal escape
    "bidi\u202egnp.png",  # reverses what follows on the line
    "bad\udcffutf.png",  # the byte 0xFF: a name that is not UTF-8
]
RAW = ("\x1b", "\u202e", "\ufffd\ufffd")


@pytest.mark.parametrize("fmt", ["url", "markdown", "html", "bbcode", "json"])
def test_every_format_prints_one_line_per_file_whatever_the_name(
    tmp_path: Path, hermetic_env: dict[str, str], sandbox: str, fmt: str
) -> None:
    paths = [str(write_png(tmp_path / name, seed=i)) for i, name in enumerate(NAMES)]
    config = write_config(tmp_path / "c.toml", sandbox)
    done = run_cli(["--config", str(config), "upload", "-f", fmt, *paths], hermetic_env)
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    lines = done.stdout.decode("utf-8").splitlines()  # valid UTF-8, whatever the names
    assert len(lines) == len(NAMES), lines
    assert all(line.strip() and not any(c in line for c in RAW) for line in lines)
    if fmt == "json":
        assert [json.loads(line)["path"] for line in lines] == paths
    sent = [r["file_name"] for r in posts(sandbox, "/3/image")[-len(NAMES) :]]
    assert "bad\ufffdutf.png" in sent  # what a request can carry (-j: in any order)


@pytest.mark.parametrize("option", ["--title", "--description", "--status"])
def test_text_options_that_are_not_utf8_are_refused_before_sending(
    tmp_path: Path, hermetic_env: dict[str, str], option: str
) -> None:
    image = write_png(tmp_path / "a.png")
    with canned_server(Canned(500)) as (url, recorder):
        config = imgur_config(tmp_path, url)
        done = run_cli(
            ["--config", str(config), "upload", option, "caf\udce9", str(image)], hermetic_env
        )
        refused(done, recorder, 2, f"Invalid value for '{option}': 'caf\\xe9' is not UTF-8")


@pytest.mark.parametrize("how", [["info"], ["info", "--json"], ["list", "-p", "gz"]])
def test_text_a_server_sends_back_is_printed_one_line_per_item(
    tmp_path: Path, hermetic_env: dict[str, str], sandbox: str, how: list[str]
) -> None:
    """A title holding a line break, a terminal escape and a bidi override (the sandbox
    stores what it was sent, as a hostile server would answer) stays on its line."""
    env = {**hermetic_env, "UPLOADER_GZ_ACCESS_TOKEN": "t"}
    config = str(write_all_kinds(tmp_path / "all.toml", sandbox))
    profile = "gz" if "gz" in how else "im"
    image = str(write_png(tmp_path / "a.png", seed=len(how)))
    title = "T\x1b[31mred\nsecond line\u202eX\u2028Y"
    up = run_cli(
        ["--config", config, "upload", "-p", profile, "-f", "json", "--title", title, image], env
    )
    assert up.returncode == 0, up.stderr
    media = json.loads(up.stdout)["id"]
    args = how if "list" in how else [*how, "-p", profile, media]
    done = run_cli(["--config", config, *args], env)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert not any(c in out for c in ("\x1b", "\u202e", "\u2028", "\r"))
    (line,) = [x for x in out.splitlines() if "red" in x]
    if "--json" in how:
        assert json.loads(line)["title"] == title
    else:
        assert "T [31mred second line X Y" in line


HOSTILE_ERROR = json.dumps(
    {"data": {"error": "bad \x1b]0;title\x07 \x1b[2J\nsecond\u202e"}, "success": False}
).encode()


@pytest.mark.parametrize("command", [["upload"], ["info", "abc"], ["delete", "abc"]])
def test_a_servers_error_text_reaches_stderr_on_one_line_without_escapes(
    tmp_path: Path, hermetic_env: dict[str, str], command: list[str]
) -> None:
    args = [*command, str(write_png(tmp_path / "a.png"))] if command == ["upload"] else command
    with canned_server(Canned(400, HOSTILE_ERROR)) as (url, recorder):
        done = run_cli(["--config", str(imgur_config(tmp_path, url)), *args], hermetic_env)
        assert len(recorder.requests) == 1
    err = check_error(done, 5, "bad ]0;title [2J second (HTTP 400)")
    assert not any(c in err for c in ("\x1b", "\x07", "\u202e"))
