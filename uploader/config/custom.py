"""A ``kind = "custom"`` profile's definition, as far as the config layer reads it.

The definition is a ShareX custom uploader: a ``.sxcu`` file named by ``sxcu = "path"``
(relative to the config file's directory, ``~`` expanded) or the same keys inline in the
profile's table. Here it is only located and decoded (the raw keys) and its host found
(``base_url`` is the origin of ``RequestURL``: the rate-limit state key, the TLS and proxy
rules); ``providers/sxcu.py`` checks it fully when the profile is used. A definition that
cannot be read does not break the other profiles: it is the error of this one
(:attr:`Definition.problem`), raised when the profile is chosen.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from uploader.config.checks import check_url
from uploader.config.locator import Locator
from uploader.config.options import SHAREX_KEYS
from uploader.config.settings import Profile
from uploader.errors import ConfigError

# The names of a header, argument or parameter whose value is a secret (``config show``
# masks it, ``config import-sxcu`` moves it to the credential store).
SECRET_NAME = re.compile(
    r"authori[sz]ation|key|token|secret|pass|auth|cookie|session|credential|pwd|jwt|signature",
    re.IGNORECASE,
)
SHAREX_TABLES = ("Headers", "Arguments", "Parameters")
# A definition is a few hundred bytes; anything much larger is not one.
LARGEST_SXCU = 1 << 20


class Definition(NamedTuple):
    """The raw ShareX keys, where they come from (the start of every message about them),
    the host, and the error to raise when the profile is used (None: usable)."""

    raw: Mapping[str, Any]
    source: str
    base_url: str
    problem: ConfigError | None = None


def custom_profile(name: str, values: dict[str, Any], where: Locator) -> Profile:
    """A ``kind = "custom"`` profile from its checked ``values``: its host is its
    definition's."""
    table = ("providers", name)
    if "base_url" in values:
        raise ConfigError(
            where.error(table, "base_url", "is not used by a custom profile").message,
            hint="the host is the one of the definition's RequestURL",
        )
    definition, sxcu = custom_definition(values, name, where.path)
    if sxcu is not None:
        values["sxcu"] = sxcu
    values.pop("kind")
    auth = str(values.pop("auth", "auto"))
    return Profile(
        name=name,
        kind="custom",
        base_url=definition.base_url,
        auth=auth,
        options=tuple(sorted(values.items())),
        definition=definition.raw,
        source=definition.source,
        problem=definition.problem,
    )


def custom_definition(
    values: Mapping[str, Any], name: str, config_path: Path
) -> tuple[Definition, str | None]:
    """The definition of profile ``name`` from its checked ``values``, and the resolved
    ``sxcu`` path (None for an inline definition)."""
    inline = {key: values[key] for key in SHAREX_KEYS if key in values}
    sxcu = values.get("sxcu")
    if sxcu is None:
        source = f"{config_path}: providers.{name}"
        if not inline:
            problem = ConfigError(
                f'{source}: a custom profile needs sxcu = "FILE" or the ShareX keys inline',
                hint="`uploader config import-sxcu FILE --name NAME` writes one from a .sxcu file",
            )
            return Definition({}, source, "", problem), None
        return _with_host(inline, source), None
    path = Path(str(sxcu)).expanduser()
    if not path.is_absolute():
        path = config_path.parent / path
    source = str(path)
    if inline:
        problem = ConfigError(
            f"{config_path}: providers.{name}: has both sxcu and inline ShareX keys "
            f"({', '.join(inline)})",
            hint="keep one: the file, or the keys in the table",
        )
        return Definition({}, source, "", problem), str(path)
    try:
        raw = read_sxcu(path)
    except ConfigError as exc:
        return Definition({}, source, "", exc), str(path)
    return _with_host(raw, source), str(path)


def read_sxcu(path: Path) -> dict[str, Any]:
    """The decoded JSON object of an ``.sxcu`` file, read as ``config import-sxcu`` reads
    it (:func:`~uploader.config.sxcu_file.decode_sxcu`: a BOM, comments and trailing
    commas as ShareX; a key twice, NaN refused; numbers kept as written); a regular file
    only, never waited on (a FIFO). ConfigError naming the file otherwise."""
    from uploader.config.paths import NotOurFileError, read_own_file
    from uploader.config.sxcu_file import decode_sxcu

    try:
        data = read_own_file(path, LARGEST_SXCU)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file", hint="check the sxcu path") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a .sxcu file") from None
    except NotOurFileError as exc:
        if path.is_dir():
            raise ConfigError(f"{path}: is a directory, not a .sxcu file") from None
        if exc.errno == errno.EFBIG:
            raise ConfigError(
                f"{path}: is over {LARGEST_SXCU >> 20} MiB: not a .sxcu file"
            ) from None
        raise ConfigError(f"{path}: is not a regular file: not a .sxcu file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    raw = decode_sxcu(data, str(path), ConfigError)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: not a ShareX definition (a JSON object is expected)")
    return raw


def request_origin(request_url: object, source: str) -> str:
    """``scheme://host[:port]`` of a definition's RequestURL (https, or http to a
    loopback address), or ConfigError "SOURCE: RequestURL: ..."."""
    if not isinstance(request_url, str) or not request_url.strip():
        raise ConfigError(f"{source}: RequestURL: missing or not a string")
    try:
        parts = urlsplit(request_url.strip())
    except ValueError:
        raise ConfigError(f"{source}: RequestURL: {request_url!r} is not a URL") from None
    origin = f"{parts.scheme}://{parts.netloc}"
    if "{" in origin or "}" in origin:
        raise ConfigError(
            f"{source}: RequestURL: its scheme and host must be written out, not a template",
        )
    check_url(origin, source, "RequestURL")
    return origin


def _with_host(raw: Mapping[str, Any], source: str) -> Definition:
    try:
        return Definition(raw, source, request_origin(raw.get("RequestURL"), source))
    except ConfigError as exc:
        return Definition(raw, source, "", exc)


def shown_table(name: str, value: Any, mask: Callable[[str], str]) -> Any:
    """A custom profile's ``Headers``/``Arguments``/``Parameters`` table for ``config
    show``: a literal value under a secret-looking name masked, a ``{secret:NAME}``
    reference shown as it is."""
    if name not in SHAREX_TABLES or not isinstance(value, dict):
        return value
    return {
        key: mask(str(text)) if SECRET_NAME.search(key) and "{secret:" not in str(text) else text
        for key, text in value.items()
    }
