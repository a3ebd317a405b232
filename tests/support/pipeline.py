"""One ``upload`` through the real core (``commands.upload``), in process, time injected."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.support.clock import FakeTime
from uploader.commands import upload as upload_command
from uploader.commands.runtime import Runtime
from uploader.config.settings import Config
from uploader.errors import ExitCode, UploaderError
from uploader.http.retry import RetryPolicy
from uploader.models import UploadOptions, UploadResult


@dataclass
class Run:
    """What one run gave: its exit code, the runtime it ran with, each file's record and
    error (in input order), and every message of the limiter (``notes``) and the retries
    (``debug``)."""

    exit_code: ExitCode
    runtime: Runtime
    results: list[UploadResult] = field(default_factory=list)
    errors: list[UploaderError | None] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    debug: list[str] = field(default_factory=list)


def run_upload(
    config: Config,
    paths: Sequence[str],
    env: Mapping[str, str],
    fake: FakeTime,
    *,
    transport: Any = None,
    provider: str | None = None,
    on_limit: str = "wait",
    max_wait: float = 300.0,
    retry: RetryPolicy | None = None,
    options: UploadOptions | None = None,
    stdin: bytes = b"",
    history: bool = True,
    skip_existing: bool = False,
) -> Run:
    """Upload ``paths`` with ``fake``'s clock and sleep; ``transport`` (an
    ``httpx.MockTransport``) or, when None, the real network (a loopback sandbox)."""
    notes: list[str] = []
    debug: list[str] = []
    runtime = Runtime(
        env=dict(env),
        clock=fake.clock,
        sleep=fake.sleep,
        notify=notes.append,
        debug=debug.append,
        transport=transport,
        stdin=io.BytesIO(stdin),
    )
    run = Run(ExitCode.OK, runtime, notes=notes, debug=debug)

    def emit(result: UploadResult, error: UploaderError | None) -> None:
        run.results.append(result)
        run.errors.append(error)

    request = upload_command.UploadRequest(
        paths=tuple(paths),
        provider=provider,
        options=options or UploadOptions(),
        on_limit=on_limit,
        max_wait=max_wait,
        retry=retry or RetryPolicy(),
        history=history,
        skip_existing=skip_existing,
    )
    run.exit_code = upload_command.upload(config, request, runtime, emit).exit_code
    return run
