"""``uploader serve``: the PicGo-compatible local server for editors, in the foreground."""

from __future__ import annotations

import click

from uploader.cli import State, options
from uploader.commands.runtime import retry_policy


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    callback=options.host_option,
    help="Address to listen on; anything but loopback needs --secret.",
)
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=36677,
    show_default=True,
    help="Port (PicGo's; 0 picks a free one). A taken port is an error, never another port.",
)
@click.option(
    "--secret",
    envvar="UPLOADER_SERVE_SECRET",
    cls=options.SharedOption,
    show_envvar=True,
    callback=options.secret_option,
    help="Require this secret (Authorization: Bearer, X-PicGo-Secret or ?secret=).",
)
@options.shared("provider", help="Profile to upload to (?picbed=NAME picks one per request).")
@options.shared("on_limit")
@options.shared("max_wait")
@click.option(
    "--skip-existing/--no-skip-existing",
    default=None,
    envvar="UPLOADER_SKIP_EXISTING",
    cls=options.SharedOption,
    show_envvar=True,
    help="Answer a file the history shows uploaded with its stored link, without sending it.",
)
@click.option(
    "--keep-metadata/--strip-metadata",
    default=None,
    envvar="UPLOADER_KEEP_METADATA",
    cls=options.SharedOption,
    show_envvar=True,
    help="Send files byte for byte, metadata included (default from config: stripped).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    secret: str | None,
    provider: str | None,
    on_limit: str,
    max_wait: float,
    skip_existing: bool | None,
    keep_metadata: bool | None,
) -> None:
    """Run a PicGo-compatible upload server for Typora, Obsidian and VS Code; the first
    line printed is its address. SIGTERM stops it (exit 0), Ctrl-C too (exit 130)."""
    from uploader.commands.serve import ServeOptions
    from uploader.commands.serve import serve as run

    state: State = ctx.obj
    config = options.config(ctx)
    defaults = config.defaults
    settings = ServeOptions(
        host=host,
        port=port,
        secret=secret or None,
        provider=options.profile_name(ctx),
        on_limit=on_limit,
        max_wait=max_wait,
        retry=retry_policy(defaults),
        history=defaults.history,
        skip_existing=defaults.skip_existing if skip_existing is None else skip_existing,
        strip_metadata=defaults.strip_metadata if keep_metadata is None else not keep_metadata,
    )
    run(config, settings, state.runtime(), state.console.result)
