"""``uploader sandbox``: the offline provider emulator in the foreground."""

from __future__ import annotations

import click

from uploader.cli import State
from uploader.commands.sandbox import serve


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address.")
@click.option("--port", default=0, show_default=True, help="Port (0 picks a free one).")
@click.option("--knobs", "knobs_file", metavar="FILE", help="TOML file of sandbox knobs.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KNOB=VALUE",
    # How commands.sandbox.parse_knobs reads VALUE (and SET_HINT says on a bad one).
    help="Set one knob (repeatable), e.g. --set imgur_post_limit=40. VALUE is a TOML value "
    "(40, 0.5, true, \"text\", ['a', 'b']) or a bare word; lists also take a,b.",
)
@click.pass_obj
def sandbox(
    state: State, host: str, port: int, knobs_file: str | None, settings: tuple[str, ...]
) -> None:
    """Run the offline provider emulator; the first line printed is its base URL."""
    serve(host, port, knobs_file, settings, ready=state.console.result)
