"""``uploader limits``: what each rate-limit bucket has left and when it resets."""

from __future__ import annotations

import json

import click

from uploader.cli import State, options
from uploader.commands import limits as core


@click.command()
@click.argument("name", required=False)
@click.option("--refresh", is_flag=True, help="Ask the provider first (one cheap call).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per bucket and line.")
@click.pass_context
def limits(ctx: click.Context, name: str | None, refresh: bool, as_json: bool) -> None:
    """What each rate-limit bucket has left and when it resets."""
    state: State = ctx.obj
    runtime = state.runtime()
    found = core.gather(options.config(ctx), name, runtime, refresh=refresh)
    now = runtime.clock()
    if as_json:
        for row in core.to_json(found, now):
            state.console.result(json.dumps(row))
    else:
        for line in core.render_text(found, now):
            state.console.result(line)
    errors = [item.error for item in found if item.error is not None]
    if errors and len(errors) == len(found):
        # Not one profile could be asked: the first one's error is the exit code.
        ctx.exit(int(errors[0].exit_code))
