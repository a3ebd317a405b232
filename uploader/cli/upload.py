"""``uploader upload``: the hotkey path (the only command module it imports)."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any, TextIO

import click

from uploader import output
from uploader.cli import State, options
from uploader.commands import upload as core
from uploader.commands.pictures import Reencode
from uploader.commands.runtime import retry_policy
from uploader.errors import ExitCode, OutputError, UploaderError
from uploader.models import Selection, UploadOptions, UploadResult
from uploader.output import one_line


@click.command()
@click.argument("paths", nargs=-1, metavar="PATH...")
@click.option("-r", "--recursive", is_flag=True, help="Folders: also take the files in subfolders.")
@click.option(
    "--include",
    multiple=True,
    metavar="GLOB",
    help="Folders: take only files whose path inside the folder matches (repeatable; "
    "'*.png' matches at any depth, '**' spans folders).",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Folders: leave out files (or subfolders) that match (repeatable; wins over --include).",
)
@click.option("--hidden", is_flag=True, help="Folders: also take names that start with '.'.")
@options.shared("provider", help="Profile to upload to.")
@click.option("--title", callback=options.text_option, help="Title sent with each file.")
@click.option(
    "--description", callback=options.text_option, help="Description sent with each file."
)
@click.option(
    "--album",
    metavar="ID",
    callback=options.album_option,
    help="Album id (or deletehash when anonymous).",
)
@options.shared("fmt")
@options.shared("on_limit")
@options.shared("max_wait")
@click.option(
    "--access-policy",
    type=click.Choice(["anyone", "only_me"]),
    help="Gyazo: who may see the image.",
)
@click.option(
    "--focus",
    metavar="X,Y",
    callback=options.focus_option,
    help="Mastodon: focal point, each -1.0..1.0.",
)
@click.option("--post", is_flag=True, help="Mastodon: also publish a status with the media.")
@click.option(
    "--status",
    "status_text",
    metavar="TEXT",
    callback=options.text_option,
    help="Mastodon: the status text.",
)
@click.option(
    "--visibility",
    type=click.Choice(["public", "unlisted", "private", "direct"]),
    help="Mastodon: visibility of the status.",
)
@click.option("--copy", is_flag=True, help="Also put the output on the clipboard.")
@click.option(
    "--retry-ambiguous/--no-retry-ambiguous",
    default=None,
    help="Re-send an upload whose answer was lost (it may then exist twice).",
)
@click.option(
    "--skip-existing/--no-skip-existing",
    default=None,
    envvar="UPLOADER_SKIP_EXISTING",
    cls=options.SharedOption,
    show_envvar=True,
    help="Do not send a file the history shows already uploaded to this account: print "
    "its stored link (status existing).",
)
@click.option(
    "-j",
    "--jobs",
    type=int,
    callback=options.checked("jobs"),
    default=None,
    envvar="UPLOADER_JOBS",
    cls=options.SharedOption,
    show_envvar=True,
    help="Files sent at once in a batch (default from config: 4).",
)
@click.option(
    "--history/--no-history",
    "keep_history",
    default=None,
    help="Record the upload in the local history (default from config: on).",
)
@click.option(
    "--keep-metadata/--strip-metadata",
    default=None,
    envvar="UPLOADER_KEEP_METADATA",
    cls=options.SharedOption,
    show_envvar=True,
    help="Send the file byte for byte, EXIF, GPS and XMP included (default from config: "
    "JPEG, PNG and WebP are sent without their metadata, losslessly).",
)
@click.option(
    "--max-dimension",
    type=click.IntRange(min=1, max=100_000),
    metavar="PX",
    help="Re-encode pictures larger than PX on their longest side down to it (Pillow).",
)
@click.option(
    "--convert",
    type=click.Choice(["jpeg", "png", "webp"], case_sensitive=False),
    help="Re-encode pictures as this type (Pillow; animations only as webp or png).",
)
@click.option(
    "--quality",
    type=click.IntRange(min=1, max=100),
    metavar="Q",
    help="Re-encode JPEG and WebP pictures at this quality, 1..100 (default 85, 80).",
)
@click.option(
    "--fit",
    is_flag=True,
    help="Re-encode a picture over the provider's size limit until it fits "
    "(lower quality, then smaller), instead of refusing it.",
)
@click.option(
    "--clipboard",
    is_flag=True,
    help="Upload the image on the clipboard (wl-paste, xclip, xsel, pngpaste or osascript).",
)
@click.option(
    "--notify",
    is_flag=True,
    help="Also show the link, or the error, as a desktop notification (notify-send, osascript).",
)
@click.pass_context
def upload(
    ctx: click.Context,
    /,
    paths: tuple[str, ...],
    clipboard: bool,
    notify: bool,
    **params: Any,
) -> None:
    """Upload PATH... (files, folders, '-' for standard input); one result per file, in
    order. A folder gives the images and videos directly in it (-r: in subfolders too),
    sorted by path; other files in it are skipped and counted."""
    if not paths and not clipboard:
        raise click.MissingParameter(ctx=ctx, param=ctx.command.params[0])
    state: State = ctx.obj
    said = _Said(state.console) if notify else None
    try:
        if clipboard:
            from uploader.imaging.clipboard import spooled_clipboard  # start-up: only here

            with spooled_clipboard(state.runtime().env) as image:
                _send(ctx, (*paths, str(image)), said, str(image), **params)
        else:
            _send(ctx, paths, said, None, **params)
    except UploaderError as exc:
        if said is not None:
            said.send("uploader: upload failed", exc.message)
        raise
    except click.exceptions.Exit as done:
        if said is not None:
            said.tell(failed=done.exit_code != 0)
        raise
    if said is not None:
        said.tell(failed=False)


class _Said:
    """What --notify tells once the output is written: the links and the errors."""

    def __init__(self, console: output.Console) -> None:
        self.console = console
        self.links: list[str] = []
        self.errors: list[str] = []

    def emit(self, result: UploadResult, error: UploaderError | None) -> None:
        if error is not None:
            message = one_line(error.message)
            prefix = "" if message.startswith(result.path) else f"{result.path}: "
            self.errors.append(prefix + message)
        elif result.url:
            self.links.append(result.url)

    def tell(self, *, failed: bool) -> None:
        if self.errors:
            title = "uploader: some files failed" if self.links else "uploader: upload failed"
            body = "; ".join([*self.errors[:3], *self.links[:3]])
        elif self.links:
            title, body = "uploader: uploaded", " ".join(self.links[:5])
        else:
            title = "uploader: upload failed" if failed else "uploader: nothing uploaded"
            body = ""
        self.send(title, body)

    def send(self, title: str, body: str) -> None:
        if output.notify_desktop(title, body, os.environ) is None:
            self.console.notice(
                "warning: --notify: no notification tool found (notify-send, osascript)"
            )


def _send(
    ctx: click.Context,
    paths: tuple[str, ...],
    said: _Said | None,
    clipboard: str | None,
    *,
    recursive: bool,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    hidden: bool,
    provider: str | None,
    title: str | None,
    description: str | None,
    album: str | None,
    fmt: str,
    on_limit: str,
    max_wait: float,
    access_policy: str | None,
    focus: str | None,
    post: bool,
    status_text: str | None,
    visibility: str | None,
    copy: bool,
    retry_ambiguous: bool | None,
    skip_existing: bool | None,
    jobs: int | None,
    keep_history: bool | None,
    keep_metadata: bool | None,
    max_dimension: int | None,
    convert: str | None,
    quality: int | None,
    fit: bool,
) -> None:
    state: State = ctx.obj
    config = options.config(ctx)
    request = core.UploadRequest(
        paths=paths,
        provider=options.profile_name(ctx),
        options=UploadOptions(
            title=title,
            description=description,
            album=album,
            access_policy=access_policy,
            focus=focus,
            post=post or status_text is not None,
            status=status_text,
            visibility=visibility,
        ),
        on_limit=on_limit,
        max_wait=max_wait,
        retry=retry_policy(config.defaults, retry_ambiguous=retry_ambiguous),
        history=config.defaults.history if keep_history is None else keep_history,
        skip_existing=(config.defaults.skip_existing if skip_existing is None else skip_existing),
        jobs=config.defaults.jobs if jobs is None else jobs,
        selection=Selection(recursive=recursive, include=include, exclude=exclude, hidden=hidden),
        strip_metadata=(
            config.defaults.strip_metadata if keep_metadata is None else not keep_metadata
        ),
        reencode=(
            Reencode(max_dimension, convert, quality, fit)
            if max_dimension or convert or quality or fit
            else None
        ),
        shown={} if clipboard is None else {clipboard: CLIPBOARD},
    )
    console = state.console
    if console.out is None:
        # Started with stdout closed (`>&-`): every link would be lost. Send nothing.
        raise OutputError(
            "standard output is closed: nothing was sent (the links would be lost)",
            hint="run the upload with standard output open (a terminal, a file or a pipe)",
        )
    # A folder makes a batch however many files it holds: line N is the Nth file.
    batch = len(paths) > 1 or (paths[0] != "-" and os.path.isdir(os.path.expanduser(paths[0])))
    report = output.BatchReport(console, fmt, title=title, batch=batch)
    runtime = state.runtime()
    display, out = None, console.out
    if batch and not console.quiet and _is_terminal(console.err):
        # start-up: only a batch with a terminal on stderr loads the display
        from uploader.cli.progress import Progress

        # A terminal that cannot redraw a line (an editor's shell): the summary only.
        display = Progress(console.err, live=os.environ.get("TERM") not in DUMB_TERMINALS)
        runtime = replace(runtime, notify=display.notify(runtime.notify))
        console.err = display.stream  # other lines go above the display
        _divert(display.err, display.stream)  # -v's lines too
        if _is_terminal(console.out):  # the results too, when they share the terminal
            console.out = display.above(console.out)
    reported: list[UploadResult] = []  # for the summary

    sink: core.Emit = report.emit if said is None else _tee(report.emit, said.emit)

    def emit(result: UploadResult, error: UploaderError | None) -> None:
        reported.append(result)
        sink(result, error)

    try:
        if display is None:
            outcome = core.upload(config, request, runtime, sink)
        else:
            outcome = core.upload(config, request, runtime, emit, watch=display.watch)
    finally:
        report.finish()
        if display is not None:
            console.err, console.out = display.err, out
            _divert(display.stream, display.err)
            display.close(reported)
    if copy and report.copied:
        tool = output.copy_to_clipboard("\n".join(report.copied), dict(os.environ))
        if tool is None:
            console.notice(
                "warning: --copy: no clipboard tool found (wl-copy, xclip, xsel, pbcopy)"
            )
    if outcome.exit_code != ExitCode.OK:
        ctx.exit(int(outcome.exit_code))


CLIPBOARD = "clipboard"
DUMB_TERMINALS = ("dumb", "unknown")


def _tee(first: core.Emit, then: core.Emit) -> core.Emit:
    """``first`` (the line written), then ``then`` (what --notify keeps)."""

    def both(result: UploadResult, error: UploaderError | None) -> None:
        first(result, error)
        then(result, error)

    return both


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):  # a closed or odd stream: no display
        return False


def _divert(old: TextIO, new: TextIO) -> None:
    """Our loggers' stream handlers (``-v``) that write to ``old`` write to ``new``."""
    for handler in logging.getLogger("uploader").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is old:
            handler.setStream(new)
