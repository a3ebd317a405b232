"""The image on the clipboard, spooled to a private temp file (``--clipboard``, serve).

Tools, first found wins: Wayland ``wl-paste`` (when ``WAYLAND_DISPLAY`` is set), X11
``xclip`` then ``xsel`` (when ``DISPLAY`` is set), macOS ``pngpaste`` then ``osascript``.
``wl-paste`` and ``xclip`` list the types the clipboard offers and the best image type is
asked for (PNG first: a screenshot tool offers it losslessly); ``xsel`` cannot choose a
type, so what it gives must start like an image. The bytes go to a 0600 file in a 0700
directory, removed afterwards, like standard input's (``inspect.spooled_stdin``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from uploader.errors import InputFileError

# The image types asked for, best first; any other image/* type comes after them.
PREFERRED = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/avif")
TIMEOUT = 10.0  # seconds: a clipboard owner that does not answer must not hang a hotkey
LARGEST = 256 << 20  # a clipboard image larger than this is not one we send anywhere
NO_TOOL_HINT = (
    "install wl-clipboard (Wayland), xclip (X11) or pngpaste (macOS), "
    "or save the image to a file and upload that"
)
NO_IMAGE_HINT = "copy an image (not a file name or text) to the clipboard, then run it again"


def _run(argv: Sequence[str], out: int | None = None) -> bytes:
    """Run a clipboard tool: its stdout (or into ``out``); empty when it fails."""
    try:
        done = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out if out is not None else subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return b""
    if done.returncode != 0:
        return b""
    return done.stdout or b""


def pick_type(offered: Sequence[str]) -> str | None:
    """The image type to ask for among those the clipboard offers, or None."""
    types = [t.strip().split(";")[0] for t in offered]
    for wanted in PREFERRED:
        if wanted in types:
            return wanted
    return next((t for t in types if t.startswith("image/")), None)


def _plans(env: Mapping[str, str]) -> Iterator[tuple[str, list[str], list[str] | None]]:
    """(tool, the command that lists types or None, the command whose %s is the type)."""
    if env.get("WAYLAND_DISPLAY"):
        yield "wl-paste", ["wl-paste", "--list-types"], ["wl-paste", "--no-newline", "--type"]
    if env.get("DISPLAY"):
        clip = ["xclip", "-selection", "clipboard", "-o", "-t"]
        yield "xclip", [*clip, "TARGETS"], clip
        yield "xsel", ["xsel", "--clipboard", "--output"], None
    yield "pngpaste", ["pngpaste", "-"], None
    yield "osascript", ["osascript", "-e", "the clipboard as «class PNGf»"], None


def _grab(env: Mapping[str, str], target: Path) -> str | None:
    """Write the clipboard image to ``target``; the tool used, None when no tool exists.
    Raises InputFileError when a tool exists but the clipboard holds no image."""
    found = None
    for tool, first, fetch in _plans(env):
        path = shutil.which(tool, path=env.get("PATH"))
        if path is None:
            continue
        found = tool
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if fetch is not None:  # ask which types are offered, then the best image one
                offered = _run([path, *first[1:]]).decode("utf-8", "replace").splitlines()
                chosen = pick_type(offered)
                if chosen is None:
                    continue
                _run([path, *fetch[1:], chosen], out=fd)
            elif tool == "osascript":
                said = _run([path, *first[1:]]).decode("utf-8", "replace")
                match = re.search(r"«data PNGf([0-9A-Fa-f]+)»", said)
                if match:
                    os.write(fd, bytes.fromhex(match.group(1)))
            else:
                _run([path, *first[1:]], out=fd)
        finally:
            os.close(fd)
        if target.stat().st_size:
            return tool
    if found is None:
        return None
    raise InputFileError(f"the clipboard holds no image (asked {found})", hint=NO_IMAGE_HINT)


@contextmanager
def spooled_clipboard(env: Mapping[str, str]) -> Iterator[Path]:
    """The clipboard's image in a private temp file named ``clipboard.<ext>``, removed
    afterwards. InputFileError (exit 2) when no tool exists or it holds no image; the
    file's type is still judged by the caller's image checks (``inspect_path``)."""
    directory = Path(tempfile.mkdtemp(prefix="uploader-clipboard-"))
    try:
        raw = directory / "clipboard"
        tool = _grab(env, raw)
        if tool is None:
            raise InputFileError("no clipboard tool found", hint=NO_TOOL_HINT)
        size = raw.stat().st_size
        if size > LARGEST:
            raise InputFileError(f"the clipboard image is over {LARGEST >> 20} MiB")
        with raw.open("rb") as fh:
            head = fh.read(16)
        ext = _extension(head)
        if ext is None:
            raise InputFileError(
                f"the clipboard holds no image (what {tool} gave is not one)",
                hint=NO_IMAGE_HINT,
            )
        named = directory / f"clipboard.{ext}"
        raw.rename(named)
        yield named
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _extension(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        return "avif"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head.startswith(b"BM"):
        return "bmp"
    return None
