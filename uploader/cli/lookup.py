"""``uploader info``, ``list`` and ``delete``: lookups through the ETag cache."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from uploader import output
from uploader.cli import State, options
from uploader.commands import lookup as core
from uploader.commands.runtime import Runtime, limit_policy

if TYPE_CHECKING:
    from uploader.providers.base import Provider

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def lookup_options(func: F) -> F:
    """The options every lookup takes. :func:`_ask` reads their values from the context,
    so a command accepts them as ``**_lookup`` and never passes them on itself."""
    for option in reversed(
        [
            options.shared("provider", help="Profile to ask."),
            click.option("--no-cache", is_flag=True, help="Bypass the ETag cache."),
            options.shared("on_limit"),
            options.shared("max_wait"),
        ]
    ):
        func = option(func)
    return func


def _ask(
    ctx: click.Context,
    action: Callable[[Provider], T],
    *,
    subject: str | None = None,
) -> T:
    """Run ``action`` with the chosen profile's provider (``-p``, read with its source by
    :func:`options.profile_name`), under the limit policy and cache choice of the lookup
    options (as click resolved them: flag, environment, file, default)."""
    state: State = ctx.obj
    params = ctx.params
    runtime: Runtime = dataclasses.replace(state.runtime(), use_cache=not params["no_cache"])
    return core.with_provider(
        options.config(ctx),
        options.profile_name(ctx),
        runtime,
        limit_policy(params["on_limit"], params["max_wait"]),
        action,
        subject=subject,
    )


@click.command()
@click.argument("media_id", metavar="ID")
@lookup_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
def info(ctx: click.Context, /, media_id: str, as_json: bool, **_lookup: Any) -> None:
    """Metadata of one upload (revalidated with its ETag: a 304 costs no body)."""
    console = ctx.obj.console
    found = _ask(ctx, lambda p: p.info(media_id), subject=media_id)
    if as_json:
        console.result(output.json_line(core.info_record(found)))
    else:
        for line in core.info_lines(found):
            console.result(line)


@click.command("list")
@lookup_options
@click.option(
    "--page",
    type=click.IntRange(min=0),
    default=None,
    help="Page (the provider's own numbering; default its first).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per upload and line.")
@click.pass_context
def list_cmd(ctx: click.Context, /, page: int | None, as_json: bool, **_lookup: Any) -> None:
    """The account's recent uploads, where the provider keeps such a list."""
    console = ctx.obj.console
    items, paging = _ask(ctx, lambda p: core.list_page(p, -1 if page is None else page))
    for item in items:
        if as_json:
            console.result(output.json_line(core.info_record(item)))
        else:
            console.result(core.list_line(item))
    if paging:
        console.notice(paging)


@click.command()
@click.argument("ref", metavar="ID|URL")
@lookup_options
@click.pass_context
def delete(ctx: click.Context, /, ref: str, **_lookup: Any) -> None:
    """Delete an upload: Imgur deletehash or id, Gyazo image id, Mastodon media id, a
    link printed by upload, or a local file (or sha256 prefix) the history knows."""
    from uploader.commands import delete as core_delete
    from uploader.commands.history import reader

    state: State = ctx.obj
    profile = options.config(ctx).profile(options.profile_name(ctx)).name
    history = reader(state.runtime())  # also when recording is off: earlier rows stay
    try:
        rows = core_delete.from_history(history, ref, profile)
        if rows is None:
            state.console.notice(_ask(ctx, lambda p: p.delete(ref), subject=ref))
            core_delete.forget_remote(history, ref, profile)
            return
        for entry in rows:
            state.console.notice(
                _ask(
                    ctx,
                    functools.partial(core_delete.delete_row, history, entry),
                    subject=entry.delete_id or entry.remote_id,
                )
            )
    finally:
        history.close()
