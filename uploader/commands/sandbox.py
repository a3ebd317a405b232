"""``uploader sandbox``: knobs from a TOML file and ``--set KNOB=VALUE`` flags, then serve.

A ``--set`` value is read as a TOML value where it is one (``40``, ``0.5``, ``true``,
``"text"``, ``["a", "b"]``) and as a plain string otherwise (a bare word such as
``legacy`` or a path); list knobs also take ``a,b`` (comma-separated) or a single word.
Every mistake is a :class:`~uploader.errors.UsageError` (exit 2): an unknown knob, a value
of the wrong type, a port out of range or in use, a non-loopback host.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import tomllib
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from uploader import gcpolicy
from uploader.config.checks import is_loopback
from uploader.errors import UsageError

# The wording for the --set option's help text (cli.py owns the option itself).
SET_HINT = "--set takes TOML values: 40, 0.5, true, \"text\", ['a', 'b']; or a bare word; or a,b"
PORT_HINT = "use --port 0 to pick a free port"


def parse_knobs(knobs_file: str | None, settings: Sequence[str]) -> Any:
    """A SandboxConfig from the file (if any) and the ``--set`` overrides, validated."""
    # start-up: `uploader --help` loads this module; only the sandbox command needs these
    from uploader.sandbox.knobs import KnobError, SandboxConfig, coerce

    try:
        config = SandboxConfig.from_toml(knobs_file) if knobs_file else SandboxConfig()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(
            f"sandbox knobs {knobs_file}: {reason}", hint="a flat TOML table of knob = value"
        ) from None
    hints = typing.get_type_hints(SandboxConfig)
    known = {f.name for f in dataclasses.fields(SandboxConfig)}
    changes: dict[str, Any] = {}
    raws: dict[str, str] = {}
    for setting in settings:
        name, sep, raw = setting.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in known:
            raise UsageError(
                f"--set {setting!r}: unknown sandbox knob {name!r}"
                if sep
                else f"--set {setting!r}: expected KNOB=VALUE",
                hint="knobs: " + ", ".join(sorted(known)),
            )
        raws[name] = raw.strip()
        try:
            changes[name] = coerce(name, _value(raw.strip(), hints[name]), hints[name])
        except KnobError as exc:
            raise _set_error(exc, raw.strip()) from None
    try:
        return dataclasses.replace(config, **changes)
    except KnobError as exc:
        if exc.name in raws:
            raise _set_error(exc, raws[exc.name]) from None
        raise UsageError(f"sandbox knobs {knobs_file}: {exc}") from None
    except ValueError as exc:
        raise UsageError(f"sandbox knobs: {exc}") from None


def _set_error(exc: Any, raw: str) -> UsageError:
    """``knob NAME must be EXPECTED, got 'RAW'``: the text the user typed, quoted."""
    return UsageError(f"knob {exc.name} must be {exc.expected}, got {raw!r}", hint=SET_HINT)


def _toml(raw: str) -> tuple[bool, Any]:
    """(True, the value) when ``raw`` is one TOML value, else (False, None)."""
    try:
        return True, tomllib.loads(f"v = {raw}")["v"]
    except (tomllib.TOMLDecodeError, KeyError):
        return False, None


def _value(raw: str, kind: Any) -> Any:
    """The value a ``--set`` text stands for, given the knob's type (wrong types are left
    for the knob check to name)."""
    parsed, value = _toml(raw)
    origin = typing.get_origin(kind)
    if origin is tuple:
        if parsed and isinstance(value, list):
            return value
        if parsed and isinstance(value, str):
            return [value] if value else []
        return [part.strip() for part in raw.split(",") if part.strip()]
    if kind is bool:
        if parsed and isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
            return bool(value)  # 1 and 0, as earlier versions took
        return value if parsed else raw
    if kind in (int, float):
        return value if parsed else raw
    # Strings, choices and optional strings: a TOML string, "none" for None, else the text.
    if kind == (str | None) and raw.lower() == "none":
        return None
    return value if parsed and isinstance(value, str) else raw


def _bind_error(host: str, port: int, exc: OSError) -> UsageError:
    shown = f"[{host}]" if ":" in host else host
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        message = f"cannot listen on {shown}:{port}: address already in use"
        return UsageError(message, hint=PORT_HINT)
    if exc.errno == errno.EACCES:
        return UsageError(
            f"cannot listen on {shown}:{port}: permission denied",
            hint=f"ports below 1024 need privileges; {PORT_HINT}",
        )
    return UsageError(
        f"cannot listen on {shown}:{port}: {reason}",
        hint="try --host 127.0.0.1" if ":" in host else PORT_HINT,
    )


def _check_storage(directory: Path) -> None:
    """The ``storage_dir`` knob must name a directory we can create and write in: an
    error about it must not surface later as if the port were the problem."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".uploader-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(
            f"knob storage_dir {str(directory)!r}: cannot store uploads there "
            f"({exc.strerror or type(exc).__name__})",
            hint="name a writable directory, or leave storage_dir out for a temporary one",
        ) from None


def serve(
    host: str,
    port: int,
    knobs_file: str | None,
    settings: Sequence[str],
    *,
    ready: Callable[[str], None],
) -> None:
    """Run the sandbox in the foreground until interrupted."""
    from uploader.sandbox import Sandbox  # start-up: as in parse_knobs

    host = host.strip().removeprefix("[").removesuffix("]")
    if not is_loopback(host):
        raise UsageError(
            f"--host {host!r} is not a loopback address",
            hint="the sandbox serves only 127.0.0.1 or ::1",
        )
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port number (0-65535)", hint=PORT_HINT)
    config = parse_knobs(knobs_file, settings)
    if config.storage_dir:
        _check_storage(Path(config.storage_dir))
    gcpolicy.resume()  # a long-running server: collect cycles as usual
    listening = False

    def announce(url: str) -> None:
        nonlocal listening
        listening = True
        ready(url)

    try:
        Sandbox.serve_forever(config, host, port, announce)
    except OSError as exc:
        if listening:  # not a bind error: let the CLI report it as what it is
            raise
        raise _bind_error(host, port, exc) from None
