"""The command line. The only module that imports click; errors become exit codes here.

Commands parse options, load the effective config and hand plain values to the core
(``pipeline``, ``demo``, ``sandbox``, ``limits``); no HTTP, TOML or business logic here.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

import click

from uploader import __version__
from uploader.errors import ExitCode, InterruptedRunError, UploaderError, UsageError
from uploader.output import Console, OutputClosedError, one_line


class State:
    """What the group options leave for the commands."""

    def __init__(self, config_file: str | None, verbose: int, quiet: bool) -> None:
        self.config_file = config_file
        self.verbose = verbose
        self.console = Console(quiet=quiet, verbose=verbose)

    def config(self) -> Any:
        from uploader.config.settings import load_config

        return load_config(self.config_file, os.environ)

    def runtime(self) -> Any:
        from uploader.commands.runtime import Runtime

        return Runtime(env=dict(os.environ), notify=self.console.notice, debug=self.debug)

    def debug(self, message: str) -> None:
        if self.verbose:
            self.console.notice(message)


pass_state = click.make_pass_decorator(State)


def _finite(_ctx: click.Context, _param: click.Parameter, seconds: float | None) -> float | None:
    """FloatRange lets nan and inf through; a wait must be a real number of seconds."""
    if seconds is not None and not math.isfinite(seconds):
        raise click.BadParameter(f"{seconds} is not a number of seconds")
    return seconds


class _Commands(click.Group):
    """Ctrl-C becomes our own error before click sees it: click would print an empty line
    and hide where the interrupt came from."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise InterruptedRunError("interrupted") from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="uploader")
@click.option("--config", "config_file", metavar="FILE", help="Config file to use.")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv: debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only results and errors.")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, verbose: int, quiet: bool) -> None:
    """Upload images to Imgur, Gyazo and Mastodon without getting rate-limited."""
    ctx.obj = State(config_file, verbose, quiet)
    if verbose:
        # Only our own loggers: libraries' debug output (httpx logs whole URLs, httpcore
        # every socket event) is not reviewed for secrets, so it stays off.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("uploader: %(message)s"))
        ours = logging.getLogger("uploader")
        ours.addHandler(handler)
        ours.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("-p", "--provider", metavar="NAME", help="Profile to upload to.")
@click.option("--title", help="Title sent with each file.")
@click.option("--description", help="Description sent with each file.")
@click.option("--album", metavar="ID", help="Album id (or deletehash when anonymous).")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["url", "markdown", "html", "bbcode", "json"]),
    help="Output format (default from config: url).",
)
@click.option(
    "--on-limit",
    type=click.Choice(["wait", "fail"]),
    help="When a rate-limit bucket is spent: wait for it (up to --max-wait) or fail (exit 4).",
)
@click.option(
    "--max-wait",
    type=click.FloatRange(min=0),
    callback=_finite,
    metavar="SECONDS",
    help="Longest wait for a rate limit (default from config: 300).",
)
@click.option(
    "--access-policy",
    type=click.Choice(["anyone", "only_me"]),
    help="Gyazo: who may see the image.",
)
@click.option("--focus", metavar="X,Y", help="Mastodon: focal point, each -1.0..1.0.")
@click.option("--post", is_flag=True, help="Mastodon: also publish a status with the media.")
@click.option("--status", "status_text", metavar="TEXT", help="Mastodon: the status text.")
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
@pass_state
def upload(
    state: State,
    paths: tuple[str, ...],
    provider: str | None,
    title: str | None,
    description: str | None,
    album: str | None,
    fmt: str | None,
    on_limit: str | None,
    max_wait: float | None,
    access_policy: str | None,
    focus: str | None,
    post: bool,
    status_text: str | None,
    visibility: str | None,
    copy: bool,
    retry_ambiguous: bool | None,
) -> None:
    """Upload PATH... ('-' reads standard input); one result per file, in order."""
    from uploader import output
    from uploader.commands import upload as upload_command
    from uploader.commands.runtime import retry_policy
    from uploader.models import UploadOptions

    config = state.config()
    defaults = config.defaults
    fmt = fmt or defaults.format
    request = upload_command.UploadRequest(
        paths=paths,
        provider=provider,
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
        on_limit=on_limit or defaults.on_limit,
        max_wait=defaults.max_wait if max_wait is None else max_wait,
        retry=retry_policy(
            defaults,
            max_wait=defaults.max_wait if max_wait is None else max_wait,
            retry_ambiguous=retry_ambiguous,
        ),
    )
    console = state.console
    report = output.BatchReport(console, fmt, title=title, batch=len(paths) > 1)
    try:
        outcome = upload_command.upload(config, request, state.runtime(), report.emit)
    finally:
        report.finish()
    if copy and report.copied:
        tool = output.copy_to_clipboard("\n".join(report.copied), dict(os.environ))
        if tool is None:
            console.notice(
                "warning: --copy: no clipboard tool found (wl-copy, xclip, xsel, pbcopy)"
            )
    if outcome.exit_code != ExitCode.OK:
        raise SystemExit(int(outcome.exit_code))


@cli.command()
@pass_state
def demo(state: State) -> None:
    """Upload a bundled image to the built-in sandbox, offline, and show what happened."""
    from uploader.commands.demo import run_demo

    report = run_demo(state.runtime())
    out = state.console
    out.result(f"uploaded: {report.result.url}")
    out.result(f"id: {report.result.id}  deletehash: {report.result.delete_id}")
    match = "matches" if report.stored_sha256 == report.local_sha256 else "DIFFERS FROM"
    out.result(f"sha256 stored by the sandbox: {report.stored_sha256} ({match} the file)")
    out.result("rate limits read from the response headers:")
    for line in report.buckets:
        out.result(f"  {line}")
    if report.stored_sha256 != report.local_sha256:
        raise SystemExit(int(ExitCode.PROVIDER))


@cli.command()
@click.argument("name", required=False)
@click.option("--refresh", is_flag=True, help="Ask the provider first (one cheap call).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per bucket and line.")
@pass_state
def limits(state: State, name: str | None, refresh: bool, as_json: bool) -> None:
    """What each rate-limit bucket has left and when it resets."""
    import json

    from uploader.commands import limits as limits_view

    found = limits_view.gather(state.config(), name, state.runtime(), refresh=refresh)
    if as_json:
        for row in limits_view.to_json(found):
            state.console.result(json.dumps(row))
    else:
        for line in limits_view.render_text(found):
            state.console.result(line)
    errors = [item.error for item in found if item.error is not None]
    if errors and len(errors) == len(found):
        raise SystemExit(int(errors[0].exit_code))


def _lookup_policy(on_limit: str | None, max_wait: float | None, config: Any) -> Any:
    from uploader.ratelimit.limiter import LimitPolicy

    defaults = config.defaults
    return LimitPolicy(
        on_limit="fail" if (on_limit or defaults.on_limit) == "fail" else "wait",
        max_wait=defaults.max_wait if max_wait is None else max_wait,
    )


lookup_options = [
    click.option("-p", "--provider", metavar="NAME", help="Profile to ask."),
    click.option("--no-cache", is_flag=True, help="Bypass the ETag cache."),
    click.option(
        "--on-limit",
        type=click.Choice(["wait", "fail"]),
        help="When a rate-limit bucket is spent: wait or fail (exit 4).",
    ),
    click.option(
        "--max-wait",
        type=click.FloatRange(min=0),
        callback=_finite,
        metavar="SECONDS",
        help="Longest wait for a rate limit.",
    ),
]


def _with_lookup_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(lookup_options):
        func = option(func)
    return func


@cli.command()
@click.argument("media_id", metavar="ID")
@_with_lookup_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_state
def info(
    state: State,
    media_id: str,
    provider: str | None,
    no_cache: bool,
    on_limit: str | None,
    max_wait: float | None,
    as_json: bool,
) -> None:
    """Metadata of one upload (revalidated with its ETag: a 304 costs no body)."""
    import dataclasses
    import json

    from uploader.commands import lookup

    config = state.config()
    runtime = dataclasses.replace(state.runtime(), use_cache=not no_cache)
    found = lookup.with_provider(
        config,
        provider,
        runtime,
        _lookup_policy(on_limit, max_wait, config),
        lambda p: p.info(media_id),
        subject=media_id,
    )
    if as_json:
        state.console.result(json.dumps(lookup.info_record(found), ensure_ascii=False))
    else:
        for line in lookup.info_lines(found):
            state.console.result(line)


@cli.command("list")
@_with_lookup_options
@click.option(
    "--page",
    type=click.IntRange(min=0),
    default=None,
    help="Page (the provider's own numbering; default its first).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per upload and line.")
@pass_state
def list_cmd(
    state: State,
    provider: str | None,
    no_cache: bool,
    on_limit: str | None,
    max_wait: float | None,
    page: int | None,
    as_json: bool,
) -> None:
    """The account's recent uploads, where the provider keeps such a list."""
    import dataclasses
    import json

    from uploader.commands import lookup

    config = state.config()
    runtime = dataclasses.replace(state.runtime(), use_cache=not no_cache)
    items, paging = lookup.with_provider(
        config,
        provider,
        runtime,
        _lookup_policy(on_limit, max_wait, config),
        lambda p: lookup.list_page(p, -1 if page is None else page),
    )
    for item in items:
        if as_json:
            state.console.result(json.dumps(lookup.info_record(item), ensure_ascii=False))
        else:
            state.console.result(f"{item.id}\t{item.url or '-'}\t{item.title or ''}".rstrip())
    if paging:
        state.console.notice(paging)


@cli.command()
@click.argument("ref", metavar="ID|URL")
@_with_lookup_options
@pass_state
def delete(
    state: State,
    ref: str,
    provider: str | None,
    no_cache: bool,
    on_limit: str | None,
    max_wait: float | None,
) -> None:
    """Delete an upload: Imgur deletehash or id, Gyazo image id, Mastodon media id."""
    from uploader.commands import lookup

    config = state.config()
    message = lookup.with_provider(
        config,
        provider,
        state.runtime(),
        _lookup_policy(on_limit, max_wait, config),
        lambda p: p.delete(ref),
        subject=ref,
    )
    state.console.notice(message)


@cli.group("auth")
def auth_group() -> None:
    """Sign in, see who is signed in, sign out."""


@auth_group.command("login")
@click.argument("name")
@click.option("--no-browser", is_flag=True, help="Print the address instead of opening it.")
@click.option("--paste", is_flag=True, help="Paste a PIN or code instead of a redirect.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=300,
    show_default=True,
    help="Seconds to wait for the browser's redirect.",
)
@click.option("--team", help="Gyazo: team to sign in to ('*' for any).")
@pass_state
def auth_login(
    state: State, name: str, no_browser: bool, paste: bool, timeout: float, team: str | None
) -> None:
    """Sign the profile NAME in (OAuth); tokens go to the credential store."""
    from uploader.commands import login as login_command

    env = dict(os.environ)
    console = state.console

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

    # Without a display (an SSH session) a redirect to 127.0.0.1 would never reach us:
    # paste the PIN or code instead, unless --no-browser says the user will open it here.
    paste = paste or (not no_browser and not login_command.has_display(env))
    message = login_command.login(
        state.config(),
        name,
        env,
        say=console.message,
        ask=ask,
        open_browser=not no_browser and login_command.has_display(env),
        paste=paste,
        timeout=timeout,
        team=team,
    )
    console.notice(message)


@auth_group.command("set-token")
@click.argument("name")
@pass_state
def auth_set_token(state: State, name: str) -> None:
    """Store a personal access token for NAME (read from standard input or a prompt)."""
    from uploader.commands import auth as auth_command

    if sys.stdin.isatty():
        token = str(click.prompt("access token", hide_input=True, err=True))
    else:
        token = sys.stdin.readline()
    for line in auth_command.set_token(state.config(), name, token.strip(), dict(os.environ)):
        state.console.notice(line)


@auth_group.command("status")
@click.argument("name", required=False)
@click.option("--offline", is_flag=True, help="Do not verify the tokens with the provider.")
@pass_state
def auth_status(state: State, name: str | None, offline: bool) -> None:
    """Who is signed in where, token age and expiry, verified with a cheap call."""
    from uploader.commands import auth as auth_command
    from uploader.commands import login as login_command

    config = state.config()
    env = dict(os.environ)
    verify = None if offline else (lambda profile: login_command.verify(config, profile, env))
    for line in auth_command.status(config, name, env, verify):
        state.console.result(line)


@auth_group.command("logout")
@click.argument("name")
@pass_state
def auth_logout(state: State, name: str) -> None:
    """Revoke the token where the provider supports it and remove the local secrets."""
    from uploader.commands import auth as auth_command
    from uploader.commands import login as login_command

    config = state.config()
    env = dict(os.environ)
    for line in auth_command.logout(
        config, name, env, lambda profile, token: login_command.revoke(config, profile, token, env)
    ):
        state.console.notice(line)


@cli.group("config")
def config_group() -> None:
    """Where the config is, what it says, and a starter file."""


@config_group.command("path")
@pass_state
def config_path_cmd(state: State) -> None:
    """Print the config file's path (whether or not it exists)."""
    from uploader.config.settings import config_path

    state.console.result(str(config_path(state.config_file, os.environ)))


@config_group.command("show")
@pass_state
def config_show(state: State) -> None:
    """Print the effective config (file + environment), secrets masked."""
    from uploader.commands.config import effective_toml

    state.console.result(effective_toml(state.config(), os.environ).rstrip("\n"))


@config_group.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the starter config instead.")
@pass_state
def config_init(state: State, force: bool, to_stdout: bool) -> None:
    """Write a commented starter config (the same as config.example.toml)."""
    from uploader.config.settings import config_path, example_config, write_example

    if to_stdout:
        state.console.result(example_config().rstrip("\n"))
        return
    target = config_path(state.config_file, os.environ)
    write_example(target, force=force)
    state.console.notice(f"wrote {target}; edit client_id before uploading")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address.")
@click.option("--port", default=0, show_default=True, help="Port (0 picks a free one).")
@click.option("--knobs", "knobs_file", metavar="FILE", help="TOML file of sandbox knobs.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KNOB=VALUE",
    # How sandboxcli.parse_knobs reads VALUE (and SET_HINT says on a bad one).
    help="Set one knob (repeatable), e.g. --set imgur_post_limit=40. VALUE is a TOML value "
    "(40, 0.5, true, \"text\", ['a', 'b']) or a bare word; lists also take a,b.",
)
@pass_state
def sandbox(
    state: State, host: str, port: int, knobs_file: str | None, settings: tuple[str, ...]
) -> None:
    """Run the offline provider emulator; the first line printed is its base URL."""
    from uploader.commands.sandbox import serve

    serve(host, port, knobs_file, settings, ready=state.console.result)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: run the CLI and turn every outcome into one documented exit code."""
    verbose = _count_verbose(sys.argv[1:] if argv is None else argv)
    console = Console(verbose=verbose)
    code = run(
        lambda: cli.main(args=argv, prog_name="uploader", standalone_mode=False), console, verbose
    )
    sys.exit(code)


def run(call: Callable[[], Any], console: Console, verbose: int) -> int:
    try:
        result = call()
    except UploaderError as exc:
        if verbose > 1:
            traceback.print_exc()
        console.error(exc)
        return int(exc.exit_code)
    except click.exceptions.Abort as exc:
        # click turns Ctrl-C (and end of input at a prompt) into Abort.
        if isinstance(exc.__cause__ or exc.__context__, EOFError):
            console.err.write("error: standard input ended before the answer was given\n")
            console.err.write("hint: run the command in a terminal to answer its prompt\n")
            return int(ExitCode.USAGE)
        console.err.write("error: interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except click.exceptions.NoArgsIsHelpError as exc:
        console.err.write(exc.ctx.get_help() + "\n")
        return int(ExitCode.USAGE)
    except click.ClickException as exc:
        console.error(UsageError(one_line(exc.format_message())), prefix="")
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            console.err.write(f"hint: see `{exc.ctx.command_path} --help`\n")
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        console.err.write("error: interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(ExitCode.INTERNAL)
    except OutputClosedError:
        # The reader went away (`uploader list | head -1`): not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not fail again at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return int(ExitCode.OK)
    except Exception as exc:  # noqa: BLE001 - the one place a foreign error becomes exit 1
        if verbose > 1:
            traceback.print_exc()
        console.err.write(f"error: internal error: {type(exc).__name__}: {one_line(str(exc))}\n")
        console.err.write("hint: run again with -vv for a traceback, and report it\n")
        return int(ExitCode.INTERNAL)
    return result if isinstance(result, int) else int(ExitCode.OK)


def _count_verbose(args: list[str]) -> int:
    count = 0
    for arg in args:
        if arg == "--":
            break
        if arg == "--verbose":
            count += 1
        elif arg.startswith("-") and not arg.startswith("--") and set(arg[1:]) == {"v"}:
            count += len(arg) - 1
    return count
