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

import copy
import fcntl
import hashlib
import logging
import os
import stat
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uploader.auth.sources import from_command, refuse_unsendable
from uploader.config import paths
from uploader.errors import AuthError

if TYPE_CHECKING:
    from uploader.config.settings import Profile

log = logging.getLogger("uploader.auth.credentials")

# The one list of credential names. A profile's credentials, each also read from
# UPLOADER_<NAME>_<KEY> (upper-cased); client_id is public (Imgur sends it in the clear)
# but is configured, and masked in `config show`, like the others.
CREDENTIALS = ("access_token", "client_id", "client_secret", "refresh_token")
SECRETS = tuple(name for name in CREDENTIALS if name != "client_id")
# What a sign-in stores about its token (``auth logout`` removes all of it).
TOKEN_FIELDS = (
    "access_token",
    "refresh_token",
    "expires_at",
    "account_username",
    "token_type",
    "scope",
    "created_at",
)
# Seconds a writer waits for another one; a refresh (one HTTP call) runs under the lock.
LOCK_TIMEOUT = 90.0


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

    def __post_init__(self) -> None:
        refuse_unsendable(self.secret, "credential", self.source)

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
    """``credentials.toml``: one table per profile, ``[apps."<base url>"]`` for Mastodon.

    Readers never lock: a write goes to a private temporary file in the same directory
    (mode 0600), is flushed to disk, and replaces the store in one ``os.replace``, so a
    reader sees the old file or the new one, never a part. Writers take an exclusive
    ``flock`` on ``credentials.toml.lock`` for the whole read-modify-write, so concurrent
    updates are never lost; the wait for it is bounded by ``lock_timeout``. A temporary
    file left by a writer that crashed is removed by the next writer (it holds secrets).
    """

    def __init__(self, path: Path, *, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.path = path
        self.lock_timeout = lock_timeout

    def _refuse_if_shared(self, mode: int) -> None:
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise AuthError(
                f"{self.path}: credential file is readable by others "
                f"(mode {stat.S_IMODE(mode):03o}); refusing to use it",
                hint=f"chmod 600 {self.path}",
            )

    def load(self) -> dict[str, Any]:
        try:
            # The mode is checked on the open file, so it is the file that is read.
            # O_NONBLOCK: a FIFO put there must not hang the run (it is refused below).
            flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise AuthError(f"{self.path}: cannot read the credential file ({_why(exc)})") from exc
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                _warn_once(
                    f"{self.path} is not a file (a directory?): no stored credentials are "
                    "used; remove or rename it"
                )
                return {}
            self._refuse_if_shared(mode)
            with os.fdopen(fd, "rb", closefd=False) as fh:
                raw = fh.read()
        except OSError as exc:
            raise AuthError(f"{self.path}: cannot read the credential file ({_why(exc)})") from exc
        finally:
            os.close(fd)
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            raise AuthError(
                f"{self.path}: the credential file is not valid TOML",
                hint="fix or delete it, then sign in again",
            ) from None
        for key in ("profiles", "apps"):
            if not isinstance(data.get(key, {}), dict):
                raise AuthError(
                    f"{self.path}: {key!r} in the credential file is not a table",
                    hint="fix or delete it, then sign in again",
                )
        head = raw.decode("utf-8").strip()
        if not data and head != HEADER and HEADER.startswith(head):
            # What a write cut short leaves (ours always holds the whole header line).
            _warn_once(
                f"{self.path} is empty or cut short: no stored credentials are used; "
                "sign in again (`uploader auth login NAME`)"
            )
        return data

    def _private_dir(self) -> Path:
        directory = self.path.parent
        try:
            paths.ensure_private_dir(directory)
            if stat.S_IMODE(directory.stat().st_mode) & 0o077:
                os.chmod(directory, 0o700)  # ours; mkdir's mode is masked, or it predates us
        except OSError as exc:
            raise AuthError(
                f"{directory}: cannot prepare the credential directory ({_why(exc)})"
            ) from exc
        return directory

    def _lock(self, fd: int) -> None:
        """Take the writers' lock, waiting at most ``lock_timeout`` seconds."""
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise AuthError(
                        f"{self.path}: another uploader process has held the credential "
                        f"store's lock for over {self.lock_timeout:g} s",
                        hint="wait for it to finish (see `ps`), then try again",
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
            except OSError as exc:  # e.g. ENOLCK on a network file system
                raise AuthError(
                    f"{self.path}: cannot lock the credential store ({_why(exc)})"
                ) from exc

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write under the lock; the new content is written only when the
        body returns normally and changed something."""
        directory = self._private_dir()
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as exc:
            raise AuthError(f"{lock_path}: cannot open the lock file ({_why(exc)})") from exc
        try:
            self._lock(fd)
            self._remove_stale_temporaries(directory)
            data = self.load()
            before = copy.deepcopy(data)
            yield data
            if data != before:
                self._write(data)
        finally:
            os.close(fd)  # releases the lock

    def _temporary_prefix(self) -> str:
        return f".{self.path.name}."

    def _remove_stale_temporaries(self, directory: Path) -> None:
        """Only a lock holder writes a temporary file, so under the lock any is stale."""
        prefix = self._temporary_prefix()
        for leftover in directory.glob(f"{prefix}*.tmp"):
            try:
                leftover.unlink()
            except OSError:
                log.debug("could not remove a stale temporary credential file")

    def _write(self, data: dict[str, Any]) -> None:
        import tomli_w  # start-up: only a write needs it; the hotkey path only reads

        text = HEADER + "\n" + tomli_w.dumps(data)
        tmp = self.path.with_name(
            f"{self._temporary_prefix()}{os.getpid()}.{os.urandom(4).hex()}.tmp"
        )
        try:
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600
            )
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(text.encode("utf-8"))
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            _fsync_directory(self.path.parent)
        except OSError as exc:
            raise AuthError(
                f"{self.path}: cannot write the credential file ({_why(exc)}); "
                "it was left as it was"
            ) from exc

    def get(self, name: str) -> dict[str, Any]:
        table = self.load().get("profiles", {}).get(name, {})
        if not isinstance(table, dict):
            _warn_once(
                f"{self.path}: profiles.{name} is not a table: its stored credentials are "
                f"ignored; fix it or sign in again (`uploader auth login {name}`)"
            )
            return {}
        return dict(table)

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
        ``do_refresh(refresh_token)`` runs and its answer is stored (a key answered None is
        removed: the old token's expiry is not the new one's). Two processes refreshing at
        the same moment thus make one refresh and both end with the newer token.
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
            for key, value in answer.items():
                if value is None:
                    table.pop(key, None)
                else:
                    table[key] = value
            return str(table["access_token"])


HEADER = "# uploader credentials: secrets, keep private (mode 0600)"
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX: fsync the directory); best effort, since
    some file systems refuse to open or sync a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def store_for(env: Mapping[str, str]) -> CredentialStore:
    return CredentialStore(paths.config_dir(env) / "credentials.toml")


def resolve_secret(profile: Profile, name: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    """(value, where it came from) for one secret of a profile, or None."""
    var = profile.env_prefix + name.upper()
    value = env.get(var, "").strip()
    if value:
        source = f"environment variable {var}"
    elif name == "access_token" and profile.option("access_token_command"):
        command = str(profile.option("access_token_command"))
        value = from_command(profile, command)
        source = f"access_token_command `{Path(command.split(maxsplit=1)[0]).name}`"
    else:
        store = store_for(env)
        value = str(store.get(profile.name).get(name, "")).strip()
        source = f"credential store {store.path}"
    if not value:
        return None
    refuse_unsendable(value, name.replace("_", " "), source, profile.name)
    log.info("%s: %s from %s", profile.name, name, source)
    return value, source
