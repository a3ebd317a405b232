"""``uploader info``, ``list`` and ``delete``: metadata lookups through the ETag cache."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from uploader.commands.attempt import retry_wait_text, when_allowed
from uploader.commands.runtime import Runtime, open_provider, retry_policy
from uploader.config.settings import Config
from uploader.errors import UploaderError
from uploader.http.retry import RetryEvent, call_with_retries
from uploader.models import MediaInfo
from uploader.output import flat
from uploader.providers.base import Provider
from uploader.ratelimit.limiter import LimitPolicy

T = TypeVar("T")


def with_provider(
    config: Config,
    name: str | None,
    runtime: Runtime,
    policy: LimitPolicy,
    action: Callable[[Provider], T],
    *,
    subject: str | None = None,
) -> T:
    """Open the profile's provider, run ``action`` with it, close the client.

    An error names ``subject`` (the id asked about) and the profile, for logs where many
    lookups run one after another.
    """
    profile, provider, http = open_provider(config, name, runtime, policy=policy)
    retry = retry_policy(config.defaults)

    def on_retry(event: RetryEvent) -> None:
        runtime.debug(
            f"attempt {event.attempt} failed ({event.reason}); {retry_wait_text(event.wait)}"
        )

    with http:
        try:
            # Lookups and deletes are retried like uploads: 5xx answers, requests that never
            # reached the server, a server's rate-limit refusal (after the limiter's wait).
            return call_with_retries(
                lambda: action(provider), retry, sleep=runtime.sleep, on_retry=on_retry
            )
        except UploaderError as exc:
            error = when_allowed(exc, provider, runtime.clock())
            if subject and repr(subject) not in error.message:  # else it names it already
                error = error.rephrased(f"{subject} (profile {profile.name}): {error.message}")
            if error is exc:
                raise
            raise error from exc


def local_time(epoch: float | None) -> str | None:
    """``epoch`` as local ISO 8601; None for none, and for a value no date can show (a
    server's ``nan`` or far-future time is not worth a crash)."""
    if epoch is None:
        return None
    try:
        return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        return None


def info_record(info: MediaInfo) -> dict[str, object]:
    record: dict[str, object] = {
        "id": info.id,
        "provider": info.provider,
        "url": info.url,
        "type": info.mime_type,
        "title": info.title,
        "description": info.description,
        "size": info.size,
        "created_at": local_time(info.created_at),
        "delete_id": info.delete_id,
    }
    for key, value in info.extra:
        record.setdefault(key, value)
    # One shape for every answer: "revalidated (304)" when the cached copy was confirmed.
    record.setdefault("cache", None)
    return record


def info_lines(info: MediaInfo) -> list[str]:
    lines = []
    for key, value in info_record(info).items():
        if value not in (None, ""):
            lines.append(f"{key}: {flat(str(value))}")
    return lines


def list_page(provider: Provider, page: int) -> tuple[list[MediaInfo], str | None]:
    """One page of uploads, plus a line about paging where the provider reports it."""
    items = provider.list_uploads(page)
    info = getattr(provider, "last_page_info", lambda: None)()
    if info is None:
        return items, None
    total = getattr(info, "total", None)
    per_page = getattr(info, "per_page", None) or len(items) or 1
    current = getattr(info, "page", None)
    if total is None or current is None:
        return items, None
    pages = max(1, -(-int(total) // int(per_page)))
    noun = "upload" if int(total) == 1 else "uploads"
    return items, f"page {current} of {pages} ({total} {noun})"


def list_line(info: MediaInfo) -> str:
    """One upload of ``uploader list``: id, URL and title, tab-separated."""
    fields = (info.id, info.url or "-", info.title or "")
    return "\t".join(flat(field) for field in fields).rstrip()
