"""Credentials: where each secret comes from, and a safe identity for it.

For now secrets come from the environment (``UPLOADER_<NAME>_ACCESS_TOKEN``,
``UPLOADER_<NAME>_CLIENT_ID``) or, for the public Imgur client id, the config file.
A :class:`Credential` never shows its secret in ``repr``; code that needs a stable key
for a credential (rate-limit state, cache entries) uses :attr:`Credential.identity`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True, eq=False, repr=False)  # lean: startup matters
class Credential:
    """One secret and how to send it.

    ``scheme`` is the Authorization scheme (``Client-ID`` or ``Bearer``); ``source`` says
    where the secret came from, for ``-v`` output (never the value itself).
    """

    scheme: str
    secret: str = field(repr=False)
    source: str = "unknown"

    @property
    def identity(self) -> str:
        """A short hash naming this credential without revealing it."""
        digest = hashlib.sha256(f"{self.scheme}\0{self.secret}".encode()).hexdigest()
        return digest[:24]

    def authorization(self) -> str:
        return f"{self.scheme} {self.secret}"


def mask(secret: str) -> str:
    """What may be shown of a secret: its length only, plus the last two characters."""
    if len(secret) <= 8:
        return "****"
    return "****" + secret[-2:]
