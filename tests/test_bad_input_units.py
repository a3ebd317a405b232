"""Focused checks behind the bad-input catalogue (issue 11 section 5): faster than processes."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest

from uploader.auth.credentials import Credential, CredentialStore
from uploader.config.checks import check_url, focus_point, is_loopback
from uploader.config.example import write_example
from uploader.errors import AuthError, ConfigError, UsageError
from uploader.http.cache import Entry, EtagCache
from uploader.models import UploadResult
from uploader.output import render
from uploader.providers.gyazo_media import gyazo_id
from uploader.providers.imgur_media import imgur_id

IMGUR = "https://api.imgur.com"


def test_config_init_on_a_full_disk_is_exit_2_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    target = tmp_path / "cfg" / "config.toml"
    with pytest.raises(ConfigError) as info:
        write_example(target, force=False)
    assert "No space left on device" in info.value.message
    assert sorted(p.name for p in target.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("127.0.0.1", True),
        ("[::1]", True),
        ("::1", True),
        ("127.0.0.2", False),
        ("127.255.255.254", False),
        ("::ffff:127.0.0.1", False),
        ("localhost", False),
    ],
)
def test_loopback_is_exactly_what_the_readme_says(host: str, ok: bool) -> None:
    assert is_loopback(host) is ok


@pytest.mark.parametrize(
    "url",
    ["https://u:p@h.example", "https://u@h.example", "https://h.example/#f", "https://h .example"],
)
def test_urls_with_userinfo_fragments_or_spaces_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        check_url(url, "f, line 1", "providers.x.base_url")


@pytest.mark.parametrize(
    ("text", "canonical"), [("0.5,-0.25", "0.5,-0.25"), ("1,-1", "1,-1"), (" 0 , 0 ", "0,0")]
)
def test_focus_accepts_points_in_range(text: str, canonical: str) -> None:
    assert focus_point(text) == canonical


@pytest.mark.parametrize("text", ["abc", "2,2", "0.5", "1,1,1", "inf,0", "nan,nan", "-1.01,0", ""])
def test_focus_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="is not X,Y"):
        focus_point(text)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("AbC123", "AbC123"),
        ("https://i.imgur.com/AbC123.png", "AbC123"),
        ("https://imgur.com/AbC123", "AbC123"),
        ("http://127.0.0.1:8/imgur/AbC123.png", "AbC123"),
    ],
)
def test_imgur_ids_and_links(ref: str, expected: str) -> None:
    assert imgur_id(ref, "http://127.0.0.1:8/imgur") == expected


@pytest.mark.parametrize(
    "ref",
    [
        "",
        " ",
        "abc?x=1#f",
        "ab-c",
        "a/b",
        "https://other.example/abc",
        "https://evilimgur.com/abc",
        "javascript://imgur.com/abc",
        "abc%2F",
    ],
)
def test_bad_imgur_ids_and_links(ref: str) -> None:
    with pytest.raises(UsageError):
        imgur_id(ref, IMGUR)


@pytest.mark.parametrize("ref", ["", "a b", "x?y", "https://gyazo.com.evil.example/abc"])
def test_bad_gyazo_ids_and_links(ref: str) -> None:
    with pytest.raises(UsageError):
        gyazo_id(ref, "https://api.gyazo.com")


def test_gyazo_links_on_its_hosts() -> None:
    assert (
        gyazo_id(
            "https://i.gyazo.com/8980c52421e452ac3355ca3e5cfe7a0c.png", "https://api.gyazo.com"
        )
        == "8980c52421e452ac3355ca3e5cfe7a0c"
    )


@pytest.mark.parametrize("secret", ["a\nb", "tök", "a b", "a\x00b", "a\tb"])
def test_a_credential_that_cannot_be_sent_names_its_source(secret: str) -> None:
    with pytest.raises(AuthError) as info:
        Credential("Bearer", secret, "environment variable UPLOADER_X_ACCESS_TOKEN")
    assert "environment variable UPLOADER_X_ACCESS_TOKEN" in info.value.message
    assert secret not in info.value.message


NAMES = ["a\nb.png", "a\rb.png", "a\u2028b.png", "a\x85b.png", "a\x1bb.png", "a\x0bb.png"]


@pytest.mark.parametrize("fmt", ["url", "markdown", "html", "bbcode", "json"])
@pytest.mark.parametrize("name", NAMES)
def test_every_format_is_one_line_whatever_the_name_or_link(fmt: str, name: str) -> None:
    result = UploadResult(name, "im", "uploaded", id="x", url=f"https://i.example/{name}")
    line = render(result, fmt)
    assert line is not None
    assert len(line.splitlines()) == 1
    assert not any(c in line for c in "\n\r\x0b\x1b\x85\u2028")


def test_html_escapes_and_markdown_flattens_a_line_break() -> None:
    result = UploadResult("two\nlines.png", "im", "uploaded", id="x", url="https://i.example/x")
    assert render(result, "html") == '<img src="https://i.example/x" alt="two&#10;lines.png">'
    assert render(result, "markdown") == "![two lines.png](https://i.example/x)"
    odd = UploadResult("a.png", "im", "uploaded", id="x", url="https://i.example/a b)[c]")
    assert render(odd, "markdown") == "![a.png](https://i.example/a%20b%29[c])"
    assert render(odd, "bbcode") == "[img]https://i.example/a%20b)%5Bc%5D[/img]"


def test_a_cache_directory_that_is_a_file_warns_once_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file")
    cache = EtagCache(blocker / "etags")
    with caplog.at_level(logging.WARNING, logger="uploader"):
        assert cache.load("k") is None
        cache.store("k", Entry('"e"', 200, {}, b"{}"))
        cache.invalidate("https://x.example/a", "id")
    assert [
        r.getMessage() for r in caplog.records if "ETag cache cannot be used" in r.getMessage()
    ] != []
    assert len(caplog.records) == 1


@pytest.mark.parametrize(
    ("text", "warned"),
    [
        ("", True),
        ("# uploader creden", True),
        ("[profiles]\nx = 1\n", True),
        ("# uploader credentials: secrets, keep private (mode 0600)\n", False),
        ('[profiles.x]\naccess_token = "t"\n', False),
    ],
)
def test_stored_credentials_dropped_are_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, warned: bool
) -> None:
    path = tmp_path / "credentials.toml"
    path.write_text(text)
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="uploader"):
        CredentialStore(path).get("x")
    assert bool([r for r in caplog.records if str(path) in r.getMessage()]) is warned


def test_every_key_the_starter_config_documents_loads_in_its_kind(tmp_path: Path) -> None:
    """config.example.toml with every commented-out setting switched on still loads, and
    each profile gets a provider and a credential (the documented keys crash nothing)."""
    import re

    from uploader.config.example import example_config
    from uploader.config.settings import parse_config

    text = re.sub(r"(?m)^# (\[providers\.|[A-Za-z_-]+ = )", r"\1", example_config())
    text = text.replace("your-client-id", "cid123").replace("pass show imgur", "echo tok")
    config = parse_config(text, tmp_path / "c.toml")
    imgur = config.profile("imgur")
    assert imgur.option("redirect_port") == 53682
    assert imgur.option("access_token_command") == "echo tok"
    assert {p.name for p in config.profiles} == {"imgur", "gyazo", "social", "sandbox", "myhost"}
    custom = config.profile("myhost")  # a usable custom profile: its host is RequestURL's
    assert custom.base_url == "https://img.example.org"
    assert custom.option("max_file_size") == 104857600


def test_a_password_in_gyazo_referer_url_is_refused(tmp_path: Path) -> None:
    from uploader.config.settings import parse_config

    text = '[providers.g]\nkind = "gyazo"\nreferer_url = "https://me:hunter2@site.example/"\n'
    with pytest.raises(ConfigError) as info:
        parse_config(text, tmp_path / "c.toml")
    assert "line 3: key 'providers.g.referer_url' has a user name" in info.value.message
    assert "hunter2" not in info.value.message
