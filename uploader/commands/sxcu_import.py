"""``uploader config import-sxcu FILE``: a ShareX custom uploader as a ``kind = "custom"``
profile.

The definition is checked (``providers/sxcu.py``: interactive templates and body types that
carry no file are refused, unknown keys reported), its secrets moved to the credential
store (a header, argument or parameter whose name looks secret: ``Authorization``,
``*key*``, ``*token*``, ``*secret*``, ``*pass*``, ``*auth*``, ``*cookie*``, ``*session*``,
``*credential*``, ``*pwd*``, ``*jwt*``, ``*signature*``, or whose value is written with an
auth scheme, ``Bearer ...``, ``Basic ...``; each value also wherever else
it appears verbatim, e.g. in the DeletionURL) and replaced by ``{secret:NAME}``, and a
``[providers.NAME]`` table with the keys inline appended to the config file: its text and
comments are kept, and only that table is replaced with ``--force``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from uploader.auth.credentials import store_for
from uploader.config.custom import SECRET_NAME
from uploader.config.example import replace_config
from uploader.config.settings import config_path, parse_config
from uploader.errors import ConfigError, UsageError
from uploader.providers.sxcu import CustomSpec, load_sxcu

SCHEMES = re.compile(r"^(Bearer|Token|Basic|Client-ID|Key|Api-Key)\s+(\S+)$", re.IGNORECASE)
PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
SHORTEST_SECRET = 4  # shorter values are not looked for elsewhere in the definition


class Imported(NamedTuple):
    """What the import did: the lines to print, and the definition's notices."""

    lines: list[str]
    warnings: list[str]


def import_sxcu(
    file: Path, *, name: str | None, force: bool, explicit: str | None, env: Mapping[str, str]
) -> Imported:
    """Check ``file``, store its secrets and append its profile to the config file."""
    spec = load_sxcu(file)
    profile = name if name is not None else _default_name(spec, file)
    if not PROFILE_NAME.fullmatch(profile):
        raise UsageError(
            f"{profile!r} is not a usable profile name",
            hint="--name NAME: lower-case letters, digits, '-' and '_' (e.g. --name myhost)",
        )
    secrets, table = _table_of(spec)
    target = config_path(explicit, env)
    old = _read_config(target)
    kept = _without_profile(old, profile, target, force=force)
    addition = _profile_text(profile, table, file)
    new_text = (kept.rstrip("\n") + "\n\n" if kept.strip() else kept) + addition
    config = parse_config(new_text, target)  # what would be written loads: never half-good
    config.profile(profile)  # and the new profile is usable (its host, its definition)
    lines = []
    if secrets:
        store = store_for(env)
        store.update(profile, **secrets)
        lines.append(
            f"stored {len(secrets)} secret(s) of {profile!r} in {store.path}: "
            + ", ".join(sorted(secrets))
            + " (the config holds {secret:NAME} in their place)"
        )
    replace_config(target, new_text)
    replaced = " (replacing the old one)" if force and kept != old else ""
    lines.insert(0, f"wrote profile {profile!r} ({spec.name}) to {target}{replaced}")
    config_flag = f" --config {explicit}" if explicit else ""
    lines.append(f"try it: uploader{config_flag} upload -p {profile} shot.png")
    return Imported(lines, list(spec.notices))  # each names the file already


def _default_name(spec: CustomSpec, file: Path) -> str:
    for text in (spec.name, file.stem):
        slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63]
        if slug and PROFILE_NAME.fullmatch(slug):
            return slug
    return "custom"


def _table_of(spec: CustomSpec) -> tuple[dict[str, str], dict[str, Any]]:
    """(secret name -> value, the profile's table with ``{secret:NAME}`` in their place)."""
    secrets: dict[str, str] = {}  # name -> value
    by_value: dict[str, str] = {}  # value -> name

    def secret_ref(key: str, value: str) -> str:
        if "{" in value or "}" in value or not value.strip():
            return value  # a template, not a literal secret
        scheme = SCHEMES.match(value.strip())
        literal = scheme.group(2) if scheme else value.strip()
        if literal not in by_value:
            base = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_") or "secret"
            chosen, n = base, 2
            while chosen in secrets:
                chosen, n = f"{base}_{n}", n + 1
            secrets[chosen], by_value[literal] = literal, chosen
        ref = "{secret:" + by_value[literal] + "}"
        return f"{scheme.group(1)} {ref}" if scheme else ref

    pairs: dict[str, dict[str, str]] = {}
    for key, items in (
        ("Headers", spec.headers),
        ("Arguments", spec.arguments),
        ("Parameters", spec.parameters),
    ):
        pairs[key] = {
            # A secret-looking name, or a value written as one (``Bearer ...``) under any.
            n: (secret_ref(n, v) if SECRET_NAME.search(n) or SCHEMES.match(v.strip()) else v)
            for n, v in items
        }

    def hide(text: str) -> str:
        for value, secret in sorted(by_value.items(), key=lambda item: -len(item[0])):
            if len(value) >= SHORTEST_SECRET:
                text = text.replace(value, "{secret:" + secret + "}")
        return text

    table: dict[str, Any] = {"kind": "custom"}
    plain = {
        "Version": _current_version(spec.version),
        "Name": spec.name,
        "DestinationType": ", ".join(spec.destination_types),
        "RequestMethod": spec.method,
        "RequestURL": spec.request_url,
        "Body": spec.body,
        "FileFormName": spec.file_form_name,
        "Data": spec.data,
        "URL": spec.url,
        "ThumbnailURL": spec.thumbnail_url,
        "DeletionURL": spec.deletion_url,
        "ErrorMessage": spec.error_message,
    }
    for key, value in plain.items():
        if value:
            table[key] = value if key in ("Version", "Name") else hide(value)
    for key, mapping in pairs.items():
        if mapping:
            table[key] = {n: hide(v) for n, v in mapping.items()}
    return secrets, table


# ShareX 14 wrote templates as {json:...}; files up to 13.7.1 use $json:...$ and are
# converted when read: the table holds the converted text, so it must not say 13.x.
FIRST_CURRENT = "14.0.0"


def _current_version(version: str | None) -> str | None:
    """The Version the written table declares: the file's, unless it names the old syntax
    (the templates written are the converted, current ones)."""
    if version is None:
        return None
    numbers = re.match(r"\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?", version)
    if numbers is None:
        return version
    parsed = tuple(int(n or 0) for n in numbers.groups())
    return version if parsed > (13, 7, 1) else FIRST_CURRENT


def _read_config(path: Path) -> str:
    if not path.exists():
        return ""
    if not path.is_file():
        raise ConfigError(f"{path}: is not a regular file; nothing was written")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from None


def _header_names(line: str) -> list[str] | None:
    """The dotted names of a ``[table]`` header line (None for any other line)."""
    found = re.match(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$", line)
    if found is None:
        return None
    try:
        parsed = tomllib.loads(f"[{found.group(1)}]\n")
    except tomllib.TOMLDecodeError:
        return None
    names: list[str] = []
    while isinstance(parsed, dict) and len(parsed) == 1:
        key = next(iter(parsed))
        names.append(key)
        parsed = parsed[key]
    return names


def _without_profile(text: str, name: str, path: Path, *, force: bool) -> str:
    """``text`` without the ``[providers.NAME]`` table (and its sub-tables); an error when
    it is there without ``force``, or written so that it cannot be cut out line by line."""
    try:
        existing = tomllib.loads(text).get("providers", {})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: is not valid TOML ({exc}); nothing was written", hint="fix it first"
        ) from None
    if not isinstance(existing, dict) or name not in existing:
        return text
    if not force:
        raise ConfigError(
            f"{path}: profile {name!r} exists already; nothing was written",
            hint="--force replaces that table, or --name OTHER imports it beside it",
        )
    kept: list[str] = []
    inside = False
    for line in text.splitlines(keepends=True):
        names = _header_names(line)
        if names is not None:
            inside = names[:2] == ["providers", name]
        if not inside:
            kept.append(line)
    result = "".join(kept)
    try:
        left = tomllib.loads(result).get("providers", {})
    except tomllib.TOMLDecodeError:
        left = {name: None}
    if name in left:
        raise ConfigError(
            f"{path}: profile {name!r} is not written as a [providers.{name}] table; "
            "nothing was written",
            hint="remove it by hand, then import again",
        )
    return result


def _profile_text(name: str, table: dict[str, Any], file: Path) -> str:
    import tomli_w  # start-up: only this command writes TOML

    body = tomli_w.dumps({"providers": {name: table}})
    return f"# imported from {file.name} by `uploader config import-sxcu`\n{body}"
