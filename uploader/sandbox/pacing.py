"""Slow servers on purpose: answers that trickle, bodies read slowly (the knobs
``trickle_bytes_per_second``, ``trickle_headers`` and ``slow_read_bytes_per_second``).
Such servers defeat read and write timeouts; the client's low-speed rule must end them."""

from __future__ import annotations

from collections.abc import Callable
from io import BufferedIOBase


def slow_reader(
    read: Callable[[int], bytes], rate: float, pause: Callable[[float], None]
) -> Callable[[int], bytes]:
    """``read`` taking the body at ``rate`` bytes a second (``pause`` waits)."""

    def slow(size: int) -> bytes:
        data = read(max(1, min(size, int(rate))))
        if data:
            pause(len(data) / rate)
        return data

    return slow


def trickle(out: BufferedIOBase, data: bytes, rate: float, pause: Callable[[float], None]) -> None:
    """Write ``data`` one byte at a time at ``rate`` bytes a second; a client that hung
    up ends it with an OSError. ``pause`` returns at once when the server stops."""
    for index in range(len(data)):
        out.write(data[index : index + 1])
        out.flush()
        pause(1.0 / rate)
