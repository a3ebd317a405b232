"""What the user named, as the list of files to upload: folders expanded, before any check.

:func:`expand` turns the paths of ``uploader upload PATH...`` into the files to send, in
order (README "Folders"):

- a file (or anything that is not a folder, '-' included) stays as it is; the checks that
  follow (:mod:`uploader.imaging.inspect`) refuse it with its own message;
- a folder gives the files directly in it, or with ``recursive`` every file below it, in
  sorted order (names compared character by character, folder by folder), the arguments'
  order kept; each file's label is the folder as named joined with its path inside it;
- names starting with '.' (files and folders) are left out unless ``hidden``;
- ``include`` / ``exclude`` (:mod:`uploader.imaging.patterns`) select among the files found
  in folders; a file named on the command line is always taken;
- symbolic links are followed; a folder is walked once (a link loop, or a link to a folder
  above it, is not walked again) and a file is sent once, however many names reach it
  (a link, a hard link, a folder and the file named too): the first name wins. A name
  given on the command line still has its place in the list (``Expansion.twins``), whose
  line repeats the first name's upload: an editor pairs line N with its Nth name;
- a file found in a folder that is no image or video (by its first bytes; a PDF neither),
  empty, a broken link or not a regular file is skipped and counted; named on the command
  line it goes to the checks as before. A folder that cannot be read is a warning.

Nothing here prints: :meth:`Expansion.tell` hands the messages to the caller's channels.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from uploader.errors import InputFileError
from uploader.imaging.expansion import (
    Expansion,
    Skipped,
    Tally,
    nothing_left,
    nothing_text,
    summary,
)
from uploader.imaging.patterns import Filters


def expand(
    paths: Sequence[str],
    *,
    recursive: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    hidden: bool = False,
    debug: Callable[[str], None] | None = None,
) -> Expansion:
    """The files ``paths`` name, in upload order (module docstring).

    Raises UsageError for a bad pattern, and InputFileError (exit 2, nothing sent) when
    folders were named and nothing at all is left to upload; ``debug`` (-v) is told first
    what was found and skipped (the error's counts, by name).
    """
    walk = _Walk(recursive=recursive, filters=Filters.parse(include, exclude), hidden=hidden)
    for label in paths:
        walk.argument(label)
    try:
        return walk.result()
    except InputFileError:
        if debug is not None:
            walk.debrief(debug)
        raise


@dataclass(eq=False)
class _Walk:
    recursive: bool
    filters: Filters
    hidden: bool
    paths: list[str] = field(default_factory=list)
    # a file taken: its first name and its place in ``paths``
    kept: dict[tuple[int, int], tuple[str, int]] = field(default_factory=dict)
    twins: list[tuple[int, int]] = field(default_factory=list)
    skipped_ids: dict[tuple[int, int], str] = field(default_factory=dict)  # -> its kind
    folders: set[tuple[int, int]] = field(default_factory=set)
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    tallies: list[Tally] = field(default_factory=list)

    def argument(self, label: str) -> None:
        if label == "-":
            self.paths.append(label)
            return
        try:
            info = Path(label).expanduser().stat()
        except (OSError, ValueError):  # missing, a broken link...: inspect says which
            self.paths.append(label)
            return
        if stat.S_ISDIR(info.st_mode):
            self._folder(label, os.path.expanduser(label), info)
        else:
            self._named(label, info)

    def _named(self, label: str, info: os.stat_result) -> None:
        """A file named on the command line keeps its line (line N is the Nth name's: an
        editor pairs them). One reached before (named twice, or in a folder named before)
        is sent once: this name is its twin, whose line repeats that upload's."""
        if stat.S_ISREG(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if key in self.kept:
                first, at = self.kept[key]
                self.twins.append((len(self.paths), at))
                again = "named again" if label == first else f"the same file as {first}"
                self.details.append(f"{label}: {again}: sent once, its line repeats that one")
            else:
                self.kept[key] = (label, len(self.paths))
        self.paths.append(label)

    def _folder(self, label: str, root: str, info: os.stat_result) -> None:
        tally = Tally(label)
        self.tallies.append(tally)
        key = (info.st_dev, info.st_ino)
        if key in self.folders:
            tally.again = True
            self.details.append(f"{label}: walked already: its files are taken once")
            return
        self.folders.add(key)
        listing = self._list(root, label, tally, top=True)
        stack: list[tuple[Iterator[os.DirEntry[str]], tuple[str, ...]]] = []
        if listing is not None:
            stack.append((iter(listing), ()))
        while stack:  # depth first, in sorted order; each folder is walked once
            entries, parts = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                continue
            child = (*parts, entry.name)
            found = self._entry(entry, child, label, root, tally)
            if found is not None:
                stack.append((iter(found), child))
        if tally.files:
            self.details.append(summary(tally, recursive=self.recursive))

    def _list(
        self, where: str, label: str, tally: Tally, *, top: bool = False
    ) -> list[os.DirEntry[str]] | None:
        try:
            with os.scandir(where) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            if top:  # the folder named: said once, as a warning or the error (result())
                tally.unreadable_reason = _reason(exc)
                return None
            tally.unreadable += 1
            self.warnings.append(
                f"warning: {label}: cannot read the folder ({_reason(exc)}): "
                "the files in it are skipped"
            )
            return None
        if not top:
            tally.walked += 1
        return entries

    def _entry(
        self,
        entry: os.DirEntry[str],
        child: tuple[str, ...],
        label: str,
        root: str,
        tally: Tally,
    ) -> list[os.DirEntry[str]] | None:
        """Take, skip or count one entry; a subfolder to walk returns its listing."""
        if entry.name.startswith(".") and not self.hidden:
            tally.hidden += 1
            return None
        name = os.path.join(label.rstrip("/") or "/", *child)  # `shots//` gives `shots/a.png`
        if not _valid_text(entry.name):
            # Such a name cannot be sent, stored in the history or printed as it is.
            shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            self._skip(shown, ("name", "its name is not valid UTF-8: rename it"), tally)
            return None
        try:
            info = entry.stat()  # follows a symbolic link
        except OSError as exc:
            if self._selected(child, tally):
                self._skip(name, _unreachable(entry, exc), tally)
            return None
        relative = "/".join(child)
        if stat.S_ISDIR(info.st_mode):
            if not self.recursive:
                tally.subfolders += 1
                return None
            if self.filters.excludes_folder(relative):
                tally.filtered += 1
                return None
            key = (info.st_dev, info.st_ino)
            if key in self.folders:
                self.details.append(
                    f"{name}: a folder walked already (a link loop, or a second way in): "
                    "not walked again"
                )
                return None
            self.folders.add(key)
            return self._list(os.path.join(root, *child), name, tally)
        if not self._selected(child, tally):
            return None
        if not stat.S_ISREG(info.st_mode):
            self._skip(name, ("special", "not a regular file"), tally)
            return None
        key = (info.st_dev, info.st_ino)
        if key in self.kept:
            self.duplicates.append((name, self.kept[key][0]))
            tally.duplicates += 1  # its files are taken: the folder is not "empty"
            return None
        if key in self.skipped_ids:
            tally.skipped[self.skipped_ids[key]] += 1  # named once in the count on stderr
            return None
        why = _not_media(os.path.join(root, *child), info.st_size)
        if why is not None:
            self.skipped_ids[key] = why[0]
            self._skip(name, why, tally)
            return None
        self.kept[key] = (name, len(self.paths))
        self.paths.append(name)
        tally.files += 1
        return None

    def _selected(self, child: tuple[str, ...], tally: Tally) -> bool:
        """Whether --include/--exclude take the file at ``child`` (counted when not)."""
        if self.filters.takes(child):
            return True
        tally.filtered += 1
        if self.filters.include and self.filters.takes(child, fold=True):
            tally.case += 1  # '*.PNG' and a.png: said in the hint when nothing is left
        return False

    def _skip(self, name: str, why: tuple[str, str], tally: Tally) -> None:
        tally.skipped[why[0]] += 1
        self.skipped.append(Skipped(name, *why))

    def result(self) -> Expansion:
        empty = [t for t in self.tallies if not (t.files or t.again or t.duplicates)]
        if empty and not self.paths:
            raise nothing_left(empty, recursive=self.recursive)
        for tally in empty:
            self.warnings.append(f"warning: {nothing_text(tally, [tally], self.recursive)}")
            if tally.unreadable_reason is not None:
                self.warnings[-1] += ": the files in it are skipped"
        if self.filters and not self.tallies:
            self.warnings.append(
                "warning: --include and --exclude select among the files found in folders, "
                "and no folder was named: they changed nothing"
            )
        return Expansion(
            paths=tuple(self.paths),
            skipped=tuple(self.skipped),
            duplicates=tuple(self.duplicates),
            twins=dict(self.twins),
            warnings=tuple(self.warnings),
            details=tuple(self.details),
        )

    def debrief(self, debug: Callable[[str], None]) -> None:
        """What -v says when nothing is left: the error counts, this names (no notice:
        the error is the run's one line without -v)."""
        for text in self.warnings:
            debug(text.removeprefix("warning: "))
        Expansion(paths=(), skipped=tuple(self.skipped), details=tuple(self.details)).tell(
            lambda _text: None, debug
        )


def _not_media(where: str, size: int) -> tuple[str, str] | None:
    """Why a regular file found in a folder is not worth a check, or None to take it.

    A file that cannot be read is taken: the checks then say why it cannot go."""
    from uploader.imaging.inspect import sniff  # the hotkey path walks no folder

    try:
        with open(where, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return None
    if size == 0 or not head:
        return ("empty", "empty file")
    mime = sniff(head)
    if mime is None:
        return ("media", "not an image or video (its content matches no supported format)")
    if not mime.startswith(("image/", "video/")):  # a PDF: some providers take it, named
        return ("media", f"not an image or video ({mime}; name the file to upload it)")
    return None


def _valid_text(name: str) -> bool:
    """False for a name whose bytes are not UTF-8 (Python keeps them as lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unreachable(entry: os.DirEntry[str], exc: OSError) -> tuple[str, str]:
    if exc.errno == errno.ELOOP:
        return ("loop", "symbolic link loop")
    if isinstance(exc, FileNotFoundError) and entry.is_symlink():
        try:
            target = os.readlink(entry.path)
        except OSError:
            target = "?"
        return ("broken", f"broken symbolic link (points to {target!r}, which is missing)")
    return ("access", f"cannot access ({_reason(exc)})")


def _reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()
