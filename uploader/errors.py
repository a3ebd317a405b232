"""Every exception class of the product, and the exit codes (design section 4).

Every error the user can see is an :class:`UploaderError`. Each class carries the exit code
the CLI returns for it; ``uploader.cli`` catches ``UploaderError`` in one place and prints
``error: <message>`` plus ``hint: <hint>`` when there is something to do. Foreign exceptions
(httpx, json, socket, ssl) are translated into these at the HTTP boundary (``uploader.http``)
and chained with ``from``. Messages are one line and never contain secrets. An error is never
changed in place: :meth:`UploaderError.rephrased` makes a new one chained to the old.

The tree (exit code in brackets)::

    Exception
     +-- OutputClosedError              stdout cannot be written (signal)  [0 or 7]
     +-- UploaderError                  base of every error for the user   [1]
          +-- UsageError                bad command line                   [2]
          |    +-- ConfigError          config file or environment         [2]
          |    +-- InputFileError       a file refused before any request  [2]
          |    +-- RequestRefusedError  a request `serve` refused (4xx)  [2]
          +-- AuthError                 credentials missing or rejected    [3]
          +-- RateLimitError            a spent budget, or a server 429    [4]
          +-- ProviderError             refused or unusable answer         [5]
          |    +-- ServerError          a 5xx: safe to retry               [5]
          |    +-- NetworkError         no usable answer (``sent``)        [5]
          |    |    +-- TlsError        handshake or certificate failed    [5]
          |    +-- UnreadableAnswerError  a 2xx body we cannot read        [5]
          |    +-- AmbiguousUploadError   sent, answer lost: may exist     [5]
          +-- SkippedError              a batch file not sent (its cause's code)
          +-- OutputError               results could not be written       [7]
          +-- InterruptedRunError       Ctrl-C                             [130]
               +-- InterruptedUploadError  Ctrl-C with a file in flight    [130]
"""

from __future__ import annotations

from enum import IntEnum
from typing import Self

# How to make a picture smaller (issue 15), for the hints of every "too large" refusal a
# server gives: --fit re-encodes to the profile's limit, so that limit must be the real one.
SHRINK = (
    "for a picture: --max-dimension PX or --convert jpeg; or set max_image_size in the "
    "profile to the real limit and use --fit"
)


class ExitCode(IntEnum):
    """Process exit codes, exactly as the CLI contract lists them."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    AUTH = 3
    RATE_LIMITED = 4
    PROVIDER = 5
    PARTIAL = 6
    OUTPUT = 7
    INTERRUPTED = 130


class UploaderError(Exception):
    """Base of every error meant for the user."""

    exit_code: ExitCode = ExitCode.INTERNAL
    # An object the failed operation did create on the server (a Mastodon media whose status
    # post failed): its id and delete id, so the failure record keeps them.
    created_id: str | None = None
    created_delete_id: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def rephrased(self, message: str, *, hint: str | None = None, **fields: object) -> Self:
        """A new error of the same class and fields with another message (and ``hint``,
        and any other field given), chained to this one; this one is left as it was."""
        # Not copy.copy: it calls the constructor again, and some take keyword-only fields.
        new = type(self).__new__(type(self), message)
        new.__dict__.update(self.__dict__)
        new.message = message
        if hint is not None:
            new.hint = hint
        for name, value in fields.items():
            setattr(new, name, value)
        new.__cause__ = self
        return new


class UsageError(UploaderError):
    """Bad command-line usage (exit 2)."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """The configuration is missing, malformed or inconsistent (exit 2)."""


class InputFileError(UsageError):
    """A file given to upload cannot be sent: refused before any request (exit 2)."""


class RequestRefusedError(UsageError):
    """``uploader serve`` refused a request: answered with HTTP ``status``, nothing sent."""

    def __init__(self, message: str, *, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class AuthError(UploaderError):
    """Credentials are missing, rejected or expired (exit 3).

    ``oauth_error`` is the OAuth ``error`` code of the refusal when the server sent one
    (``invalid_client``: the server does not know the app any more).
    """

    exit_code = ExitCode.AUTH
    oauth_error: str | None = None


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


class InterruptedUploadError(InterruptedRunError):
    """Ctrl-C while a file was being uploaded: its record (the run exits 130)."""


class SkippedError(UploaderError):
    """A batch file not sent because an earlier one showed it could not succeed; it exits
    with the code of that cause (3 or 4)."""

    def __init__(self, message: str, *, hint: str | None, exit_code: ExitCode) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


class OutputError(UploaderError):
    """Standard output could not be written while results were due (exit 7): a closed
    pipe, a closed descriptor, a full disk. The message names what was lost."""

    exit_code = ExitCode.OUTPUT


class OutputClosedError(Exception):
    """Standard output cannot be written (any ``OSError`` on write or flush, or no stdout
    at all): raised by :meth:`uploader.output.Console.result`.

    ``reader_gone`` is True for a broken pipe (``uploader list | head -1``: the reader had
    what it wanted). ``reason`` says why in a few words. Not an OSError on purpose, so that
    click does not turn it into exit 1 on its way up.
    """

    def __init__(self, reason: str = "closed", *, reader_gone: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reader_gone = reader_gone
