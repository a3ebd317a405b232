"""The limiter's small value types: the policy for a spent budget, a reservation, and the
key a profile's shared state is stored under (re-exported by :mod:`.limiter`)."""

from __future__ import annotations

import hashlib
from typing import Literal, NamedTuple, Protocol


class LimitPolicy(NamedTuple):
    """What to do when a bucket lacks the budget: wait (at most ``max_wait`` s) or fail."""

    on_limit: Literal["wait", "fail"] = "wait"
    max_wait: float = 300.0


class Reservation(NamedTuple):
    """Credits held for one request until it is settled, rejected or released."""

    id: str
    costs: tuple[tuple[str, int], ...]


class Order(Protocol):
    """A batch's queue of reservations (``commands/batch.py``): a file may wait (pacing, a
    window's reset) beside the files before it. Where some files will be refused
    (``--on-limit fail``, or a wait beyond ``--max-wait``), it reserves, or is refused, only
    after each of them has: the same files go as one at a time. Elsewhere every file goes
    in the end, and the first to wake reserves first (a paced batch keeps its schedule)."""

    def let_by(self) -> None:
        """This file is about to wait (pacing, a reset): the next file may ask meanwhile."""

    def ready(self) -> bool:
        """Whether every earlier file of the batch has reserved (or is done); never waits."""

    def check(self) -> None:
        """Raise the error that stops this file, if the batch stopped; never waits."""

    def hold(self) -> None:
        """Return once :meth:`ready`; raise the error that stops this file instead (the
        batch interrupted, or stopped by a refusal every later file would meet)."""


def state_key(kind: str, base_url: str, identity: str) -> str:
    """The state file's name: a sha256 (hex, first 128 bits) of kind, base URL and identity.

    ``identity`` is already a hash of the credential, never the secret itself.
    """
    return hashlib.sha256(f"{kind}\0{base_url}\0{identity}".encode()).hexdigest()[:32]
