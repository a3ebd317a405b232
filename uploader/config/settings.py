"""Configuration: discovery, parsing, validation and the precedence rule (design section 5).

One precedence rule everywhere: command-line flag, then ``UPLOADER_*`` environment variable,
then the config file, then the built-in default; the command line applies it (click's
``envvar`` and ``default_map``, see :mod:`uploader.cli.options`). The file is TOML; every
problem with it is a :class:`ConfigError` (exit 2) naming the file, the line and the key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from uploader.config import paths
from uploader.config.checks import check_url, problem, text_problem
from uploader.config.locator import Locator
from uploader.config.options import COMMON, KINDS, OptionSpec
from uploader.config.serve import ServeSettings, parse_serve
from uploader.config.statebackend import (
    HINT,
    ON_BACKEND_ERROR,
    StateSettings,
    parse_redis_url,
    state_settings,
)
from uploader.errors import ConfigError

FORMATS = ("url", "markdown", "html", "bbcode", "json")
ON_LIMIT = ("wait", "fail")
# Values of config.example.toml that only stand for the user's own (never a real id).
PLACEHOLDERS = ("your-client-id",)


@dataclass(frozen=True, eq=False, repr=False)  # lean: startup matters
class Defaults:
    """The ``[defaults]`` table: behaviour shared by every profile."""

    format: str = "url"
    on_limit: str = "wait"
    max_wait: float = 300.0
    retries: int = 4
    retry_max_time: float = 30.0
    retry_ambiguous: bool = False
    # Do not send a file the history shows already uploaded to the profile's account.
    skip_existing: bool = False
    # Keep the upload history (uploader/history/): the journal, --skip-existing, delete PATH.
    history: bool = True
    # Send JPEG, PNG and WebP without their metadata (EXIF, GPS, XMP, text chunks).
    strip_metadata: bool = True
    # Files of a batch sent at once (one file is always sent alone).
    jobs: int = 4
    # A 20 MB file over a 1 Mbit/s home uplink takes ~160 s to send: the write timeout
    # is per chunk, so 60 s of a stalled socket is the real bound, not the whole upload.
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    write_timeout: float = 60.0
    pool_timeout: float = 10.0
    # curl's low-speed rule: an attempt moving fewer than low_speed_limit bytes/s for
    # low_speed_time seconds is aborted (a trickling server defeats every timeout).
    low_speed_limit: int = 1000
    low_speed_time: float = 30.0


@dataclass(frozen=True, eq=False, repr=False)  # lean: startup matters
class Profile:
    """One ``[providers.NAME]`` table, validated for its ``kind``."""

    name: str
    kind: str
    base_url: str
    auth: str = "auto"
    client_id: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    # Set when a value is still the starter config's placeholder: the error to raise when
    # the profile is used (``config show`` still works).
    placeholder: str | None = None
    # kind = "custom": the ShareX definition's raw keys, where they come from (the start of
    # every message about them), and why it cannot be used (raised when it is chosen).
    definition: Mapping[str, Any] | None = None
    source: str = ""
    problem: ConfigError | None = None

    def option(self, key: str, default: Any = None) -> Any:
        for name, value in self.options:
            if name == key:
                return value
        return default

    @property
    def env_prefix(self) -> str:
        """``UPLOADER_<NAME>_`` with NAME upper-cased and ``-`` as ``_``."""
        return "UPLOADER_" + re.sub(r"[^A-Za-z0-9]", "_", self.name).upper() + "_"


@dataclass(frozen=True, eq=False, repr=False)  # lean: startup matters
class Config:
    """The effective configuration (file plus environment)."""

    path: Path
    exists: bool
    default_provider: str | None = None
    defaults: Defaults = field(default_factory=Defaults)
    profiles: tuple[Profile, ...] = ()
    default_source: str = "default_provider in the config file"
    # [state]: where the rate-limit state lives (the file store, or Redis).
    state: StateSettings = field(default_factory=StateSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)

    def profile(self, name: str | None) -> Profile:
        """The profile called ``name`` (or the default one); ConfigError if there is none."""
        if name == "":  # `-p "$UNSET"`, `auth logout ""`: never the default one instead
            raise ConfigError(
                "'' is not a profile name",
                hint="name a profile ("
                + (", ".join(p.name for p in self.profiles) or "none")
                + "), or leave the option out for the default one",
            )
        chosen = name or self.default_provider
        if chosen is None:
            if len(self.profiles) == 1:
                return self.profiles[0]
            if not self.exists:
                raise ConfigError(
                    f"no configuration file at {self.path}",
                    hint="run `uploader config init` to create one, then add your client_id",
                )
            raise ConfigError(
                f"{self.path}: no provider chosen",
                hint="pass --provider NAME or set default_provider in the config file",
            )
        for profile in self.profiles:
            if profile.name == chosen:
                if profile.problem is not None:
                    raise profile.problem
                if profile.placeholder:
                    raise ConfigError(
                        profile.placeholder,
                        hint="put an Imgur client id you already have there, or set "
                        f"{profile.env_prefix}CLIENT_ID (Imgur registers no new apps since "
                        "2025: without one, use a Gyazo token or a Mastodon account)",
                    )
                return profile
        known = ", ".join(p.name for p in self.profiles) or "none"
        named = "" if name else f" (from {self.default_source})"
        if not self.exists:
            raise ConfigError(
                f"unknown provider {chosen!r}{named}: no configuration file at {self.path}",
                hint="run `uploader config init` to create one",
            )
        raise ConfigError(
            f"unknown provider {chosen!r}{named} (configured: {known})",
            hint=f"add a [providers.{chosen}] table to {self.path}",
        )


def config_path(explicit: str | None, env: Mapping[str, str]) -> Path:
    """``--config``, else ``$UPLOADER_CONFIG``, else ``$XDG_CONFIG_HOME/uploader/config.toml``."""
    if explicit:
        return Path(explicit).expanduser()
    if env.get("UPLOADER_CONFIG"):
        return Path(env["UPLOADER_CONFIG"]).expanduser()
    return paths.config_dir(env) / "config.toml"


# A config file is a few kB; anything over this is not one (a device, a wrong path).
LARGEST_CONFIG = 1 << 20


def load_config(explicit: str | None, env: Mapping[str, str]) -> Config:
    """Read and validate the config file (a missing file gives an empty config)."""
    path = config_path(explicit, env)
    try:
        with path.open("rb") as fh:  # bounded: `--config /dev/zero` must not run forever
            raw = fh.read(LARGEST_CONFIG + 1)
        if len(raw) > LARGEST_CONFIG:
            raise ConfigError(f"{path}: is over {LARGEST_CONFIG >> 20} MiB: not a config file")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        if explicit or env.get("UPLOADER_CONFIG"):
            raise ConfigError(
                f"{path}: no such config file", hint="run `uploader config init`"
            ) from None
        return _apply_env(Config(path=path, exists=False), env)
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: config file is not UTF-8 text") from exc
    return _apply_env(parse_config(text, path), env)


def parse_config(text: str, path: Path) -> Config:
    """Parse and validate config text; errors name ``path``, the line and the key."""
    where = Locator(text, path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise where.syntax_error(str(exc)) from exc
    _only_keys(data, ("default_provider", "defaults", "providers", "state", "serve"), (), where)
    default_provider = data.get("default_provider")
    if default_provider is not None and not isinstance(default_provider, str):
        raise where.error((), "default_provider", "must be a string")
    defaults = _parse_defaults(_table(data, "defaults", where), where)
    raw_profiles = _table(data, "providers", where)
    profiles = tuple(_parse_profile(name, value, where) for name, value in raw_profiles.items())
    names = {p.name for p in profiles}
    if default_provider is not None and default_provider not in names:
        raise where.error(
            (), "default_provider", f"names {default_provider!r}, which has no [providers] table"
        )
    return Config(
        path=path,
        exists=True,
        default_provider=default_provider,
        defaults=defaults,
        profiles=profiles,
        state=_parse_state(_table(data, "state", where), where),
        serve=parse_serve(_table(data, "serve", where), where),
    )


STATE_SPEC: Mapping[str, OptionSpec] = {
    "backend": OptionSpec(str),
    "on_backend_error": OptionSpec(str, choices=ON_BACKEND_ERROR),
}


def _parse_state(raw: dict[str, Any], where: Locator) -> StateSettings:
    table = ("state",)
    _only_keys(raw, tuple(STATE_SPEC), table, where)
    values = {key: _check(STATE_SPEC[key], raw[key], table, key, where) for key in raw}
    backend = values.get("backend", "file")
    if backend != "file":
        try:
            parse_redis_url(backend, "backend")
        except ConfigError as exc:
            why = exc.message.removeprefix("backend: ")
            raise ConfigError(where.error(table, "backend", why).message, hint=HINT) from None
    return replace(StateSettings(), **values)


def _table(data: Mapping[str, Any], key: str, where: Locator) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise where.error((), key, "must be a table")
    return value


def _only_keys(
    data: Mapping[str, Any], allowed: tuple[str, ...], table: tuple[str, ...], where: Locator
) -> None:
    for key in data:
        if key not in allowed:
            raise ConfigError(
                where.error(table, key, "is not a known setting").message,
                hint="known keys here: " + ", ".join(allowed),
            )


# More workers than this only queue on the rate limiter and the connection pool.
MAX_JOBS = 32

# A wait or timeout longer than a year is a typo, and beyond what sleep() can take.
LONGEST = 365 * 86400.0

# bytes/s: a low-speed limit over 1 TB/s would give up every transfer (a typo).
FASTEST = 1e12

# The one validator of each ``[defaults]`` value: the file, its ``UPLOADER_*`` variable and
# the flag are all checked against this (see :func:`problem`).
DEFAULTS_SPEC: Mapping[str, OptionSpec] = {
    "format": OptionSpec(str, choices=FORMATS),
    "on_limit": OptionSpec(str, choices=ON_LIMIT),
    "max_wait": OptionSpec(float, minimum=0, maximum=LONGEST),
    "retries": OptionSpec(int, minimum=1),
    "retry_max_time": OptionSpec(float, minimum=0, maximum=LONGEST),
    "retry_ambiguous": OptionSpec(bool),
    "skip_existing": OptionSpec(bool),
    "history": OptionSpec(bool),
    "strip_metadata": OptionSpec(bool),
    "jobs": OptionSpec(int, minimum=1, maximum=MAX_JOBS),
    "connect_timeout": OptionSpec(float, minimum=0.1, maximum=LONGEST),
    "read_timeout": OptionSpec(float, minimum=0.1, maximum=LONGEST),
    "write_timeout": OptionSpec(float, minimum=0.1, maximum=LONGEST),
    "pool_timeout": OptionSpec(float, minimum=0.1, maximum=LONGEST),
    # curl's low-speed rule (http/lowspeed.py): 0 in either turns it off.
    "low_speed_limit": OptionSpec(int, minimum=0, maximum=FASTEST),
    "low_speed_time": OptionSpec(float, minimum=0, maximum=LONGEST),
}


def _parse_defaults(raw: dict[str, Any], where: Locator) -> Defaults:
    table = ("defaults",)
    _only_keys(raw, tuple(DEFAULTS_SPEC), table, where)
    values = {key: _check(DEFAULTS_SPEC[key], raw[key], table, key, where) for key in raw}
    return replace(Defaults(), **values)


def _parse_profile(name: str, raw: Any, where: Locator) -> Profile:
    table = ("providers", name)
    if not name or not name.isprintable():
        # It is printed on its own line (limits, auth status) and typed after -p.
        raise where.error(
            ("providers",), name, "is not a profile name: empty, or with a control character"
        )
    if not isinstance(raw, dict):
        raise where.error(("providers",), name, "must be a table")
    kind = raw.get("kind")
    if kind is None:
        raise ConfigError(
            where.error(table, "", "has no 'kind'").message,
            hint='add kind = "imgur", "gyazo", "mastodon" or "custom"',
        )
    if kind not in KINDS:
        raise ConfigError(
            where.error(table, "kind", f"is {kind!r}, not a known provider kind").message,
            hint="kind must be one of: " + ", ".join(sorted(KINDS)),
        )
    kind_spec = KINDS[kind]
    allowed = {**COMMON, **kind_spec.options}
    _only_keys(raw, tuple(allowed), table, where)
    values = {key: _check(allowed[key], raw[key], table, key, where) for key in raw}
    if kind == "custom":
        from uploader.config.custom import custom_profile  # start-up: custom profiles only

        return custom_profile(name, values, where)
    base_url = str(values.pop("base_url", kind_spec.default_base_url)).rstrip("/")
    check_url(base_url, where.prefix(table, "base_url"), ".".join((*table, "base_url")))
    for key, opt in kind_spec.options.items():
        if opt.is_url and key in values:
            values[key] = str(values[key]).rstrip("/")
            check_url(values[key], where.prefix(table, key), ".".join((*table, key)))
        elif key.endswith("_url") and key in values and "@" in urlsplit(values[key]).netloc:
            # Not a server of ours (Gyazo's referer_url is metadata), but shown and sent.
            raise where.error(table, key, "has a user name or password in it (before '@')")
    values.pop("kind")
    auth = str(values.pop("auth", "auto"))
    client_id = values.pop("client_id", None)
    if client_id is not None and text_problem(client_id):
        raise where.error(table, "client_id", str(text_problem(client_id)))
    placeholder = None
    if client_id in PLACEHOLDERS:
        placeholder = where.error(
            table, "client_id", f"is still the starter config's placeholder {client_id!r}"
        ).message
    return Profile(
        name=name,
        kind=kind,
        base_url=base_url,
        auth=auth,
        client_id=str(client_id) if client_id is not None else None,
        options=tuple(sorted(values.items())),
        placeholder=placeholder,
    )


def _check(spec: OptionSpec, value: Any, table: tuple[str, ...], key: str, where: Locator) -> Any:
    if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    why = problem(spec, value)
    if why:
        raise where.error(table, key, why)
    return value


def _apply_env(config: Config, env: Mapping[str, str]) -> Config:
    """A client id from ``UPLOADER_<NAME>_CLIENT_ID`` replaces the starter's placeholder.

    The ``[defaults]`` values and the profile choice have their variables on the command
    line's options (``UPLOADER_FORMAT`` ...), where click resolves them.
    """
    profiles = tuple(
        replace(p, placeholder=None) if p.placeholder and env.get(p.env_prefix + "CLIENT_ID") else p
        for p in config.profiles
    )
    return replace(config, profiles=profiles, state=state_settings(config.state, env))


def with_default_provider(config: Config, name: str, source: str) -> Config:
    """``config`` with the profile ``name`` as its default; errors about it name ``source``
    (e.g. "environment variable UPLOADER_PROVIDER")."""
    return replace(config, default_provider=name, default_source=source)
