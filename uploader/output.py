"""Every byte written for the user: result formats on stdout, messages on stderr.

Machine-readable output (``url``, ``json``) never mixes with messages: messages,
warnings and progress go to stderr, results to stdout, one line per file in input order.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TextIO, cast

from uploader.errors import OutputClosedError, UploaderError
from uploader.models import UploadResult
from uploader.streams import Messages, write_line

# Characters that end a line for some reader (str.splitlines, editors, JSON-lines tools)
# or are invisible controls: never printed raw inside a result line.
BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
# Bidirectional overrides and isolates: they reorder what follows on the line.
BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(char: str) -> bool:
    code = ord(char)
    return (
        code < 0x20 or 0x7F <= code < 0xA0 or char in BREAKS or char in BIDI or _is_surrogate(char)
    )


def _is_surrogate(char: str) -> bool:
    """A lone surrogate: a file name's bytes that are not UTF-8 (or a server's broken
    JSON escape); no UTF-8 stream can carry it, so it is never written raw."""
    return "\ud800" <= char <= "\udfff"


def flat(text: str) -> str:
    """``text`` (a server's title, a file name) on one line, with no control character
    that could break the line or reach the terminal: each becomes a space."""
    return "".join(" " if _is_control(c) else c for c in text)


def json_line(record: object) -> str:
    """``record`` as one JSON line: json escapes the C0 controls; the other line breaks
    (for str.splitlines), bidi overrides and the surrogates of bytes that are not UTF-8
    (no UTF-8 stream can carry them) get JSON's own escape, which loads() reads back."""
    text = json.dumps(record, ensure_ascii=False, sort_keys=False)
    return "".join(f"\\u{ord(c):04x}" if _is_control(c) else c for c in text)


def _safe_url(url: str, also: str = "") -> str:
    """``url`` with whitespace, controls and the characters in ``also`` percent-encoded
    (a link never needs them raw; a server that sends them must not break the line)."""
    return "".join(
        "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
        if _is_control(c) or c.isspace() or c in also
        else c
        for c in url
    )


def render(result: UploadResult, fmt: str, *, title: str | None = None) -> str | None:
    """One line for one result in ``fmt``; None when a text format has nothing to show.

    Whatever the file name, title or link holds, the result is one line: line breaks and
    control characters are escaped (HTML), replaced by a space (Markdown alt text, where
    a break reads as a space anyway) or percent-encoded (links).
    """
    if fmt == "json":
        return json_line(result_record(result))
    if result.url is None:
        return None
    alt = title or result.path.rsplit("/", 1)[-1]
    if fmt == "url":
        return _safe_url(result.url)
    if fmt == "markdown":
        safe_alt = flat(alt).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
        return f"![{safe_alt}]({_safe_url(result.url, '()<>')})"
    if fmt == "html":
        import html  # start-up: the hotkey's format is url; --version loads this module

        def attribute(text: str) -> str:
            return "".join(
                ("&#xFFFD;" if _is_surrogate(c) else f"&#{ord(c)};") if _is_control(c) else c
                for c in html.escape(text, quote=True)
            )

        return f'<img src="{attribute(_safe_url(result.url))}" alt="{attribute(alt)}">'
    if fmt == "bbcode":
        return f"[img]{_safe_url(result.url, '[]')}[/img]"
    raise ValueError(f"unknown format {fmt!r}")


def result_record(result: UploadResult) -> dict[str, object]:
    """The JSON object documented in the CLI contract (plus provider extras)."""
    record: dict[str, object] = {
        "path": result.path,
        "provider": result.provider,
        "status": result.status,
        "id": result.id or None,  # an empty id or deletehash is no handle: null
        "url": result.url or None,
        "delete_id": result.delete_id or None,
        "error": result.error,
        "ambiguous": result.ambiguous,
    }
    if result.stripped:
        record["stripped"] = True  # metadata was removed from the bytes sent
    for key, value in result.extra:
        record.setdefault(key, value)
    return record


class Console:
    """Where messages go; ``quiet`` drops notices, never errors."""

    def __init__(
        self,
        out: TextIO | None = None,
        err: TextIO | None = None,
        *,
        quiet: bool = False,
        verbose: int = 0,
    ) -> None:
        # sys.stdout is None when the process started with descriptor 1 closed (`>&-`).
        self.out: TextIO | None = out or sys.stdout
        self.err: TextIO = cast(TextIO, Messages(err or sys.stderr or _devnull()))
        self.quiet = quiet
        self.verbose = verbose

    def result(self, line: str) -> None:
        """One line of results on stdout, flushed; :class:`OutputClosedError` when it cannot
        be written (a closed pipe or descriptor, a full disk: any OSError)."""
        if self.out is None:
            raise OutputClosedError("the descriptor is closed")
        try:
            write_line(self.out, line)
        except (OSError, ValueError) as exc:  # ValueError: the file object was closed
            raise OutputClosedError(
                _reason(exc), reader_gone=isinstance(exc, BrokenPipeError)
            ) from exc

    def notice(self, message: str) -> None:
        if not self.quiet:
            self.err.write(message + "\n")
            self.err.flush()

    def message(self, text: str) -> None:
        """A message the user must see even with --quiet (e.g. a sign-in address)."""
        self.err.write(text + "\n")
        self.err.flush()

    def error(self, exc: UploaderError, *, prefix: str = "") -> None:
        self.err.write(f"error: {prefix}{one_line(exc.message)}\n")
        if exc.hint:
            self.err.write(f"hint: {one_line(exc.hint)}\n")
        self.err.flush()


class BatchReport:
    """What ``upload`` prints as results come in (design section 4).

    One stdout line per file in input order; in a batch a failed file leaves its line
    empty (JSON prints its record), so line N always belongs to PATH N. Each failure is one
    ``error: PATH: ...`` line on stderr; files not sent because of an earlier refusal get one
    summary line instead of one each (``finish``). ``copied`` collects the result lines for
    ``--copy``.
    """

    def __init__(self, console: Console, fmt: str, *, title: str | None, batch: bool) -> None:
        self.console = console
        self.fmt = fmt
        self.title = title
        self.batch = batch
        self.copied: list[str] = []
        self.skipped: list[str] = []

    def emit(self, result: UploadResult, error: UploaderError | None) -> None:
        line = render(result, self.fmt, title=self.title)
        if result.status == "skipped":
            self.skipped.append(result.error or "not sent")
        elif error is not None:
            label = "standard input" if result.path == "-" else result.path
            prefix = "" if error.message.startswith(result.path) else f"{label}: "
            self.console.error(error, prefix=prefix)
        elif result.ambiguous:
            self.console.notice(f"warning: {result.path}: {result.error}")
        if line is not None and (error is None or self.fmt == "json"):
            self.console.result(line)
            if error is None:
                self.copied.append(line)
        elif self.batch:
            self.console.result("")

    def finish(self) -> None:
        """The summary of the files not sent (also after Ctrl-C)."""
        if self.skipped:
            count = len(self.skipped)
            files = "file was" if count == 1 else f"{count} files were"
            self.console.err.write(f"error: {files} {self.skipped[0]}\n")
            self.console.err.flush()


def _reason(exc: Exception) -> str:
    """``broken pipe``, ``no space left on device``: the OS's words, in lower case."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return (text or type(exc).__name__).lower()


def _devnull() -> TextIO:
    """Where messages go when the process started with stderr closed."""
    import os  # start-up: only a process started without stderr needs it

    return open(os.devnull, "w", encoding="utf-8")  # lives as long as the run


def one_line(text: str) -> str:
    """A message on one line for stderr: line breaks and control characters (a server's
    text may hold terminal escapes) become spaces. The surrogates of a file name's bytes
    that are not UTF-8 stay: stderr shows them as ``\\xff``, the name as it is."""
    shown = "".join(" " if _is_control(c) and not _is_surrogate(c) else c for c in text)
    return " ".join(shown.split())


CLIPBOARD_TOOLS = (
    ("wl-copy",),
    ("xclip", "-selection", "clipboard"),
    ("xsel", "--clipboard", "--input"),
    ("pbcopy",),
)


def copy_to_clipboard(text: str, env: dict[str, str] | None = None) -> str | None:
    """Put ``text`` on the clipboard with the first tool found; the tool's name, or None."""
    # start-up: only --copy needs them; every command, --version included, loads this module
    import shutil
    import subprocess

    for command in CLIPBOARD_TOOLS:
        if command[0] == "wl-copy" and not (env or {}).get("WAYLAND_DISPLAY"):
            continue
        path = shutil.which(command[0])
        if path is None:
            continue
        try:
            subprocess.run(
                [path, *command[1:]],
                input=text.encode(),
                check=True,
                timeout=5,
                capture_output=True,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        return command[0]
    return None


def notify_desktop(title: str, body: str, env: Mapping[str, str]) -> str | None:
    """A desktop notification (``--notify``), sent detached: the tool runs in its own
    session with no pipes and is never waited for, so it cannot delay the run or change
    its exit code. The tool's name, or None when there is none (or it cannot start)."""
    # start-up: only --notify needs them
    import shutil
    import subprocess

    body = one_line(body)[:300]
    title = one_line(title)[:80]
    commands: list[list[str]] = []
    if shutil.which("notify-send", path=env.get("PATH")):
        commands.append(["notify-send", "--app-name=uploader", title, body])
    if shutil.which("osascript", path=env.get("PATH")):
        # AppleScript string literals: a backslash and a double quote are escaped.
        def quoted(text: str) -> str:
            return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

        script = f"display notification {quoted(body)} with title {quoted(title)}"
        commands.append(["osascript", "-e", script])
    for argv in commands:
        path = shutil.which(argv[0], path=env.get("PATH"))
        if path is None:
            continue
        try:
            subprocess.Popen(
                [path, *argv[1:]],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=dict(env),
            )
        except OSError:
            continue
        return argv[0]
    return None
