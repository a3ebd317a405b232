"""The bad-input catalogue, issue 11 section 5 (ids and links checked before any request,
for every command that takes one and every provider) and section 7 (every link or id the
tool printed is accepted back); through the real `uploader` process (index:
test_bad_input.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.badinput import check_error, refused
from tests.support.canned import Canned, canned_server
from tests.support.e2e import run_cli, sandbox_process, write_all_kinds
from tests.support.images import write_png


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["info", ""], "'' is not an Imgur id"),
        (["info", "a/b"], "'a/b' is not an Imgur id"),
        (["delete", "abc?x=1#f"], "'abc?x=1#f' is not an Imgur id"),
        (["delete", "abc def"], "'abc def' is not an Imgur id"),
        (["delete", "https://other.example/abc"], "is a link to other.example, not to this"),
        (["info", "https://imgur.com.evil.example/abc"], "is a link to imgur.com.evil.example"),
        (["delete", "ftp://i.imgur.com/abc.png"], "is not an Imgur id or deletehash"),
        (["-p", "ma", "delete", "https://elsewhere.example/api/v1/media/9"], "is a link to"),
        (["-p", "ma", "info", "a?b"], "'a?b' is not a Mastodon media id"),
        (["-p", "gz", "info", "../x"], "'../x' is not a Gyazo image id"),
        # The hostile re-audit: links that are no URL, links with userinfo or a bad port.
        (["info", "http://[::1/abc"], "'http://[::1/abc' is not an Imgur id"),
        (["-p", "gz", "delete", "http://[::1/abc"], "is not a Gyazo image id"),
        (["-p", "ma", "info", "http://[::1/abc"], "is not a Mastodon media id"),
        (["delete", "https://i.imgur.com:99999/abc"], "is not an Imgur id or deletehash"),
        (["delete", "https://me:pw@i.imgur.com/abc.png"], "has a user name or password"),
        (["-p", "gz", "info", "https://me@i.gyazo.com/abc.png"], "has a user name or password"),
        # Dot segments: httpx would turn /api/v1/media/.. into /api/v1 (another endpoint).
        (["-p", "ma", "info", "."], "'.' is not a Mastodon media id"),
        (["-p", "ma", "delete", ".."], "'..' is not a Mastodon media id"),
        (["-p", "gz", "delete", ".."], "'..' is not a Gyazo image id"),
        # Control characters and bytes that are not UTF-8 are in no id.
        (["-p", "ma", "delete", "ab\x07"], "'ab\\x07' is not a Mastodon media id"),
        (["-p", "ma", "info", "ab\udcff"], "is not a Mastodon media id"),
        (["info", "ab\udcff"], "is not an Imgur id"),
        # A link naming another kind of object is not read as an image id in it.
        (["delete", "https://imgur.com/a/abc"], "names another kind of object"),
        (["info", "https://imgur.com/gallery/abc"], "names another kind of object"),
        (["-p", "gz", "delete", "https://gyazo.com/collections/abc"], "names another kind"),
    ],
)
def test_ids_and_links_are_checked_before_any_request(
    tmp_path: Path, hermetic_env: dict[str, str], command: list[str], message: str
) -> None:
    with canned_server(Canned(500)) as (url, recorder):
        config = write_all_kinds(tmp_path / "all.toml", url)
        args = command if command[0] == "-p" else ["-p", "im", *command]
        env = {**hermetic_env, "UPLOADER_MA_ACCESS_TOKEN": "t", "UPLOADER_GZ_ACCESS_TOKEN": "t"}
        done = run_cli(["--config", str(config), args[2], *args[:2], *args[3:]], env)
        refused(done, recorder, 2, message)


@pytest.mark.parametrize(
    ("ref", "path"),
    [
        ("post-1a2b.png", "/mastodon/api/v1/media/post-1a2b.png"),  # a real server's id
        ("id;1", "/mastodon/api/v1/media/id%3B1"),  # quoted in the path
        ("01HMEDIA", "/mastodon/api/v1/media/01HMEDIA"),
    ],
)
def test_mastodon_ids_are_opaque_and_quoted(
    tmp_path: Path, hermetic_env: dict[str, str], ref: str, path: str
) -> None:
    with canned_server(Canned(404, b'{"error": "Record not found"}')) as (url, recorder):
        config = write_all_kinds(tmp_path / "all.toml", url)
        env = {**hermetic_env, "UPLOADER_MA_ACCESS_TOKEN": "tok"}
        done = run_cli(["--config", str(config), "info", "-p", "ma", ref], env)
        assert done.returncode == 5, done.stderr
        assert [r[1] for r in recorder.requests][-1] == path


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_process() as base:
        yield base


def _printed(base: str, tmp_path: Path, env: dict[str, str], profile: str, *flags: str) -> Any:
    config = write_all_kinds(tmp_path / "all.toml", base)
    image = write_png(tmp_path / "shot.png", seed=len(flags) + len(profile))
    done = run_cli(
        ["--config", str(config), "upload", "-p", profile, "-f", "json", *flags, str(image)], env
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


LINK_KEYS = ("id", "url", "delete_id", "status_url", "permalink_url", "preview_url", "page_url")


@pytest.mark.parametrize(
    ("profile", "flags"),
    [("im", ()), ("gz", ()), ("ma", ()), ("ma", ("--post",))],
    ids=["imgur", "gyazo", "mastodon", "mastodon-post"],
)
def test_every_link_and_id_printed_is_accepted_back(
    tmp_path: Path, hermetic_env: dict[str, str], sandbox: str, profile: str, flags: tuple[str, ...]
) -> None:
    """Section 7: `info` takes back every id and link `upload` printed, and names the
    same upload; `delete` with the first of them removes it."""
    env = {**hermetic_env, "UPLOADER_MA_ACCESS_TOKEN": "t", "UPLOADER_GZ_ACCESS_TOKEN": "t"}
    record = _printed(sandbox, tmp_path, env, profile, *flags)
    refs = [str(record[k]) for k in LINK_KEYS if record.get(k)]
    assert len(refs) >= 3, record
    config = str(tmp_path / "all.toml")
    if "--post" in flags:
        # Attached media cannot be looked up on its own (Mastodon answers 404): the post's
        # link stands for it, and the media's 404 says so.
        media = run_cli(["--config", config, "info", "-p", profile, str(record["id"])], env)
        check_error(media, 5, "Mastodon has no such media")
        assert "give the post's link (`status_url`)" in media.stderr.decode()
        refs = [str(record["status_url"])]
    for ref in refs:
        done = run_cli(["--config", config, "info", "-p", profile, "--json", ref], env)
        assert done.returncode == 0, (ref, done.stderr)
        assert json.loads(done.stdout)["id"] == record["id"], ref
    gone = run_cli(["--config", config, "delete", "-p", profile, refs[-1]], env)
    assert gone.returncode == 0, gone.stderr
    assert b"Traceback" not in gone.stderr
