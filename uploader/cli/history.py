"""``uploader history``: what was uploaded, from the local journal; ``--clear`` forgets."""

from __future__ import annotations

import json
import sys

import click

from uploader.cli import State
from uploader.commands import history as core
from uploader.errors import UsageError
from uploader.history.store import STATUSES, History


def _since(ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    state: State = ctx.ensure_object(State)
    try:
        return core.parse_since(value, state.runtime().clock())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _terminal(stream: object) -> bool:
    """Whether ``stream`` is a terminal (a person reads it, or answers on it)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):
        return False


@click.command()
@click.argument("ref", required=False, metavar="[PATH|SHA256]")
@click.option("--profile", metavar="NAME", help="Only this profile's uploads.")
@click.option(
    "--status",
    type=click.Choice(sorted(STATUSES)),
    help="Only rows in this state.",
)
@click.option(
    "--since",
    metavar="WHEN",
    callback=_since,
    help="Only since then: 2026-11-30, 2026-11-30T14:05, or a duration ago (45m, 2h, 3d).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    help=f"At most N rows, newest first (0: all; default: all, {core.DEFAULT_TTY_LIMIT} in a"
    " table on a terminal).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per row and line.")
@click.option("--clear", is_flag=True, help="Forget the rows (of --profile, else all).")
@click.option("--yes", is_flag=True, help="With --clear: do not ask (needed without a terminal).")
@click.pass_context
def history(
    ctx: click.Context,
    ref: str | None,
    profile: str | None,
    status: str | None,
    since: float | None,
    limit: int | None,
    as_json: bool,
    clear: bool,
    yes: bool,
) -> None:
    """What was uploaded, newest first, from the local upload history.

    REF: a path (resolved against the current directory) or a sha256 prefix of at least
    6 hex digits."""
    state: State = ctx.obj
    runtime = state.runtime()
    recording = state.config().defaults.history
    store = core.reader(runtime)
    if clear:
        if ref is not None or status is not None or since is not None or limit is not None:
            raise UsageError(
                "--clear takes only --profile",
                hint="forget one profile's rows with `uploader history --clear --profile NAME`",
            )
        _clear(state, store, profile, yes=yes)
        return
    if not recording:
        state.console.notice(
            "recording is off ([defaults] history = false): these are the uploads"
            " earlier runs recorded"
        )
    table = not as_json
    on_terminal = _terminal(state.console.out)
    if limit is None and table and on_terminal:
        limit = core.DEFAULT_TTY_LIMIT
    wanted = None if not limit else limit + 1  # one more: is there more than shown?
    found = store.entries(profile=profile, status=status, since=since, match=ref, limit=wanted)
    store.close()
    more = limit is not None and limit > 0 and len(found) > limit
    found = found[:limit] if limit else found
    if as_json:
        for entry in found:
            state.console.result(json.dumps(core.record(entry)))
    else:
        for line in core.table(found):
            state.console.result(line)
    if on_terminal and not found and store.enabled:
        state.console.notice(
            "no upload recorded matches" if _filtered(ctx) else "no upload recorded"
        )
    if more and on_terminal:
        state.console.notice(f"the {limit} newest shown; --limit 0 shows all")


def _filtered(ctx: click.Context) -> bool:
    return any(ctx.params.get(name) is not None for name in ("ref", "profile", "status", "since"))


def _clear(state: State, store: History, profile: str | None, *, yes: bool) -> None:
    if not yes:
        if not _terminal(sys.stdin):
            raise UsageError(
                "--clear forgets the delete handles of anonymous uploads too: not without --yes"
                " when there is no terminal to ask on",
                hint="add --yes: `uploader history --clear --yes`",
            )
        rows = store.entries(profile=profile)
        handles = sum(1 for e in rows if e.delete_id and e.status != "deleted")
        whose = f" of profile {profile}" if profile is not None else ""
        question = f"forget {len(rows)} recorded upload(s){whose}"
        if handles:
            question += f", {handles} with a delete handle kept nowhere else"
        if not click.confirm(question + "?", default=False, err=True):
            state.console.notice("nothing forgotten")
            return
    count = store.clear(profile)
    failed = not store.enabled
    store.close()
    if failed:
        raise UsageError(f"the upload history {store.path} was not cleared (see the warning above)")
    kept_aside = (
        0 if profile is not None or store.path is None else core.forget_kept_aside(store.path)
    )
    told = f"forgot {count} recorded upload(s)" + (f" of profile {profile}" if profile else "")
    if kept_aside:
        told += f" and {kept_aside} unreadable history file(s) kept aside"
    state.console.notice(told)
