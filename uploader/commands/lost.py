"""What a batch says when standard output failed while it was printing (exit 7).

Every file whose line could not be printed is accounted for on stderr, the one place left:
the link (and delete id) of each uploaded one, the files that may or may not have reached
the server (their answer lost, or still on its way when the run gave up waiting), those
that failed, and those not sent (never started, or stopped before any request of them
went out: with ``-j`` a worker may have taken a file that then waited for its turn).
"""

from __future__ import annotations

from collections.abc import Sequence

from uploader.commands.batch import Batch, Slot
from uploader.errors import OutputClosedError, OutputError, UploaderError
from uploader.output import one_line


def output_lost(
    exc: OutputClosedError, slots: Sequence[Slot], batch: Batch, *, recorded: bool = False
) -> OutputError:
    """The error for a stdout that failed while ``batch`` was printing (after the files in
    flight were given their time, :meth:`Batch.wait_for_flight`); ``recorded``: the upload
    history kept this run's rows, so the lost links are there too."""
    parts = [f"standard output could not be written ({exc.reason})"]
    lost: list[str] = []
    maybe: list[str] = []
    failed: list[str] = []
    unsent: list[str] = []
    # The file whose line failed (its error, if any, was written first), then the rest.
    if batch.emitted:
        lost += _link(slots[batch.emitted - 1])
    for slot in slots[batch.emitted :]:
        done = slot.result if slot.done.is_set() else None
        link = _link(slot)
        if link:
            lost += link
        elif isinstance(slot.item, UploaderError):  # refused before any request
            why = slot.item.message.removeprefix(f"{slot.label}: ")
            failed.append(f"{slot.label} ({one_line(why)})")
        elif done is None and slot.sending:
            maybe.append(slot.label)  # still on its way: it may yet be stored
        elif done is not None and done.ambiguous:
            maybe.append(slot.label)
        elif done is not None and slot.tracker.sent and done.status == "failed":
            failed.append(f"{slot.label} ({one_line(done.error or 'failed')})")
        else:
            unsent.append(slot.label)
    parts += lost
    if maybe:
        reached = "may or may not have reached the server"
        parts.append(f"{_count(maybe)} {reached}: {', '.join(maybe)}")
    if failed:
        parts.append(f"{_count(failed)} failed: {', '.join(failed)}")
    if unsent:
        were = "1 file was" if len(unsent) == 1 else f"{len(unsent)} files were"
        parts.append(f"{were} not sent: {', '.join(unsent)}")
    hints = []
    if lost:
        links = "links" if len(lost) > 1 else "link"
        if recorded:
            where_else = "`uploader history --status uploaded` also shows them"
        else:
            where_else = "signed in, `uploader list` also shows them"
        hints.append(f"keep the {links} printed here ({where_else})")
    if maybe:
        hints.append("look for those that may have reached the server before sending them again")
    where = "standard output going to a terminal, a file with room or a reader of every line"
    if unsent or failed:
        hints.append(f"upload the files not sent again with {where}")
    else:
        hints.append(f"next time, run it with {where}")
    return OutputError("; ".join(parts), hint="; ".join(hints))


def _link(slot: Slot) -> list[str]:
    """The uploaded file's link (and delete id) that was not printed, if it has one."""
    done = slot.result if slot.done.is_set() else None
    if done is None or not done.url or done.status == "failed":
        return []
    label = "standard input" if done.path == "-" else done.path
    link = f"the link of {label}, uploaded, was not printed: {done.url}"
    return [link + (f" (delete id {done.delete_id})" if done.delete_id else "")]


def _count(labels: Sequence[str]) -> str:
    return "1 file" if len(labels) == 1 else f"{len(labels)} files"
