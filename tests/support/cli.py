"""In-process runs of the command line (click's CliRunner) against an in-process sandbox.

``invoke`` goes through the group's ``main``, so exit codes and messages are the ones a
user sees; ``obj=Runtime(...)`` injects the clock, sleep or transport.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from tests.support.clock import FakeTime
from uploader.cli import cli
from uploader.commands.runtime import Runtime
from uploader.sandbox import Sandbox, SandboxConfig


def clock() -> FakeTime:
    """A clock that moves only when slept on (every wait exact and recorded), at a date
    the sandbox accepts as now."""
    return FakeTime(1_900_000_000.0)


def invoke(
    args: Sequence[str],
    *,
    runtime: Runtime | None = None,
    env: Mapping[str, str | None] | None = None,
    stdin: str | bytes | None = None,
) -> Result:
    """``uploader ARGS`` in this process; exceptions the CLI lets through fail the test."""
    runner = CliRunner(catch_exceptions=False)
    return runner.invoke(cli, list(args), obj=runtime, env=env, input=stdin)


def with_defaults(config: Path, table: str) -> Path:
    """Put ``table`` (TOML lines) in the config's ``[defaults]``, before its profiles."""
    text = config.read_text().replace("[providers.", f"[defaults]\n{table}\n\n[providers.", 1)
    config.write_text(text)
    return config


def lines(text: str) -> list[str]:
    return text.splitlines()


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@contextmanager
def sandbox(clock: FakeTime | None = None, **knobs: Any) -> Iterator[Sandbox]:
    """The sandbox in a thread on 127.0.0.1, port 0, with ``knobs`` (and ``clock``)."""
    config = SandboxConfig(**knobs)
    server = Sandbox(config, "127.0.0.1", 0, clock=clock) if clock else Sandbox(config)
    with server:
        yield server


def posts(server: Sandbox, path: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in server.requests()
        if r["method"] == "POST" and (path is None or r["path"] == path)
    ]
