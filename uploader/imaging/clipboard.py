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
from uploader.imaging.inspect import EXTENSIONS, sniff
from uploader.streams import write_all

# The image types asked for, best first; any other image/* type comes after them.
PREFERRED = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/avif")
TIMEOUT = 10.0  # seconds: a clipboard owner that does not answer must not hang a hotkey
LARGEST = 256 << 20  # a clipboard image larger than this is not one we send anywhere
NO_TOOL_HINT = (
    "install wl-clipboard (Wayland), xclip (X11) or pngpaste (macOS), "
    "or save the image to a file and upload that"
)
NO_IMAGE_HINT = "copy an image (not a file name or text) to the clipboard, then run it again"


class _ToolFailed(Exception):
    """A clipboard tool that failed: its exit status and the first line it said."""


def _run(argv: Sequence[str], out: int | None = None) -> bytes:
    """Run a clipboard tool: its stdout (or written into ``out``), at most :data:`LARGEST`
    bytes within :data:`TIMEOUT` seconds. InputFileError when it does not answer in time
    or gives more; _ToolFailed when it cannot start or exits non-zero."""
    import selectors
    import time

    tool = os.path.basename(argv[0])
    try:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as exc:
        raise _ToolFailed(f"{tool}: {exc.strerror}") from None
    assert proc.stdout is not None
    assert proc.stderr is not None
    kept: list[bytes] = []
    said = b""
    copied = 0
    deadline = time.monotonic() + TIMEOUT
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            selector.register(proc.stderr, selectors.EVENT_READ)
            while selector.get_map():
                left = deadline - time.monotonic()
                ready = selector.select(left) if left > 0 else []
                if not ready:
                    raise InputFileError(
                        f"{tool} did not answer within {TIMEOUT:g} s",
                        hint="the program holding the clipboard may be stuck: "
                        "copy the image again, or save it to a file and upload that",
                    )
                for key, _ in ready:
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        selector.unregister(key.fileobj)
                    elif key.fileobj is proc.stderr:
                        said = (said + chunk)[:4096]
                    else:
                        copied += len(chunk)
                        if copied > LARGEST:
                            raise InputFileError(
                                f"the clipboard image is over {LARGEST >> 20} MiB ({tool})"
                            )
                        if out is None:
                            kept.append(chunk)
                        else:
                            write_all(out, chunk)
        code = proc.wait(max(0.0, deadline - time.monotonic()) + 1)
    except subprocess.TimeoutExpired:
        raise InputFileError(f"{tool} did not exit within {TIMEOUT:g} s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    if code != 0:
        lines = said.decode("utf-8", "replace").strip().splitlines()
        why = re.sub(r"\s+", " ", lines[0])[:200] if lines else f"exit status {code}"
        raise _ToolFailed(f"{tool}: {why}")
    return b"".join(kept)


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
    yield "osascript", ["osascript", "-e", "clipboard info"], None


# macOS clipboard classes, best first, with the name ``clipboard info`` may give instead.
OSA_CLASSES = (("PNGf", "PNG"), ("JPEG", "JPEG"), ("GIFf", "GIF"), ("TIFF", "TIFF"))


def _from_osascript(path: str, fd: int) -> None:
    """The best image class ``clipboard info`` lists, asked for and decoded into ``fd``."""
    info = _run([path, "-e", "clipboard info"]).decode("utf-8", "replace")
    for code, word in OSA_CLASSES:
        if f"«class {code}»" in info or f"{word} picture" in info:
            said = _run([path, "-e", f"the clipboard as «class {code}»"])
            data = f"«data {code}([0-9A-Fa-f]*)»".encode()
            match = re.search(data, said)
            if match and len(match.group(1)) % 2 == 0:
                write_all(fd, bytes.fromhex(match.group(1).decode()))
            return


def _grab(env: Mapping[str, str], target: Path) -> str | None:
    """Write the clipboard image to ``target``; the tool used, None when no tool exists.
    Raises InputFileError when a tool exists but the clipboard holds no image, or a tool
    hangs or gives too much."""
    found = None
    failed = None  # the last tool that failed, and what it said
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
                _from_osascript(path, fd)
            else:
                _run([path, *first[1:]], out=fd)
        except _ToolFailed as exc:
            failed = str(exc)
            continue
        except OSError as exc:  # the spool file: a full disk, a file size limit
            raise InputFileError(
                f"the clipboard image could not be saved to a temporary file "
                f"({(exc.strerror or type(exc).__name__).lower()}): nothing was sent",
                hint="make room in the temporary folder (TMPDIR) and copy the image again",
            ) from None
        finally:
            os.close(fd)
        if target.stat().st_size:
            return tool
    if found is None:
        return None
    if failed is not None:
        raise InputFileError(
            f"the clipboard holds no image, or it could not be read ({failed})",
            hint=NO_IMAGE_HINT,
        )
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
            head = fh.read(64)
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
    """The file name extension of an image by its first bytes (inspect's reading), None
    for anything else (text, a video, a PDF)."""
    mime = sniff(head)
    return EXTENSIONS.get(mime) if mime and mime.startswith("image/") else None
