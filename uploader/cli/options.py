"""The options several commands share, declared once, and the config a command reads.

Each shared option resolves by click's own mechanism: the flag, else its ``UPLOADER_*``
variable (``envvar=``), else the config file's ``[defaults]`` (the ``default_map`` the group
builds), else the built-in default (the file's own, :class:`~uploader.config.settings.Defaults`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from uploader.cli import State
from uploader.config.checks import focus_point, host_problem, problem, text_problem
from uploader.config.settings import (
    DEFAULTS_SPEC,
    FORMATS,
    ON_LIMIT,
    Config,
    with_default_provider,
)

F = TypeVar("F", bound=Callable[..., Any])


def checked(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A callback checking a ``[defaults]`` value with the config file's own validator
    (:data:`DEFAULTS_SPEC`): a flag or variable is held to what the file is."""
    spec = DEFAULTS_SPEC[key]

    def callback(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is not None:
            if spec.type is float and isinstance(value, int):
                value = float(value)
            why = problem(spec, value)
            if why:
                raise click.BadParameter(why)
        return value

    return callback


def finite(_ctx: click.Context, _param: click.Parameter, value: float | None) -> float | None:
    """FloatRange lets nan through (every comparison with it is false)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of seconds")
    return value


def focus_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--focus X,Y``: checked once here, before any file is sent."""
    if value is None:
        return None
    try:
        return focus_point(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def text_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--title``, ``--description``, ``--status``: text the request carries as UTF-8.
    Bytes that are not UTF-8 reach Python as surrogates, which no request can carry."""
    if value is not None and any("\ud800" <= c <= "\udfff" for c in value):
        shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise click.BadParameter(f"'{shown}' is not UTF-8 text")
    return value


def album_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--album ID``: an Imgur album id or deletehash is letters and digits."""
    if value is not None and not (value.isascii() and value.isalnum()):
        raise click.BadParameter(f"{value!r} is not an album id (letters and digits)")
    return value


def host_option(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """``serve --host``: an address or a host name, never "" (every interface)."""
    why = host_problem(value)
    if why:
        raise click.BadParameter(why)
    return value.strip("[]") if value.startswith("[") else value


def secret_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``serve --secret``: a client must be able to send it in a header."""
    if value:
        why = text_problem(value)
        if why:
            raise click.BadParameter(f"the secret {why}")
    return value


class SharedOption(click.Option):
    """An option with an ``UPLOADER_*`` variable: an error names the variable only when the
    value came from it (click's ``show_envvar`` would name it for a flag's value too)."""

    def get_error_hint(self, ctx: click.Context | None) -> str:
        hint = click.Parameter.get_error_hint(self, ctx)
        if (
            ctx is not None
            and self.name
            and isinstance(self.envvar, str)
            and ctx.get_parameter_source(self.name) is ParameterSource.ENVIRONMENT
        ):
            hint += f" (env var: '{self.envvar}')"
        return hint


# Parameter name -> (declarations, attributes): the one declaration of each shared option.
SHARED: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "provider": (
        ("-p", "--provider"),
        {"metavar": "NAME", "envvar": "UPLOADER_PROVIDER", "help": "Profile to use."},
    ),
    "fmt": (
        ("-f", "--format", "fmt"),
        {
            "type": click.Choice(FORMATS),
            "envvar": "UPLOADER_FORMAT",
            "help": "Output format (default from config: url).",
        },
    ),
    "on_limit": (
        ("--on-limit",),
        {
            "type": click.Choice(ON_LIMIT),
            "envvar": "UPLOADER_ON_LIMIT",
            "help": "When a rate-limit bucket is spent: wait for it (up to --max-wait) or "
            "fail (exit 4).",
        },
    ),
    "max_wait": (
        ("--max-wait",),
        {
            "type": click.FloatRange(min=0),
            "callback": checked("max_wait"),
            "metavar": "SECONDS",
            "envvar": "UPLOADER_MAX_WAIT",
            "help": "Longest wait for a rate limit (default from config: 300).",
        },
    ),
}


def shared(name: str, **changes: Any) -> Callable[[F], F]:
    """The decorator adding the shared option ``name`` (``changes``: e.g. its help)."""
    decls, attrs = SHARED[name]
    return click.option(*decls, cls=SharedOption, show_envvar=True, **{**attrs, **changes})


def _resolved(ctx: click.Context, names: tuple[str, ...]) -> click.Context:
    """A context where the shared options ``names`` are resolved as if not given on the
    command line (variable, file, default), by click itself, for a command without them."""
    params: list[click.Parameter] = [
        SharedOption(list(SHARED[name][0]), **SHARED[name][1]) for name in names
    ]
    probe = click.Command(ctx.info_name, params=params)
    return probe.make_context(ctx.info_name, [], parent=ctx.parent, default_map=ctx.default_map)


def effective(ctx: click.Context) -> dict[str, Any]:
    """The ``[defaults]`` values in effect for ``ctx`` (variable > file > default), by
    their config keys: what ``config show`` prints."""
    values = _resolved(ctx, ("fmt", "on_limit", "max_wait")).params
    return {"format": values["fmt"], "on_limit": values["on_limit"], "max_wait": values["max_wait"]}


def config(ctx: click.Context) -> Config:
    """The config file, where a profile named by ``UPLOADER_PROVIDER`` is the default one
    (so that an error about it says where the name came from)."""
    state: State = ctx.obj
    loaded = state.config()
    if "provider" in ctx.params:
        value, source = ctx.params["provider"], ctx.get_parameter_source("provider")
    else:
        probe = _resolved(ctx, ("provider",))
        value, source = probe.params["provider"], probe.get_parameter_source("provider")
    if source is ParameterSource.ENVIRONMENT:
        loaded = with_default_provider(loaded, value, "environment variable UPLOADER_PROVIDER")
    return loaded


def profile_name(ctx: click.Context) -> str | None:
    """``-p NAME`` as given on the command line, else None: the config's default profile
    (which :func:`config` took from ``UPLOADER_PROVIDER`` when that is set)."""
    if ctx.get_parameter_source("provider") is ParameterSource.COMMANDLINE:
        name: str | None = ctx.params["provider"]
        return name
    return None
