"""``uploader state migrate``: the rate-limit state between backends (issue 14)."""

from __future__ import annotations

import click

from uploader.cli import State


@click.group("state")
def state_group() -> None:
    """The rate-limit state: copy the local figures into Redis."""


@state_group.command("migrate")
@click.option(
    "--to",
    "to",
    required=True,
    metavar="URL",
    help="The Redis to copy into: redis://HOST:PORT/DB (rediss:// for TLS).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be copied; write nothing.")
@click.pass_obj
def migrate(state: State, to: str, dry_run: bool) -> None:
    """Copy every local rate-limit figure into Redis (lowest remaining wins)."""
    from uploader.commands.state import migrate as core

    core(to, state.runtime(), dry_run=dry_run, emit=state.console.result)
