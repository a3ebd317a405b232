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
    metavar="URL",
    help="The Redis to copy into: redis://HOST:PORT/DB (rediss:// for TLS); "
    "default: the configured [state] backend.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be copied; write nothing.")
@click.pass_obj
def migrate(state: State, to: str | None, dry_run: bool) -> None:
    """Copy every local rate-limit figure into Redis (lowest remaining wins)."""
    from uploader.commands.state import migrate as core
    from uploader.errors import UploaderError

    try:
        config = state.config()
    except UploaderError:
        if to is None:
            raise
        config = None  # --to is all it needs; the config only names the profiles
    core(to, state.runtime(), config=config, dry_run=dry_run, emit=state.console.result)
