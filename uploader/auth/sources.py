"""Where a secret comes from besides the store: a command (``access_token_command``), and
the check that a secret can be sent at all, wherever it came from."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from uploader.config.checks import text_problem
from uploader.errors import AuthError

if TYPE_CHECKING:
    from uploader.config.settings import Profile


def refuse_unsendable(value: str, what: str, source: str, profile: str | None = None) -> None:
    """AuthError (exit 3) naming ``source`` when ``value`` cannot go into an HTTP header:
    refused here, before any request, instead of failing on the way out."""
    why = text_problem(value)
    if why:
        owner = f"profile {profile!r}: " if profile else ""
        raise AuthError(
            f"{owner}the {what} from {source} {why}, so it cannot be sent",
            hint=f"set the {what} again at its source, without the extra characters",
        )


def from_command(profile: Profile, command: str) -> str:
    # start-up: only an access_token_command needs them, never the hotkey's anonymous upload
    import shlex
    import subprocess

    try:
        args = shlex.split(command)
    except ValueError:
        args = []
    if not args:
        raise AuthError(f"profile {profile.name!r}: access_token_command is not a command line")
    program = Path(args[0]).name
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
