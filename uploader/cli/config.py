"""``uploader config path|show|init|import-sxcu``: where the config is, what it says, a
starter, and a ShareX custom uploader imported as a profile."""

from __future__ import annotations

import os
from pathlib import Path

import click

from uploader.cli import State, options
from uploader.commands.config import effective_toml
from uploader.config.example import example_config, write_example
from uploader.config.settings import config_path


@click.group("config")
def config_group() -> None:
    """Where the config is, what it says, and a starter file."""


@config_group.command("path")
@click.pass_obj
def config_path_cmd(state: State) -> None:
    """Print the config file's path (whether or not it exists)."""
    state.console.result(str(config_path(state.config_file, os.environ)))


@config_group.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective config (file + environment), secrets masked."""
    text = effective_toml(options.config(ctx), os.environ, defaults=options.effective(ctx))
    ctx.obj.console.result(text.rstrip("\n"))


@config_group.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the starter config instead.")
@click.pass_obj
def config_init(state: State, force: bool, to_stdout: bool) -> None:
    """Write a commented starter config (the same as config.example.toml)."""
    if to_stdout:
        state.console.result(example_config().rstrip("\n"))
        return
    target = config_path(state.config_file, os.environ)
    write_example(target, force=force)
    state.console.notice(f"wrote {target}; edit client_id before uploading")


@config_group.command("import-sxcu")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", help="The profile's name (default: the definition's Name, slugified).")
@click.option("--force", is_flag=True, help="Replace an existing profile of that name.")
@click.pass_obj
def config_import_sxcu(state: State, file: Path, name: str | None, force: bool) -> None:
    """Add a ShareX custom uploader (.sxcu) FILE as a profile; its secrets go to the
    credential store."""
    from uploader.commands.sxcu_import import import_sxcu  # start-up: this command only

    done = import_sxcu(file, name=name, force=force, explicit=state.config_file, env=os.environ)
    for warning in done.warnings:
        state.console.notice(f"warning: {warning}")
    for line in done.lines:
        state.console.notice(line)
