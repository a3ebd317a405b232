"""What ``uploader serve`` does for ``/upload`` and ``/delete``: the same pipeline as
``uploader upload`` (``commands/upload.py: upload()``: limiter, retries, history,
``--skip-existing``, metadata stripping) and the history's deletes (``commands/delete.py``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO

from uploader.commands.runtime import Runtime, limit_policy, open_provider
from uploader.commands.serve_body import BAD_REQUEST, Reader, Wanted, read_json, read_upload
from uploader.commands.upload import UploadRequest, upload
from uploader.config.settings import Config
from uploader.errors import (
    ExitCode,
    InputFileError,
    RateLimitError,
    RequestRefusedError,
    UploaderError,
    UsageError,
)
from uploader.http.retry import RetryPolicy
from uploader.imaging.inspect import inspect_path
from uploader.models import UploadOptions, UploadResult
from uploader.output import one_line, result_record

# A multipart body may be this much larger than the largest file the profile takes.
MULTIPART_SLACK = 1 << 20
# A request may carry this many of the profile's largest files.
FILES_PER_BODY = 4

Answer = tuple[int, dict[str, object]]


@dataclass(frozen=True)
class ServeOptions:
    """The choices of ``uploader serve`` (flags, environment, config)."""

    host: str = "127.0.0.1"
    port: int = 36677
    secret: str | None = None
    provider: str | None = None
    on_limit: str = "wait"
    max_wait: float = 300.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    history: bool = True
    skip_existing: bool = False
    strip_metadata: bool = True


def _largest(config: Config, profile: str, runtime: Runtime, options: ServeOptions) -> int:
    """The largest picture the profile takes (the cap of a fetched link and of a body;
    serve sends no video)."""
    policy = limit_policy(options.on_limit, options.max_wait)
    _, provider, http = open_provider(config, profile, runtime, policy=policy)
    with http:
        return int(provider.limits().max_image_size)


def local_file(entry: str) -> str:
    """A path from a JSON list, when it names a regular file by its absolute path."""
    if not os.path.isabs(entry):
        raise InputFileError(f"{entry}: not an absolute path", hint="send absolute paths")
    try:
        info = os.stat(entry)
    except OSError as exc:
        raise InputFileError(f"{entry}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputFileError(f"{entry}: not a regular file")
    return entry


def do_upload(
    config: Config,
    options: ServeOptions,
    runtime: Runtime,
    stream: Reader,
    headers: Mapping[str, str],
    profile_name: str | None,
    spool: Path,
    fetch: Callable[[str, BinaryIO, int], int],
) -> Answer:
    """``POST /upload``: every picture checked before any is sent, then one batch."""
    profile = config.profile(profile_name or options.provider).name
    largest = _largest(config, profile, runtime, options)
    wanted: Wanted = read_upload(stream, headers, spool, largest * FILES_PER_BODY + MULTIPART_SLACK)
    with ExitStack() as stack:
        items: list[tuple[str, str]] = []  # (label shown to the client, file to send)
        if wanted.clipboard:
            from uploader.imaging.clipboard import spooled_clipboard

            items.append(("clipboard", str(stack.enter_context(spooled_clipboard(runtime.env)))))
        for n, entry in enumerate(wanted.entries):
            if entry.lower().startswith(("https://", "http://")):
                target = spool / f"link{n}"
                target.mkdir(mode=0o700)
                name = target / "picture"  # its type is read from its first bytes
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    fetch(entry, out, largest)
                items.append((entry, str(name)))
            else:
                items.append((entry, local_file(entry)))
        items += [(label, str(path)) for label, path in wanted.files]
        for label, path in items:  # the image checks, all of them before any upload
            try:
                kind = inspect_path(path).mime_type
            except InputFileError as exc:
                raise InputFileError(f"{label}: {_own(exc.message, path)}") from None
            if not kind.startswith("image/"):  # an editor's picture, never a video or PDF
                raise InputFileError(
                    f"{label}: {kind} is not a picture (uploader serve sends images only)",
                    hint="upload it with `uploader upload`",
                )
        return _send(config, options, runtime, profile, items)


def _own(message: str, path: str) -> str:
    return message.removeprefix(f"{path}: ")


def _send(
    config: Config,
    options: ServeOptions,
    runtime: Runtime,
    profile: str,
    items: list[tuple[str, str]],
) -> Answer:
    # One file named twice (a note that shows one picture twice) is sent once, and
    # answered on each of its places: the client pairs result[i] with its i-th picture.
    sent: dict[object, tuple[str, str]] = {}
    owners: list[object] = []
    for label, path in items:
        try:
            info = os.stat(path)
            key: object = (info.st_dev, info.st_ino)
        except OSError:
            key = path
        sent.setdefault(key, (label, path))
        owners.append(key)
    request = UploadRequest(
        paths=tuple(path for _, path in sent.values()),
        provider=profile,
        options=UploadOptions(),
        on_limit=options.on_limit,
        max_wait=options.max_wait,
        retry=options.retry,
        history=options.history,
        skip_existing=options.skip_existing,
        strip_metadata=options.strip_metadata,
        # a temp copy (the clipboard's, a part, a link's) is known by its label, never
        # its temp path, in the history and the messages
        shown={path: label for label, path in sent.values() if label != path},
    )
    done: list[tuple[UploadResult, UploaderError | None]] = []
    upload(config, request, runtime, lambda result, error: done.append((result, error)))
    answers = dict(zip(sent, done, strict=True))
    records = []
    errors: list[UploaderError] = []
    for (label, _), key in zip(items, owners, strict=True):
        result, error = answers[key]
        records.append({**result_record(result), "path": label})
        if error is not None:
            errors.append(error)
    if not errors:
        urls = [str(r["url"]) for r in records]
        return 200, {"success": True, "result": urls, "fullResult": records}
    message = "; ".join(
        f"{r['path']}: {one_line(str(r['error']))}" for r in records if r.get("error")
    )
    answer: dict[str, object] = {
        "success": False,
        "result": [],
        "message": message,
        "fullResult": records,
    }
    resets = [e.reset_at for e in errors if isinstance(e, RateLimitError) and e.reset_at]
    if resets:
        answer["reset_at"] = max(resets)  # epoch seconds; Retry-After says it too
    return status_of(errors), answer


def status_of(errors: list[UploaderError]) -> int:
    """400 for bad input, 429 for a spent rate limit, 500 for the rest (PicGo-Core v2)."""
    if any(isinstance(e, RateLimitError) for e in errors):
        return 429
    if all(e.exit_code == ExitCode.USAGE for e in errors):
        return BAD_REQUEST
    return 500


def do_delete(
    config: Config,
    options: ServeOptions,
    runtime: Runtime,
    stream: Reader,
    headers: Mapping[str, str],
    profile_name: str | None,
) -> Answer:
    """``POST /delete`` with ``{"list": [fullResult items]}``: each upload the history
    knows (by its id, delete id or link, in the item's profile) deleted with the handle the
    history kept; an item the history does not know is a failure (never a blind delete)."""
    from uploader.commands.delete import delete_row
    from uploader.commands.history import reader
    from uploader.commands.lookup import with_provider

    data = read_json(stream, headers)
    items = data.get("list") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise RequestRefusedError(
            'the body must be {"list": [the fullResult items of an upload]}', status=BAD_REQUEST
        )
    policy = limit_policy(options.on_limit, options.max_wait)
    done = failed = 0
    problems: list[str] = []
    history = reader(runtime)
    try:
        for item in items:
            named = item.get("provider")
            profile = config.profile(named if isinstance(named, str) else profile_name).name
            handles = {str(item[k]) for k in ("id", "delete_id", "url") if item.get(k)}
            rows = [
                e
                for e in history.entries(profile=profile)
                if e.status != "deleted" and handles & {e.remote_id, e.delete_id, e.url}
            ]
            if not rows:
                failed += 1
                problems.append(f"{item.get('url') or item.get('id')}: not in the history")
                continue
            try:
                for entry in rows[:1]:
                    with_provider(
                        config, profile, runtime, policy, partial(delete_row, history, entry)
                    )
                done += 1
            except UploaderError as exc:
                failed += 1
                problems.append(one_line(exc.message))
    finally:
        history.close()
    answer: dict[str, object] = {
        "success": failed == 0,
        "message": f"delete success: {done}, fail: {failed}",
    }
    if problems:
        answer["errors"] = problems
    return (200 if failed == 0 else 400 if not done else 500), answer


def refusal(exc: UploaderError) -> Answer:
    """The answer to a request refused as a whole."""
    if isinstance(exc, RequestRefusedError):
        status = exc.status
    elif isinstance(exc, UsageError):
        status = BAD_REQUEST
    else:
        status = status_of([exc])
    body: dict[str, object] = {"success": False, "result": [], "message": one_line(exc.message)}
    if exc.hint:
        body["hint"] = one_line(exc.hint)  # what the user can do, as the CLI's hint: line
    if isinstance(exc, RateLimitError) and exc.reset_at is not None:
        body["reset_at"] = exc.reset_at
    return status, body
