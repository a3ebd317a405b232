"""The ``auth`` commands' core: set-token, status and logout (no click here)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping

from uploader.auth.credentials import SECRETS, TOKEN_FIELDS, resolve_secret, store_for
from uploader.auth.sources import refuse_unsendable
from uploader.config.settings import Config, Profile
from uploader.errors import UploaderError, UsageError
from uploader.timewords import span


def set_token(config: Config, name: str, token: str, env: Mapping[str, str]) -> list[str]:
    """Store a personal access token (e.g. from Gyazo's developer page) for ``name``."""
    profile = config.profile(name)
    if not token:
        raise UsageError("no token given", hint="paste the token when asked, or pipe it in")
    # Refused here, not stored: every later command would fail on it (exit 3 each time).
    refuse_unsendable(token, "access token", "standard input", profile.name)
    store = store_for(env)
    store.update(
        profile.name,
        access_token=token,
        token_type="bearer",  # noqa: S106 - a token type, not a secret
        created_at=time.time(),
    )
    lines = [f"stored an access token for {profile.name!r} in {store.path}"]
    var = profile.env_prefix + "ACCESS_TOKEN"
    if env.get(var):
        lines.append(f"note: {var} is set and takes precedence over the stored token")
    return lines


def set_secret(
    config: Config, name: str, secret: str, value: str, env: Mapping[str, str]
) -> list[str]:
    """Store the value of a custom profile's ``{secret:SECRET}``."""
    profile = config.profile(name)
    if not re.fullmatch(r"[A-Za-z0-9_]+", secret):
        raise UsageError(
            f"{secret!r} is not a secret name a custom profile can use",
            hint="the NAME of a {secret:NAME} in the profile: letters, digits and '_'",
        )
    if not value:
        raise UsageError("no value given", hint="paste it when asked, or pipe it in")
    refuse_unsendable(value, f"secret {secret}", "standard input", profile.name)
    store = store_for(env)
    store.update(profile.name, **{secret: value})
    lines = [f"stored the secret {secret!r} of {profile.name!r} in {store.path}"]
    var = profile.env_prefix + secret.upper()
    if env.get(var):
        lines.append(f"note: {var} is set and takes precedence over the stored value")
    return lines


def status(
    config: Config,
    name: str | None,
    env: Mapping[str, str],
    verify: Callable[[Profile], str] | None,
    now: float | None = None,
) -> list[str]:
    now = time.time() if now is None else now
    profiles = [config.profile(name)] if name else list(config.profiles)
    if not profiles:
        config.profile(None)
    lines: list[str] = []
    store = store_for(env)
    for profile in profiles:
        found = resolve_secret(profile, "access_token", env)
        stored = store.get(profile.name)
        head = f"{profile.name} ({profile.kind}, {profile.base_url}): "
        if profile.kind == "custom":  # no sign-in: the {secret:NAME}s the store holds
            names = ", ".join(sorted(stored)) or "none (anonymous, or UPLOADER_* variables)"
            lines.append(head + f"secrets in the credential store: {names}")
            continue
        if found is None:
            client = profile.client_id or resolve_secret(profile, "client_id", env)
            if profile.placeholder:
                state = "not signed in; client_id is still the starter config's placeholder"
            elif client and profile.kind == "imgur":
                state = "not signed in; anonymous uploads with the client id"
            else:
                state = "not signed in"
            lines.append(head + state)
            continue
        _, source = found
        parts = [f"token from {source}"]
        if stored.get("account_username"):
            parts.append(f"account {stored['account_username']}")
        created = stored.get("created_at")
        if isinstance(created, int | float) and "credential store" in source:
            parts.append(f"signed in {span(now - created)} ago")
        expires = stored.get("expires_at")
        if isinstance(expires, int | float) and "credential store" in source:
            left = expires - now
            parts.append(
                f"expires in {span(left)}"
                if left > 0
                else f"expired {span(left)} ago"
                + (" (will be refreshed)" if stored.get("refresh_token") else "")
            )
        elif "credential store" in source:
            parts.append("does not expire")
        if verify is not None:
            try:
                parts.append(verify(profile))
            except UploaderError as exc:
                parts.append(f"check failed: {exc.message}")
        lines.append(head + "; ".join(parts))
    return lines


def logout(
    config: Config,
    name: str | None,
    env: Mapping[str, str],
    revoke: Callable[[Profile, str], str] | None,
) -> list[str]:
    profile = config.profile(name)
    lines: list[str] = []
    store = store_for(env)
    stored = store.get(profile.name)
    token = stored.get("access_token")
    if token and revoke is not None:
        try:
            lines.append(revoke(profile, str(token)))
        except UploaderError as exc:
            lines.append(f"could not revoke the token on the server: {exc.message}")
    # A custom profile's stored values are all its {secret:NAME}s.
    removed = store.remove(profile.name, None if profile.kind == "custom" else TOKEN_FIELDS)
    custom = profile.kind == "custom"
    secrets_removed = [k.replace("_", " ") for k in removed if custom or k in SECRETS]
    if secrets_removed:
        lines.append(f"removed the local {' and '.join(secrets_removed)} for {profile.name!r}")
    else:
        lines.append(f"no stored token for {profile.name!r}")
    var = profile.env_prefix + "ACCESS_TOKEN"
    if env.get(var):
        lines.append(f"{var} is still set in the environment: unset it to sign out fully")
    return lines
