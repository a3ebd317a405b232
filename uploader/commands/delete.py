"""``uploader delete``: by id or link, or by a local file or sha256 through the history.

The history keeps each upload's delete handle (Imgur deletehash, Gyazo image id, Mastodon
media id), so an upload can be deleted by naming the file that was uploaded, or a prefix of
its sha256, without the user having kept the handle: the anonymous Imgur upload is deleted
with the deletehash its upload returned. Every upload of that content to the profile that
the history holds and that was not deleted yet is deleted, and its row becomes ``deleted``
(so ``--skip-existing`` never prints a dead link). A delete by id or link marks the rows
of that object deleted too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from uploader.commands.history import local_time
from uploader.errors import InputFileError, ProviderError, UsageError
from uploader.history.store import Entry, History
from uploader.imaging.content import fingerprint
from uploader.imaging.inspect import inspect_path

if TYPE_CHECKING:
    from uploader.providers.base import Provider

# A sha256 prefix: hex, long enough that it names one file's content in practice.
SHA_PREFIX = re.compile(r"[0-9a-f]{8,64}")
GONE = 404


def from_history(history: History, ref: str, profile: str) -> list[Entry] | None:
    """The rows ``ref`` names when it is a local file or a sha256 prefix the history
    knows, else None (then ``ref`` is an id or a link). Raises when ``ref`` names a file
    the history has no deletable upload of, or a prefix of several files' contents."""
    path = Path(ref).expanduser()
    if path.is_file() or (not path.exists() and ref.startswith(("./", "../", "/", "~"))):
        return _for_file(history, ref, path, profile)
    if ref.startswith(("http://", "https://")):
        # A link an upload printed: its row's delete handle (a custom host's DeletionURL;
        # Imgur's deletehash), as if the file had been named.
        rows = [e for e in history.entries(profile=profile) if e.url == ref and e.sha256]
        if rows:
            return _deletable(rows, ref, profile)
        return None
    if SHA_PREFIX.fullmatch(ref.lower()):
        prefix = ref.lower()
        rows = [e for e in history.lookup(prefix, profile=profile) if e.sha256.startswith(prefix)]
        if rows:
            return _deletable(rows, ref, profile)
    return None


def _for_file(history: History, ref: str, path: Path, profile: str) -> list[Entry]:
    rows: list[Entry] = []
    if path.is_file():
        try:
            image = fingerprint(inspect_path(ref))
        except InputFileError:
            image = None  # not an image any more: its path may still be in the history
        if image is not None and image.sha256:
            rows = history.lookup(image.sha256, profile=profile)
    if not rows:
        rows = [e for e in history.lookup(ref, profile=profile) if e.sha256]
    if not rows:
        raise UsageError(
            f"{ref}: the history has no upload of this file to profile {profile}",
            hint=f"`uploader history {ref}` shows what it knows; "
            "delete an upload by its id or link",
        )
    return _deletable(rows, ref, profile)


def _deletable(rows: list[Entry], ref: str, profile: str) -> list[Entry]:
    contents = {e.sha256 for e in rows}
    if len(contents) > 1:
        raise UsageError(
            f"{ref}: matches the uploads of {len(contents)} different files in the history",
            hint="give more characters of the sha256 (`uploader history` shows them)",
        )
    live = [e for e in rows if e.status != "deleted" and (e.delete_id or e.remote_id)]
    if live:
        return live
    if any(e.status == "deleted" for e in rows):
        raise UsageError(f"{ref}: its upload to profile {profile} was deleted already")
    status = rows[0].status
    raise UsageError(
        f"{ref}: the history has no link to delete for it (status {status}: "
        + ("it may exist on the server" if status in ("pending", "ambiguous") else "not uploaded")
        + ")",
        hint="`uploader list` shows the account's recent uploads; delete one by its id",
    )


def delete_row(history: History, entry: Entry, provider: Provider) -> str:
    """Delete a row's object with its stored handle and mark the row; what was done."""
    handle = entry.delete_id or entry.remote_id or ""
    try:
        said = provider.delete(handle)
    except ProviderError as exc:
        if exc.status != GONE:
            raise
        said = f"{entry.url or handle} was already gone from the server"
    history.mark_deleted(entry.row)
    return f"{said} ({entry.path}, uploaded {local_time(entry.time)})"


def forget_remote(history: History, ref: str, profile: str) -> None:
    """After a delete by id or link: the history's rows of that object become ``deleted``."""
    for entry in history.entries(profile=profile):
        if ref in (entry.remote_id, entry.delete_id, entry.url) and entry.status != "deleted":
            history.mark_deleted(entry.row)
