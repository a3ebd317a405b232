"""Credentials: where each secret comes from, the store that keeps them, and a safe identity.

Sources, first found wins: the environment (``UPLOADER_<NAME>_ACCESS_TOKEN``,
``_CLIENT_ID``, ``_CLIENT_SECRET``), a command whose standard output is the secret
(``access_token_command = "pass show imgur"``), then the credential store: a TOML file next
to the config (``credentials.toml``), mode 0600 in a 0700 directory, written atomically
under a lock. Like ssh, the tool refuses a store that group or others may read.
A :class:`Credential` never shows its secret in ``repr``; code that needs a stable key for a
credential (rate-limit state, cache entries) uses :attr:`Credential.identity`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uploader.errors import AuthError

if TYPE_CHECKING:
    from uploader.config import Profile

log = logging.getLogger("uploader.credentials")

SECRET_NAMES = ("access_token", "client_id", "client_secret", "refresh_token")


@dataclass(frozen=True, eq=False, repr=False)  # lean: startup matters
class Credential:
    """One secret and how to send it.

    ``scheme`` is the Authorization scheme (``Client-ID`` or ``Bearer``); ``source`` says
    where the secret came from, for ``-v`` output (never the value itself).
    """

    scheme: str
    secret: str = field(repr=False)
    source: str = "unknown"
    refreshable: bool = False
    # What identifies the credential across refreshes (else the secret itself).
    key: str | None = None

    @property
    def identity(self) -> str:
        """A short hash naming this credential without revealing it."""
        basis = self.key or self.secret
        digest = hashlib.sha256(f"{self.scheme}\0{basis}".encode()).hexdigest()
        return digest[:24]

    def authorization(self) -> str:
        return f"{self.scheme} {self.secret}"

    def __repr__(self) -> str:
        return f"Credential(scheme={self.scheme!r}, source={self.source!r})"


def mask(secret: str) -> str:
    """What may be shown of a secret: its length only, plus the last two characters."""
    if len(secret) <= 8:
        return "****"
    return "****" + secret[-2:]


class CredentialStore:
    """``credentials.toml``: one table per profile, ``[apps."<base url>"]`` for Mastodon."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _check_mode(self) -> None:
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise AuthError(
                f"{self.path}: credential file is readable by others "
                f"(mode {stat.S_IMODE(mode):03o}); refusing to use it",
                hint=f"chmod 600 {self.path}",
            )

    def load(self) -> dict[str, Any]:
        import tomllib

        self._check_mode()
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise AuthError(
                f"{self.path}: cannot read the credential file ({exc.strerror})"
            ) from exc
        try:
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            raise AuthError(
                f"{self.path}: the credential file is not valid TOML",
                hint="fix or delete it, then sign in again",
            ) from None
        return data

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        import fcntl

        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self.load()
            yield data
            self._write(data)
        finally:
            os.close(fd)

    def _write(self, data: dict[str, Any]) -> None:
        import tomli_w

        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{os.urandom(4).hex()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write("# uploader credentials: secrets, keep private (mode 0600)\n")
                fh.write(tomli_w.dumps(data))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def get(self, name: str) -> dict[str, Any]:
        table = self.load().get("profiles", {}).get(name, {})
        return dict(table) if isinstance(table, dict) else {}

    def update(self, name: str, **changes: Any) -> None:
        with self._locked() as data:
            table = data.setdefault("profiles", {}).setdefault(name, {})
            table.update({k: v for k, v in changes.items() if v is not None})

    def remove(self, name: str, keys: tuple[str, ...] | None = None) -> list[str]:
        """Remove the profile's secrets (or only ``keys``); returns what was removed."""
        with self._locked() as data:
            table = data.get("profiles", {}).get(name, {})
            removed = [k for k in table if keys is None or k in keys]
            for key in removed:
                del table[key]
            if not table:
                data.get("profiles", {}).pop(name, None)
        return removed

    def get_app(self, base_url: str) -> dict[str, Any] | None:
        found = self.load().get("apps", {}).get(base_url)
        return dict(found) if isinstance(found, dict) else None

    def set_app(self, base_url: str, **fields: Any) -> None:
        with self._locked() as data:
            data.setdefault("apps", {})[base_url] = fields

    def refresh_once(
        self, name: str, seen_token: str, do_refresh: Callable[[str], Mapping[str, Any]]
    ) -> str:
        """Refresh the access token unless another process already did.

        Under the lock: re-read; if the stored access token differs from ``seen_token``,
        someone refreshed meanwhile and that newer token is returned; otherwise
        ``do_refresh(refresh_token)`` runs and its answer is stored. Two processes refreshing
        at the same moment thus make one refresh and both end with the newer token.
        """
        with self._locked() as data:
            table = data.setdefault("profiles", {}).setdefault(name, {})
            current = str(table.get("access_token", ""))
            if current and current != seen_token:
                return current
            refresh = table.get("refresh_token")
            if not refresh:
                raise AuthError(
                    f"profile {name!r}: the token expired and there is no refresh token",
                    hint=f"sign in again: uploader auth login {name}",
                )
            answer = do_refresh(str(refresh))
            table.update({k: v for k, v in answer.items() if v is not None})
            return str(table["access_token"])


def store_for(env: Mapping[str, str]) -> CredentialStore:
    from uploader import paths

    return CredentialStore(paths.config_dir(env) / "credentials.toml")


def _from_command(profile: Profile, command: str) -> str:
    import shlex
    import subprocess

    args = shlex.split(command)
    program = Path(args[0]).name if args else "?"
    try:
        done = subprocess.run(args, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AuthError(
            f"profile {profile.name!r}: access_token_command `{program}` failed "
            f"to run ({type(exc).__name__})"
        ) from None
    if done.returncode != 0:
        raise AuthError(
            f"profile {profile.name!r}: access_token_command `{program}` exited "
            f"with {done.returncode}"
        )
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    secret = lines[0].strip() if lines else ""
    if not secret:
        raise AuthError(
            f"profile {profile.name!r}: access_token_command `{program}` printed nothing"
        )
    return secret


def resolve_secret(profile: Profile, name: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    """(value, where it came from) for one secret of a profile, or None."""
    var = profile.env_prefix + name.upper()
    value = env.get(var, "").strip()
    if value:
        source = f"environment variable {var}"
    elif name == "access_token" and profile.option("access_token_command"):
        command = str(profile.option("access_token_command"))
        value = _from_command(profile, command)
        source = f"access_token_command `{Path(command.split(maxsplit=1)[0]).name}`"
    else:
        store = store_for(env)
        value = str(store.get(profile.name).get(name, "")).strip()
        source = f"credential store {store.path}"
    if not value:
        return None
    log.info("%s: %s from %s", profile.name, name, source)
    return value, source
