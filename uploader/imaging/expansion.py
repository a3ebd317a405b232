"""What the expansion of folders has to say (``imaging/walk.py``): the files skipped and
why, the paths left out, the per-folder counts and the error when nothing is left."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from uploader.errors import InputFileError
from uploader.output import one_line

# Why a file found in a folder is skipped: (one, several), for the count on stderr.
REASONS = {
    "media": ("file that is not an image or video", "files that are not images or videos"),
    "empty": ("empty file", "empty files"),
    "broken": ("broken symbolic link", "broken symbolic links"),
    "loop": ("symbolic link loop", "symbolic link loops"),
    "special": ("special file (not a regular file)", "special files (not regular files)"),
    "access": ("file that cannot be accessed", "files that cannot be accessed"),
    "name": ("name that is not valid UTF-8", "names that are not valid UTF-8"),
}


@dataclass(frozen=True, eq=False)
class Skipped:
    """A file found in a folder and not taken: ``kind`` is a key of :data:`REASONS`."""

    label: str
    kind: str
    detail: str


@dataclass(frozen=True, eq=False)
class Expansion:
    """The files to upload in order, and what the expansion has to say about the rest."""

    paths: tuple[str, ...]
    skipped: tuple[Skipped, ...] = ()
    # (the name left out, the first name of the same file): found in a folder
    duplicates: tuple[tuple[str, str], ...] = ()
    # a file named again on the command line: its place in ``paths`` -> its first name's
    twins: Mapping[int, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # for every run, unless -q
    details: tuple[str, ...] = ()  # for -v

    def tell(self, notify: Callable[[str], None], debug: Callable[[str], None]) -> None:
        """Warnings and counts to ``notify`` (stderr unless -q), names to ``debug`` (-v);
        each message on one line (a file's name may hold a line break or an escape)."""
        notify, debug = _one_line(notify), _one_line(debug)
        for text in self.warnings:
            notify(text)
        for item in self.skipped:
            debug(f"skipped {item.label}: {item.detail}")
        if self.skipped:
            counts = Counter(item.kind for item in self.skipped)
            parts = [
                f"{counts[kind]} {forms[0 if counts[kind] == 1 else 1]}"
                for kind, forms in REASONS.items()
                if counts[kind]
            ]
            notify(f"skipped in folders: {', '.join(parts)} (-v names them)")
        for label, first in self.duplicates:
            again = "named again" if label == first else f"the same file as {first}"
            debug(f"{label}: {again}: taken once")
        if self.duplicates:
            count = len(self.duplicates)
            notify(
                "1 path left out: its file was reached earlier (each file is uploaded once; "
                "-v names it)"
                if count == 1
                else f"{count} paths left out: their files were reached earlier (each file "
                "is uploaded once; -v names them)"
            )
        for text in self.details:
            debug(text)


def _one_line(say: Callable[[str], None]) -> Callable[[str], None]:
    return lambda text: say(one_line(text))


@dataclass(eq=False)
class Tally:
    """What one folder named on the command line gave, for the messages."""

    label: str
    files: int = 0
    hidden: int = 0
    filtered: int = 0
    subfolders: int = 0  # not descended (no -r)
    skipped: Counter[str] = field(default_factory=Counter)  # kind (REASONS) -> count
    unreadable: int = 0  # subfolders
    again: bool = False  # the folder was walked already (named twice, or inside another)
    duplicates: int = 0  # files taken under an earlier name
    walked: int = 0  # subfolders walked (-r)
    case: int = 0  # files left out that the patterns would take ignoring case
    unreadable_reason: str | None = None  # the folder named cannot be read: why


def summary(tally: Tally, *, recursive: bool) -> str:
    parts = [f"{tally.files} file{'s' if tally.files != 1 else ''} to upload"]
    parts += _counts(tally, recursive=recursive)
    return f"{tally.label}: {', '.join(parts)}"


def _counts(tally: Tally, *, recursive: bool) -> list[str]:
    def many(count: int, one: str, several: str) -> str:
        return f"{count} {one if count == 1 else several}"

    parts = []
    parts += [
        f"{tally.skipped[kind]} {forms[tally.skipped[kind] != 1]}"
        for kind, forms in REASONS.items()
        if tally.skipped[kind]
    ]
    if tally.filtered:
        parts.append(f"{tally.filtered} left out by --include/--exclude")
    if tally.hidden:
        parts.append(many(tally.hidden, "hidden name", "hidden names") + " left out")
    if tally.subfolders and not recursive:
        parts.append(many(tally.subfolders, "subfolder", "subfolders") + " not descended")
    if tally.unreadable:
        parts.append(many(tally.unreadable, "folder", "folders") + " that cannot be read")
    return parts


def _empty(tally: Tally, several: bool) -> str:
    """Why a folder with nothing counted gave nothing (the folders named, added up)."""
    if tally.walked:
        return "only " + (
            "1 subfolder, with no files in it"
            if tally.walked == 1
            else f"{tally.walked} subfolders, with no files in them"
        )
    return "they are empty" if several else "it is empty"


def nothing_text(tally: Tally, tallies: Sequence[Tally], recursive: bool) -> str:
    """``shots: no image or video files directly in the folder (3 subfolders ...)``."""
    if len(tallies) == 1 and tally.unreadable_reason is not None:
        return f"{tally.label}: cannot read the folder ({tally.unreadable_reason})"
    added = _sum(tallies)
    where = "in the folder or its subfolders" if recursive else "directly in the folder"
    if len(tallies) == 1:
        head = f"{tally.label}: no image or video files {where}"
    else:
        where = where.replace("the folder", "the folders").replace("its", "their")
        head = f"no image or video files {where} {', '.join(t.label for t in tallies)}"
    counts = _counts(added, recursive=recursive)
    return f"{head} ({', '.join(counts) or _empty(added, len(tallies) > 1)})"


def _sum(tallies: Sequence[Tally]) -> Tally:
    return Tally(
        tallies[0].label,
        hidden=sum(t.hidden for t in tallies),
        filtered=sum(t.filtered for t in tallies),
        subfolders=sum(t.subfolders for t in tallies),
        skipped=sum((t.skipped for t in tallies), Counter()),
        unreadable=sum(t.unreadable + (t.unreadable_reason is not None) for t in tallies),
        walked=sum(t.walked for t in tallies),
        case=sum(t.case for t in tallies),
    )


def nothing_left(tallies: Sequence[Tally], *, recursive: bool) -> InputFileError:
    """The error when folders were named and nothing is left to upload (exit 2)."""
    added = _sum(tallies)
    hints = []
    if added.subfolders and not recursive:
        hints.append("-r (--recursive) descends into subfolders")
    if added.filtered:
        hints.append(
            "the patterns match the path inside the folder: '*.png' a name at any depth, "
            "'shots/*.png' from the folder named, 'tmp/**' everything in tmp"
        )
    if added.case:
        files = "1 file" if added.case == 1 else f"{added.case} files"
        hints.append(f"patterns are case-sensitive: {files} would match ignoring case")
    if added.hidden:
        hints.append("--hidden takes names that start with '.'")
    if added.skipped:
        hints.append("-v names the files skipped")
    if added.unreadable:
        which = "its" if len(tallies) == 1 and tallies[0].unreadable_reason else "their"
        hints.append(f"check {which} permissions (ls -ld names the owner and mode)")
    text = nothing_text(tallies[0], tallies, recursive)
    return InputFileError(text, hint="; ".join(hints) or None)
