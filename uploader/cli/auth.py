"""``uploader auth login|set-token|status|logout``: sign in, see who is, sign out."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import click

from uploader.cli import State, options
from uploader.commands import auth as core
from uploader.commands import login as login_core
from uploader.config.settings import LONGEST
from uploader.errors import UsageError
from uploader.output import Console


@click.group("auth")
def auth_group() -> None:
    """Sign in, see who is signed in, sign out."""


def _asker(console: Console) -> Callable[[str, bool], str]:
    """How a sign-in flow asks the user for a PIN, a code or a secret."""

    def ask(label: str, secret: bool) -> str:
        if secret and not sys.stdin.isatty():
            # Piped in: nothing to hide from a screen, and getpass would warn about it.
            console.message(f"{label}: (reading a line from standard input)")
            line = sys.stdin.readline()
            if not line:
                raise UsageError(
                    f"standard input ended before the {label} was given",
                    hint="pipe it in, or run the command in a terminal",
                )
            return line.strip()
        return str(click.prompt(label, hide_input=secret, err=True))

    return ask


@auth_group.command("login")
@click.argument("name", required=False)
@click.option("--no-browser", is_flag=True, help="Print the address instead of opening it.")
@click.option("--paste", is_flag=True, help="Paste a PIN or code instead of a redirect.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1, max=LONGEST),
    callback=options.finite,
    default=300,
    show_default=True,
    help="Seconds to wait for the browser's redirect.",
)
@click.option("--team", help="Gyazo: team to sign in to ('*' for any).")
@click.pass_context
def auth_login(
    ctx: click.Context,
    name: str | None,
    no_browser: bool,
    paste: bool,
    timeout: float,
    team: str | None,
) -> None:
    """Sign the profile NAME (default: the default profile) in (OAuth); tokens go to the
    credential store."""
    state: State = ctx.obj
    env = dict(os.environ)
    display = login_core.has_display(env)
    # Without a display (an SSH session) a redirect to 127.0.0.1 would never reach us:
    # paste the PIN or code instead, unless --no-browser says the user will open it here.
    paste = paste or (not no_browser and not display)
    message = login_core.login(
        options.config(ctx),
        name,
        env,
        say=state.console.message,
        ask=_asker(state.console),
        open_browser=not no_browser and display,
        paste=paste,
        timeout=timeout,
        team=team,
    )
    state.console.notice(message)


@auth_group.command("set-token")
@click.argument("name")
@click.option(
    "--secret",
    "secret_name",
    metavar="SECRET",
    help="Store the custom profile's {secret:SECRET} instead of an access token.",
)
@click.pass_context
def auth_set_token(ctx: click.Context, name: str, secret_name: str | None) -> None:
    """Store a personal access token for NAME (read from standard input or a prompt)."""
    label = f"secret {secret_name}" if secret_name else "access token"
    if sys.stdin.isatty():
        token = str(click.prompt(label, hide_input=True, err=True))
    else:
        token = sys.stdin.readline(1 << 16)  # bounded: `< /dev/zero` must not run forever
    config, env = options.config(ctx), dict(os.environ)
    if secret_name:
        lines = core.set_secret(config, name, secret_name, token.strip(), env)
    else:
        lines = core.set_token(config, name, token.strip(), env)
    for line in lines:
        ctx.obj.console.notice(line)


@auth_group.command("status")
@click.argument("name", required=False)
@click.option("--offline", is_flag=True, help="Do not verify the tokens with the provider.")
@click.pass_context
def auth_status(ctx: click.Context, name: str | None, offline: bool) -> None:
    """Who is signed in where, token age and expiry, verified with a cheap call."""
    config = options.config(ctx)
    env = dict(os.environ)
    verify = None if offline else (lambda profile: login_core.verify(config, profile, env))
    for line in core.status(config, name, env, verify):
        ctx.obj.console.result(line)


@auth_group.command("logout")
@click.argument("name", required=False)
@click.pass_context
def auth_logout(ctx: click.Context, name: str | None) -> None:
    """Revoke the token of the profile NAME (default: the default profile) where the
    provider supports it and remove the local secrets."""
    config = options.config(ctx)
    env = dict(os.environ)
    for line in core.logout(
        config, name, env, lambda profile, token: login_core.revoke(config, profile, token, env)
    ):
        ctx.obj.console.notice(line)
