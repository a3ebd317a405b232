"""``uploader sandbox``: knobs from a TOML file and ``--set KNOB=VALUE`` flags."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Sequence
from typing import Any

from uploader.config import is_loopback
from uploader.errors import UsageError


def parse_knobs(knobs_file: str | None, settings: Sequence[str]) -> Any:
    """A SandboxConfig from the file (if any) and the ``--set`` overrides, validated."""
    from uploader.sandbox import SandboxConfig

    try:
        config = SandboxConfig.from_toml(knobs_file) if knobs_file else SandboxConfig()
    except (OSError, ValueError) as exc:
        raise UsageError(f"sandbox knobs {knobs_file}: {exc}") from exc
    hints = typing.get_type_hints(SandboxConfig)
    known = {f.name for f in dataclasses.fields(SandboxConfig)}
    changes: dict[str, Any] = {}
    for setting in settings:
        name, sep, raw = setting.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in known:
            raise UsageError(
                f"--set {setting!r}: unknown sandbox knob {name!r}",
                hint="knobs: " + ", ".join(sorted(known)),
            )
        changes[name] = _convert(name, raw.strip(), hints[name])
    try:
        return dataclasses.replace(config, **changes)
    except ValueError as exc:
        raise UsageError(f"sandbox knobs: {exc}") from exc


def _convert(name: str, raw: str, kind: Any) -> Any:
    text = str(kind)
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if "tuple" in text:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if raw.lower() == "none" and "None" in text:
            return None
        return raw
    except ValueError:
        raise UsageError(f"--set {name}={raw!r}: not a valid {text}") from None


def serve(
    host: str,
    port: int,
    knobs_file: str | None,
    settings: Sequence[str],
    *,
    ready: Callable[[str], None],
) -> None:
    """Run the sandbox in the foreground until interrupted."""
    from uploader.sandbox import Sandbox

    if not is_loopback(host):
        raise UsageError(
            f"--host {host!r} is not a loopback address",
            hint="the sandbox serves only 127.0.0.1 or ::1",
        )
    config = parse_knobs(knobs_file, settings)
    from uploader import startup

    startup.resume()  # a long-running server: collect cycles as usual
    Sandbox.serve_forever(config, host, port, ready)
