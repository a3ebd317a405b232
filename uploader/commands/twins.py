"""A file named twice on the command line (an editor passes a picture shown twice in a note
twice; ``imaging/walk.py``): it is sent once, and each later name keeps its own line, which
repeats that upload's record under its own name (status ``existing``: it is on the server,
and was not sent again). Line N stays the Nth name's, as Typora's last-N-lines rule needs.

The batch runs over the distinct files only; :class:`Twins` sits under its ``emit`` and
writes each twin's line right after the line before it, and :meth:`Twins.merge` gives the
run's records with the twins in their places.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from uploader.errors import UploaderError
from uploader.models import UploadResult

Emit = Callable[[UploadResult, UploaderError | None], None]
Record = tuple[UploadResult, UploaderError | None]


def twin_of(first: Record, label: str) -> Record:
    """The record of ``label``, a later name of ``first``'s file."""
    result, error = first
    if result.status in ("uploaded", "existing"):
        return replace(result, path=label, status="existing"), None
    return replace(result, path=label), error


class Twins:
    """``emit`` for a batch of the distinct files of ``labels`` (every name, in order);
    ``firsts``: a twin's place -> its first name's place."""

    def __init__(self, emit: Emit, labels: Sequence[str], firsts: Mapping[int, int]) -> None:
        self.emit = emit
        self.labels = labels
        self.firsts = firsts
        self.written: dict[int, Record] = {}  # place -> the record written there

    def __call__(self, result: UploadResult, error: UploaderError | None) -> None:
        self._write(len(self.written), (result, error))
        while len(self.written) < len(self.labels) and len(self.written) in self.firsts:
            place = len(self.written)
            self._write(place, twin_of(self.written[self.firsts[place]], self.labels[place]))

    def _write(self, place: int, record: Record) -> None:
        self.written[place] = record
        self.emit(*record)

    def distinct(self) -> list[str]:
        """The names the batch sends: every first name, in order."""
        return [label for place, label in enumerate(self.labels) if place not in self.firsts]

    def merge(self, results: Sequence[UploadResult]) -> list[UploadResult]:
        """Every name's record in order, from the distinct files' ``results``."""
        merged: list[UploadResult] = []
        found = iter(results)
        for place, label in enumerate(self.labels):
            first = self.firsts.get(place)
            if first is None:
                merged.append(next(found))
            else:
                merged.append(twin_of((merged[first], None), label)[0])
        return merged
