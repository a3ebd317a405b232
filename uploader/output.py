"""Every byte written for the user: result formats on stdout, messages on stderr.

Machine-readable output (``url``, ``json``) never mixes with messages: messages,
warnings and progress go to stderr, results to stdout, one line per file in input order.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from uploader.errors import OutputClosedError, UploaderError
from uploader.models import UploadResult


def render(result: UploadResult, fmt: str, *, title: str | None = None) -> str | None:
    """One line for one result in ``fmt``; None when a text format has nothing to show."""
    if fmt == "json":
        return json.dumps(result_record(result), ensure_ascii=False, sort_keys=False)
    if result.url is None:
        return None
    url = result.url
    alt = title or result.path.rsplit("/", 1)[-1]
    if fmt == "url":
        return url
    if fmt == "markdown":
        safe_alt = alt.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
        return f"![{safe_alt}]({url})"
    if fmt == "html":
        import html  # start-up: the hotkey's format is url; --version loads this module

        return f'<img src="{html.escape(url)}" alt="{html.escape(alt)}">'
    if fmt == "bbcode":
        return f"[img]{url}[/img]"
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
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.quiet = quiet
        self.verbose = verbose

    def result(self, line: str) -> None:
        try:
            self.out.write(line + "\n")
            self.out.flush()
        except BrokenPipeError as exc:
            raise OutputClosedError from exc

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


def one_line(text: str) -> str:
    return " ".join(text.split())


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
