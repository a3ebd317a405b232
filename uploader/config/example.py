"""The starter config: its text (the same as ``config.example.toml``) and ``config init``'s
safe write of it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from uploader.config import paths
from uploader.errors import ConfigError


def example_config() -> str:
    """The commented starter config (the same text as ``config.example.toml``)."""
    # start-up: only `config init` needs it; `limits` and `config show` load this module
    from importlib.resources import files

    return files("uploader").joinpath("config.example.toml").read_text(encoding="utf-8")


def write_example(path: Path, *, force: bool) -> None:
    """Write the starter config to ``path`` atomically; refuse to overwrite without force."""
    if path.exists() and not force:
        raise ConfigError(f"{path}: already exists", hint="pass --force to overwrite it")
    if path.exists() and not path.is_file():
        # The new file replaces what is there: never a device (`/dev/null`), a FIFO or a
        # directory, even with --force (as root, /dev/null itself would be replaced).
        raise ConfigError(f"{path}: is not a regular file; nothing was written")
    replace_config(path, example_config(), mode=0o600)


def replace_config(path: Path, text: str, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` atomically (a temporary file, fsynced, renamed over
    it): with ``mode``, else the file's own mode (0600 for a new file); its directory made
    0700. An OSError is one ConfigError line saying nothing was written (the old file is
    left whole)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        paths.ensure_private_dir(path.parent)
        if mode is None:
            mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        # Those of writers killed before their rename (the config itself is whole).
        stale = f".{path.name}."
        paths.remove_stale_temporaries(path.parent, stale, os.fstat(fd).st_mtime, pid_named=True)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fchmod(fh.fileno(), mode)
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot write the config file ({exc.strerror or type(exc).__name__}); "
            "nothing was written"
        ) from exc
