"""The error tree and the exit codes (design section 4).

Every error the user can see is an :class:`UploaderError`. Each class carries the exit code
the CLI returns for it; ``cli.py`` catches ``UploaderError`` in one place and prints
``error: <message>`` plus ``hint: <hint>`` when there is something to do.
Messages are one line and never contain secrets.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, exactly as the CLI contract lists them."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    AUTH = 3
    RATE_LIMITED = 4
    PROVIDER = 5
    PARTIAL = 6
    INTERRUPTED = 130


class UploaderError(Exception):
    """Base of every error meant for the user."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(UploaderError):
    """Bad command-line usage (exit 2)."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """The configuration is missing, malformed or inconsistent (exit 2)."""


class InputFileError(UsageError):
    """A file given to upload cannot be sent: refused before any request (exit 2)."""


class AuthError(UploaderError):
    """Credentials are missing, rejected or expired (exit 3)."""

    exit_code = ExitCode.AUTH


class RateLimitError(UploaderError):
    """A rate-limit bucket is empty and we did not (or could not) wait (exit 4).

    ``reset_at`` is the epoch time the bucket refills, when known; ``retry_after`` the
    number of seconds the server or the limiter says to wait. ``from_server`` is True for a
    429 the provider sent (the limiter has recorded it; the request may be tried again after
    the limiter's wait), False when the limiter itself refused to send.
    """

    exit_code = ExitCode.RATE_LIMITED

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        bucket: str | None = None,
        reset_at: float | None = None,
        retry_after: float | None = None,
        from_server: bool = False,
    ) -> None:
        super().__init__(message, hint=hint)
        self.from_server = from_server
        self.bucket = bucket
        self.reset_at = reset_at
        self.retry_after = retry_after


class ProviderError(UploaderError):
    """The provider refused the request or answered something unusable (exit 5).

    ``status`` is the HTTP status when there was a response.
    """

    exit_code = ExitCode.PROVIDER

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.retry_after = retry_after


class ServerError(ProviderError):
    """A 5xx answer: the server failed; safe to retry (the request was not processed)."""


class NetworkError(ProviderError):
    """No usable response arrived (exit 5).

    ``sent`` is False when nothing reached the server (connect refused, DNS, TLS): such a
    request is always safe to retry. When True the body may have been processed.
    """

    def __init__(self, message: str, *, hint: str | None = None, sent: bool) -> None:
        super().__init__(message, hint=hint)
        self.sent = sent


class TlsError(NetworkError):
    """The TLS handshake or the certificate check failed: nothing was sent, and sending
    again cannot help (an https:// URL on a plain-http server, an untrusted certificate)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, sent=False)


class UnreadableAnswerError(ProviderError):
    """A 2xx answer whose body cannot be read (not JSON, cut short): for an upload, the
    image was most likely created, so the pipeline treats it like a lost answer."""


class AmbiguousUploadError(ProviderError):
    """An upload whose body was sent but whose answer never came: it may exist (exit 5)."""


class InterruptedRunError(UploaderError):
    """Ctrl-C (exit 130)."""

    exit_code = ExitCode.INTERRUPTED
