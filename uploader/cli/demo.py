"""``uploader demo``: one offline upload through the real pipeline.

Its own module rather than sandbox's: it shares none of ``uploader sandbox``'s options, and
the lazy group loads one module per command.
"""

from __future__ import annotations

import click

from uploader.cli import State
from uploader.commands.demo import run_demo
from uploader.errors import ExitCode


@click.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Upload a bundled image to the built-in sandbox, offline, and show what happened."""
    state: State = ctx.obj
    report = run_demo(state.runtime())
    out = state.console
    out.result(f"uploaded: {report.result.url}")
    out.result(f"id: {report.result.id}  deletehash: {report.result.delete_id}")
    intact = report.stored_sha256 == report.local_sha256
    match = "matches" if intact else "DIFFERS FROM"
    out.result(f"sha256 stored by the sandbox: {report.stored_sha256} ({match} the file)")
    out.result("rate limits read from the response headers:")
    for line in report.buckets:
        out.result(f"  {line}")
    if not intact:
        ctx.exit(int(ExitCode.PROVIDER))
