"""The [serve] table: which browser origins `uploader serve` lets in."""

from __future__ import annotations

from pathlib import Path

import pytest

from uploader.config.serve import DEFAULT_ORIGINS, ServeSettings
from uploader.config.settings import parse_config
from uploader.errors import ConfigError


def test_the_default_lets_in_obsidian_and_vs_code_only() -> None:
    settings = parse_config("", Path("c.toml")).serve
    assert settings.allowed_origins == DEFAULT_ORIGINS
    for origin in ("app://obsidian.md", "vscode-webview://1a2b3c", "vscode-file://vscode-app"):
        assert settings.origin_allowed(origin), origin
    for origin in (
        "https://evil.example",
        "null",
        "app://obsidian.md.evil.example",
        "vscode-webview://",  # a scheme alone is no web view
        "http://localhost:36677",
        "vscode-file://vscode-app.evil",
    ):
        assert not settings.origin_allowed(origin), origin


def test_the_file_replaces_the_list() -> None:
    text = '[serve]\nallowed_origins = ["https://notes.example"]\n'
    settings = parse_config(text, Path("c.toml")).serve
    assert settings == ServeSettings(("https://notes.example",))
    assert settings.origin_allowed("https://notes.example")
    assert not settings.origin_allowed("app://obsidian.md")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('[serve]\nallowed_origins = ["*"]\n', "line 2: key 'serve.allowed_origins' must not"),
        ('[serve]\nallowed_origins = ["null"]\n', "must not let in every page"),
        ('[serve]\nallowed_origins = "app://obsidian.md"\n', "must be a list of origins"),
        ("[serve]\nallowed_origins = [1]\n", "must be a list of origins"),
        ("[serve]\nport = 1\n", "line 2: key 'serve.port' is not a known setting"),
        ('serve = "yes"\n', "key 'serve' must be a table"),
    ],
)
def test_bad_values_name_the_line_and_key(text: str, said: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("c.toml"))
    assert said in info.value.message


@pytest.mark.parametrize(
    ("entry", "said", "hint"),
    [
        # A web scheme alone admits every page of the web, as '*' would.
        ("https://", "must not let in every page", "any https web page"),
        ("http://", "must not let in every page", "any http web page"),
        ("HTTPS://", "must not let in every page", "any HTTPS web page"),
        # Entries no Origin header can equal: the editor meant would be refused silently.
        ("https://notes.example/", "'https://notes.example/' is not an origin", "'https://"),
        ("https://notes.example/app", "is not an origin (scheme://host[:port]: no path", "'h"),
        ("https://notes.example?x=1", "is not an origin", "browsers send 'https://notes.ex"),
        ("App://Obsidian.md", "'App://Obsidian.md' is not an origin", "send 'app://obsidian.md'"),
        ("VSCODE-webview://", "is not an origin scheme", "write 'vscode-webview://'"),
        ("obsidian.md", "'obsidian.md' is not an origin (scheme://host[:port]", "app://obsidian"),
        ("https://:8443", "'https://:8443' is not an origin (it names no host)", "e.g."),
        ("https://me@notes.example", "is not an origin", 'e.g. "app://obsidian.md"'),
    ],
)
def test_entries_that_are_no_origin_are_refused(entry: str, said: str, hint: str) -> None:
    text = f'[serve]\nallowed_origins = ["app://obsidian.md", "{entry}"]\n'
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("c.toml"))
    assert info.value.message.startswith("c.toml, line 2: key 'serve.allowed_origins' ")
    assert said in info.value.message
    assert info.value.hint is not None
    assert hint in info.value.hint


@pytest.mark.parametrize(
    "entry",
    ["https://notes.example", "https://notes.example:8443", "http://[::1]:8080", "tauri://"],
)
def test_real_origins_and_app_schemes_are_taken(entry: str) -> None:
    settings = parse_config(f'[serve]\nallowed_origins = ["{entry}"]\n', Path("c.toml")).serve
    assert settings.allowed_origins == (entry,)
