"""The command line: click and nothing else.

The group loads a command's module only when that command runs (``uploader upload``
imports ``cli/upload.py`` and nothing of the other commands); ``--help`` loads them all to
show their short help. A command module parses options and hands plain values to its
click-free core in :mod:`uploader.commands`. Errors become exit codes in one place,
:func:`run`, which :meth:`Uploader.main` wraps around every invocation, in-process ones
(``CliRunner``) included.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn

import click
from click.core import ParameterSource

from uploader import __version__
from uploader.errors import (
    ExitCode,
    InterruptedRunError,
    OutputClosedError,
    OutputError,
    UploaderError,
    UsageError,
)
from uploader.output import Console, one_line

if TYPE_CHECKING:
    from uploader.commands.runtime import Runtime
    from uploader.config.settings import Config

# Command name -> "module:attribute" under uploader.cli. A new command is one line here.
COMMANDS = {
    "auth": "auth:auth_group",
    "config": "config:config_group",
    "delete": "lookup:delete",
    "demo": "demo:demo",
    "history": "history:history",
    "info": "lookup:info",
    "limits": "limits:limits",
    "list": "lookup:list_cmd",
    "sandbox": "sandbox:sandbox",
    "serve": "serve:serve",
    "state": "state:state_group",
    "upload": "upload:upload",
}

# Option (parameter name) -> the config file's [defaults] key that is its default: the
# values reach the commands through click's default_map (flag > UPLOADER_* > file > default).
FILE_DEFAULTS = {"fmt": "format", "on_limit": "on_limit", "max_wait": "max_wait"}
# The commands (by context path below the group) whose options take FILE_DEFAULTS.
CONFIGURED = (("upload",), ("info",), ("list",), ("delete",), ("serve",), ("config", "show"))


class State:
    """``ctx.obj``: the group's options, the console, and the outside world.

    A test passes ``obj=Runtime(...)`` (a transport, a clock, a sleep) to ``CliRunner.invoke``;
    the environment is always the process's, the one click reads ``UPLOADER_*`` from.
    """

    def __init__(self, runtime: Runtime | None = None) -> None:
        self.config_file: str | None = None
        self.verbose = 0
        self.console = Console()
        self._runtime = runtime
        self._config: Config | None = None

    def config(self) -> Config:
        """The config file (read once; a broken one fails only the commands that read it)."""
        if self._config is None:
            # start-up: `uploader --version` must not pay for TOML parsing
            from uploader.config.settings import load_config

            self._config = load_config(self.config_file, os.environ)
        return self._config

    def runtime(self) -> Runtime:
        """The outside world, with messages going to this run's console."""
        # start-up: --version and the config commands need no HTTP stack
        from uploader.commands.runtime import Runtime

        base = self._runtime or Runtime()
        return replace(base, env=dict(os.environ), notify=self.console.notice, debug=self.debug)

    def debug(self, message: str) -> None:
        if self.verbose:
            self.console.notice(message)

    def default_map(self) -> dict[str, Any]:
        """click's default_map: the file's values, read when an option first needs one."""

        def reader(key: str) -> Callable[[], Any]:
            return lambda: getattr(self.config().defaults, key)

        values = {name: reader(key) for name, key in FILE_DEFAULTS.items()}
        tree: dict[str, Any] = {}
        for path in CONFIGURED:
            node = tree
            for name in path[:-1]:
                node = node.setdefault(name, {})
            node[path[-1]] = values
        return tree


class Uploader(click.Group):
    """The ``uploader`` group: commands imported on first use (click's documented lazy
    loading), Ctrl-C as our own error, and every outcome mapped to one exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(f"uploader.cli.{module}"), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"uploader.cli.{module}.{attribute} is not a click command")
        return command

    def invoke(self, ctx: click.Context) -> Any:
        # Ctrl-C becomes our own error before click sees it: click would print an empty
        # line and hide where the interrupt came from.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise InterruptedRunError("interrupted") from None

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line and turn its outcome into an exit code (``sys.exit`` in
        standalone mode, returned otherwise); ``obj`` may be a Runtime (tests)."""
        obj = extra.pop("obj", None)
        state = obj if isinstance(obj, State) else State(obj)
        code = run(
            lambda: super(Uploader, self).main(
                args, prog_name, complete_var, standalone_mode=False, obj=state, **extra
            ),
            state,
        )
        if standalone_mode:
            sys.exit(code)
        return code


def _verbosity(ctx: click.Context, _param: click.Parameter, count: int) -> int:
    """Known as soon as the group's options are parsed, so that an error while a command
    loads gets its traceback at -vv too."""
    ctx.ensure_object(State).verbose = count
    return count


@click.group(
    cls=Uploader, name="uploader", context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, "--version", prog_name="uploader")
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    envvar="UPLOADER_CONFIG",
    show_envvar=True,
    help="Config file to use.",
)
@click.option(
    "-v", "--verbose", count=True, callback=_verbosity, help="More detail on stderr (-vv: debug)."
)
@click.option("-q", "--quiet", is_flag=True, help="Only results and errors.")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, verbose: int, quiet: bool) -> None:
    """Upload images to Imgur, Gyazo and Mastodon without getting rate-limited."""
    state = ctx.ensure_object(State)
    state.config_file = config_file
    state.console = Console(quiet=quiet, verbose=verbose)
    ctx.default_map = state.default_map()
    # Every warning of our loggers is one `warning:` line on stderr; -q hides it (design:
    # "only results and errors"). -v adds our info lines, -vv our debug lines.
    ours = logging.getLogger("uploader")
    handlers: list[logging.Handler] = [WarningHandler(state.console)]
    if verbose:
        # Only our own loggers: libraries' debug output (httpx logs whole URLs, httpcore
        # every socket event) is not reviewed for secrets, so it stays off.
        detail = logging.StreamHandler(state.console.err)
        detail.setFormatter(logging.Formatter("uploader: %(message)s"))
        detail.addFilter(lambda record: record.levelno < logging.WARNING)
        handlers.append(detail)
    for handler in handlers:
        ours.addHandler(handler)
    ours.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)

    def detach() -> None:  # one run, its handlers (in-process runs come one after another)
        for handler in handlers:
            ours.removeHandler(handler)
        ours.setLevel(logging.NOTSET)

    ctx.call_on_close(detach)


class WarningHandler(logging.Handler):
    """Our loggers' warnings as ``warning: ...`` lines through the console (one line
    each; hidden by --quiet like every notice)."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.WARNING)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = one_line(record.getMessage()).removeprefix("warning: ")
            self.console.notice(f"warning: {text}")
        except Exception:  # noqa: BLE001 - a warning must never break the run
            self.handleError(record)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point (the ``uploader`` console script): exits with the documented code."""
    import signal  # a built-in module: nothing to load

    signal.signal(signal.SIGTERM, _terminated)
    sys.exit(cli.main(args=argv, prog_name="uploader", standalone_mode=False))


def _terminated(_signum: int, _frame: object) -> None:
    """SIGTERM (a scheduler's timeout, ``kill``) stops a run as Ctrl-C does: every file of a
    batch accounted for, what may have reached the server said, the journal completed and
    temporary files (the clipboard's image, re-encoded pictures) removed; exit 130. The
    commands that serve (``sandbox``, ``serve``) put their own handler in its place."""
    raise KeyboardInterrupt


def run(call: Callable[[], Any], state: State) -> int:
    """Run ``call`` (the parsed command line); every outcome becomes one exit code."""
    console = state.console
    try:
        result = call()
    except UploaderError as exc:
        if isinstance(exc, OutputError):
            _silence_stdout()
        if state.verbose > 1:
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
            console.err.write(f"hint: {_usage_hint(exc, exc.ctx)}\n")
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        console.err.write("error: interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except OSError as exc:
        if not _written_by_click(exc):
            return _internal_error(exc, state)
        # click's own output (--help, --version) to a full disk or a closed pipe.
        closed = OutputClosedError(
            (exc.strerror or type(exc).__name__).lower(),
            reader_gone=isinstance(exc, BrokenPipeError),
        )
        return _output_closed(closed, console)
    except OutputClosedError as exc:
        return _output_closed(exc, console)
    except Exception as exc:  # noqa: BLE001 - the one place a foreign error becomes exit 1
        return _internal_error(exc, state)
    return result if isinstance(result, int) else int(ExitCode.OK)


def _written_by_click(exc: OSError) -> bool:
    """Whether ``exc`` came from click writing its own output (``--help``, ``--version``):
    everything else we print goes through :class:`Console`, which says so itself."""
    frames = traceback.extract_tb(exc.__traceback__)
    return any(
        f.name == "echo" and f.filename.endswith(os.path.join("click", "utils.py")) for f in frames
    )


def _output_closed(exc: OutputClosedError, console: Console) -> int:
    """Exit 0 when the reader left (it had what it wanted), else one error line, exit 7."""
    _silence_stdout()
    if exc.reader_gone:
        # The reader went away (`uploader list | head -1`): it read what it wanted, and
        # what was not printed is still on the server. Not an error. (`upload` turns a
        # closed stdout into an OutputError itself: there, a link can be lost.)
        return int(ExitCode.OK)
    console.error(
        OutputError(
            f"could not write to standard output ({exc.reason})",
            hint="run the command again with standard output going to a terminal, "
            "a file with room or a reader that reads all of it",
        )
    )
    return int(ExitCode.OUTPUT)


def _internal_error(exc: Exception, state: State) -> int:
    if state.verbose > 1:
        traceback.print_exc()
    state.console.err.write(f"error: internal error: {type(exc).__name__}: {one_line(str(exc))}\n")
    state.console.err.write("hint: run again with -vv for a traceback, and report it\n")
    return int(ExitCode.INTERNAL)


def _silence_stdout() -> None:
    """Point descriptor 1 at /dev/null after stdout failed, so that the interpreter's final
    flush (of what is still buffered) cannot fail again at exit ("Exception ignored",
    exit 120)."""
    stream = sys.stdout
    if stream is None:  # started with descriptor 1 closed: 1 may be another file by now
        return
    try:
        target = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError):  # not a real file (in-process runs), or no /dev/null
        return
    try:
        os.dup2(devnull, target)
    except OSError:
        pass
    finally:
        os.close(devnull)


def _usage_hint(exc: click.UsageError, ctx: click.Context) -> str:
    """What to do about a usage error: the variable to fix when a bad value came from one."""
    param = exc.param if isinstance(exc, click.BadParameter) else None
    if (
        param is not None
        and param.name
        and isinstance(param.envvar, str)
        and ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT
    ):
        return f"fix or unset the environment variable {param.envvar}"
    return f"see `{ctx.command_path} --help`"
