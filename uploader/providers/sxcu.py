"""ShareX custom uploader definitions (``.sxcu``, JSON): reading and checking them.

INTERFACE SKELETON (issue 17): the helper "sxcu" fills it in; the others code against it.

A definition comes from an ``.sxcu`` file (:func:`load_sxcu`) or from the same keys inline
in a ``kind = "custom"`` profile of the TOML config (:func:`parse_sxcu` with the table).
Every problem is one :class:`SxcuError` line naming the source (the file, or
``config.toml: providers.NAME``) and the key: ``shots.sxcu: URL: unclosed '{' at 6``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uploader.errors import ConfigError

# Body types (ShareX ``CustomUploaderBody``); only these two can carry a file.
FILE_BODIES = ("MultipartFormData", "Binary")
BODIES = ("None", "MultipartFormData", "FormURLEncoded", "JSON", "XML", "Binary")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class SxcuError(ConfigError):
    """A definition that cannot be used: one line, naming the source and the key (exit 2)."""


@dataclass(frozen=True)
class CustomSpec:
    """One checked custom uploader. Template-bearing values are kept as written (templates
    are rendered per request by ``sxcu_template.render``), already checked for syntax."""

    source: str  # the file, or "config.toml: providers.NAME": the start of every message
    name: str  # ``Name``, or the file's stem
    version: str | None
    destination_types: tuple[str, ...]  # e.g. ("ImageUploader", "FileUploader")
    method: str  # one of METHODS (default POST)
    request_url: str  # template; a query string in it was moved into ``parameters``
    parameters: tuple[tuple[str, str], ...] = ()  # name -> value template (query string)
    headers: tuple[tuple[str, str], ...] = ()
    body: str = "MultipartFormData"  # one of FILE_BODIES for an image/file uploader
    arguments: tuple[tuple[str, str], ...] = ()  # form fields (multipart / form-encoded)
    file_form_name: str | None = None  # the multipart field of the file
    data: str | None = None  # JSON/XML body template
    url: str | None = None  # result templates (None or "": ShareX semantics)
    thumbnail_url: str | None = None
    deletion_url: str | None = None
    error_message: str | None = None
    notices: tuple[str, ...] = ()  # what to report (unknown keys, an unknown version...)


def parse_sxcu(raw: Mapping[str, Any], source: str) -> CustomSpec:
    """Check one definition (the decoded JSON object, or a TOML table) and return it."""
    raise NotImplementedError


def load_sxcu(path: Path) -> CustomSpec:
    """Read and check an ``.sxcu`` file (UTF-8, a BOM allowed); every problem an SxcuError."""
    raise NotImplementedError
