"""The clipboard's image, in process, with fake tools on PATH (small shell scripts): the
type each tool is asked for, and a tool that hangs, fails or gives too much is bounded
and named in a clear error (exit 2), the temp file removed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.support.images import gif_bytes, jpeg_bytes, png_bytes, webp_bytes
from uploader.errors import ExitCode, InputFileError
from uploader.imaging import clipboard
from uploader.imaging.clipboard import spooled_clipboard

SYSTEM_PATH = "/usr/bin:/bin"


def _tool(bin_dir: Path, name: str, script: str) -> dict[str, str]:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return {"PATH": f"{bin_dir}:{SYSTEM_PATH}"}


def _source(tmp_path: Path, data: bytes, name: str = "source.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture(autouse=True)
def _private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Temp folders in a private place: other tests running in parallel make theirs in
    the shared one, and ``_spools`` must see only this test's."""
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))


def _spools() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("uploader-clipboard-*")}


def _refused(env: dict[str, str]) -> InputFileError:
    before = _spools()
    with pytest.raises(InputFileError) as caught, spooled_clipboard(env):
        pass
    assert caught.value.exit_code == ExitCode.USAGE
    assert _spools() == before  # the private temp dir is gone, on error too
    return caught.value


def test_wl_paste_asks_for_webp_when_only_webp_is_offered(tmp_path: Path) -> None:
    data = webp_bytes(9, 7)
    source = _source(tmp_path, data)
    env = _tool(
        tmp_path / "bin",
        "wl-paste",
        'if [ "$1" = "--list-types" ]; then printf "text/uri-list\\nimage/webp\\n"; exit 0; fi\n'
        f'[ "$3" = "image/webp" ] && exec cat "{source}"\nexit 1\n',
    )
    with spooled_clipboard({**env, "WAYLAND_DISPLAY": "w"}) as image:
        assert (image.name, image.read_bytes()) == ("clipboard.webp", data)
        assert image.stat().st_mode & 0o777 == 0o600
        assert image.parent.stat().st_mode & 0o777 == 0o700
    assert not image.exists()


def test_xclip_asks_for_gif_among_its_targets(tmp_path: Path) -> None:
    data = gif_bytes(5, 5)
    source = _source(tmp_path, data)
    env = _tool(
        tmp_path / "bin",
        "xclip",
        'case "$*" in\n  *TARGETS*) printf "TARGETS\\nSTRING\\nimage/gif\\n" ;;\n'
        f'  *image/gif*) cat "{source}" ;;\n  *) exit 1 ;;\nesac\n',
    )
    with spooled_clipboard({**env, "DISPLAY": ":0"}) as image:
        assert (image.name, image.read_bytes()) == ("clipboard.gif", data)


def test_osascript_asks_for_the_jpeg_class_clipboard_info_lists(tmp_path: Path) -> None:
    data = jpeg_bytes(8, 8)
    asked = tmp_path / "asked"
    env = _tool(
        tmp_path / "bin",
        "osascript",
        f'echo "$2" >> "{asked}"\n'
        'case "$2" in\n'
        "  'clipboard info') echo '{{JPEG picture, 900}, {«class utf8», 4}}' ;;\n"
        f"  *JPEG*) echo '«data JPEG{data.hex().upper()}»' ;;\n"
        "  *) exit 1 ;;\nesac\n",
    )
    with spooled_clipboard(env) as image:
        assert (image.name, image.read_bytes()) == ("clipboard.jpg", data)
    assert asked.read_text().splitlines() == ["clipboard info", "the clipboard as «class JPEG»"]


def test_osascript_with_text_only_is_no_image(tmp_path: Path) -> None:
    env = _tool(tmp_path / "bin", "osascript", "echo '{{«class utf8», 4}, {string, 4}}'\n")
    error = _refused(env)
    assert error.message == "the clipboard holds no image (asked osascript)"


def test_a_tool_that_hangs_is_cut_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clipboard, "TIMEOUT", 0.5)
    env = _tool(tmp_path / "bin", "wl-paste", "exec sleep 60\n")
    error = _refused({**env, "WAYLAND_DISPLAY": "w"})
    assert error.message == "wl-paste did not answer within 0.5 s"
    assert error.hint is not None
    assert "stuck" in error.hint


def test_a_tool_that_fails_is_named_with_what_it_said(tmp_path: Path) -> None:
    env = _tool(tmp_path / "bin", "xclip", 'echo "Error: Can\'t open display: :0" >&2\nexit 1\n')
    error = _refused({**env, "DISPLAY": ":0"})
    assert error.message == (
        "the clipboard holds no image, or it could not be read "
        "(xclip: Error: Can't open display: :0)"
    )
    assert error.hint == clipboard.NO_IMAGE_HINT


def test_a_tool_that_gives_too_much_is_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clipboard, "LARGEST", 4 << 20)
    env = _tool(tmp_path / "bin", "pngpaste", "exec cat /dev/zero\n")
    error = _refused(env)
    assert error.message == "the clipboard image is over 4 MiB (pngpaste)"


@pytest.mark.parametrize(
    "data",
    [b"\x00\x00\x00\x18ftypisom" + bytes(64), b"%PDF-1.7\n" + bytes(64), b"hello\n"],
    ids=["mp4", "pdf", "text"],
)
def test_what_is_not_an_image_is_refused(tmp_path: Path, data: bytes) -> None:
    source = _source(tmp_path, data)
    env = _tool(tmp_path / "bin", "xsel", f'cat "{source}"\n')
    error = _refused({**env, "DISPLAY": ":0"})
    assert error.message == "the clipboard holds no image (what xsel gave is not one)"


def test_pngpaste_png(tmp_path: Path) -> None:
    data = png_bytes(width=6, seed=5)
    source = _source(tmp_path, data)
    env = _tool(tmp_path / "bin", "pngpaste", f'[ "$1" = "-" ] && cat "{source}"\n')
    with spooled_clipboard(env) as image:
        assert image.read_bytes() == data
