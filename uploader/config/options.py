"""What a ``[providers.NAME]`` table may hold, per ``kind``: plain data, no provider code.

The config layer validates a profile against these specs when the file is loaded (a bad
value is exit 2 naming the file, the line and the key), and the providers read the values
through :meth:`Profile.option`. Keeping the specs here, below the providers, is what lets
``config`` know nothing of ``providers`` (dependencies point down: issue 10). Adding a
provider kind means one entry in :data:`KINDS` here and one in ``providers/__init__.py``
(a test checks that both name the same kinds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple


class OptionSpec(NamedTuple):
    """Schema of one profile key: its TOML type and constraints."""

    type: type
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    is_url: bool = False
    secret: bool = False
    # A command line run without a shell: it must split into words (balanced quotes).
    is_command: bool = False
    # A file's path: not blank, no line break or control character (never a file's name).
    is_path: bool = False


class KindSpec(NamedTuple):
    """One provider kind as the config file sees it."""

    default_base_url: str
    options: Mapping[str, OptionSpec]


AUTH_MODES = ("auto", "anonymous", "oauth")
# The keys of a ShareX custom uploader (``.sxcu``), accepted inline in a ``kind = "custom"``
# profile with the same names and meaning (checked by providers/sxcu.py when used).
SHAREX_KEYS = (
    "Version",
    "Name",
    "DestinationType",
    "RequestMethod",
    "RequestURL",
    "Parameters",
    "Headers",
    "Body",
    "Arguments",
    "FileFormName",
    "Data",
    "URL",
    "ThumbnailURL",
    "DeletionURL",
    "ErrorMessage",
)
SHAREX_TABLES = ("Parameters", "Headers", "Arguments")
# A custom host documents no size limit the client can read: a generous local guard.
CUSTOM_MAX_FILE_SIZE = 100 * 1024 * 1024
MASTODON_VISIBILITIES = ("public", "unlisted", "private", "direct")

# Keys every profile may have, whatever its kind.
COMMON: Mapping[str, OptionSpec] = {
    "kind": OptionSpec(str),
    "base_url": OptionSpec(str),
    "auth": OptionSpec(str, choices=AUTH_MODES),
    # A command whose first line of output is the access token (password managers).
    "access_token_command": OptionSpec(str, is_command=True),
    # A fixed port for the sign-in redirect listener (0: any free port).
    "redirect_port": OptionSpec(int, minimum=0, maximum=65535),
}

KINDS: Mapping[str, KindSpec] = {
    "imgur": KindSpec(
        "https://api.imgur.com",
        {
            "client_id": OptionSpec(str),
            # Reference 1.10: an app that hits its daily limit 5 times in a month is
            # blocked for the rest of the month; keep this many uploads' worth of credits.
            "reserve_uploads": OptionSpec(int, minimum=0),
            # The API docs say 10 MB, the site 20 MB for images and 200 MB for video
            # (reference 1.12).
            "max_image_size": OptionSpec(int, minimum=1),
            "max_video_size": OptionSpec(int, minimum=1),
        },
    ),
    "gyazo": KindSpec(
        "https://api.gyazo.com",
        {
            "upload_url": OptionSpec(str, is_url=True),  # default https://upload.gyazo.com
            # The OAuth application's client id, for `uploader auth login` (reference 2.4).
            "client_id": OptionSpec(str),
            # "onlyme" (one client's spelling, reference 2.2) is not offered: the docs say
            # only_me.
            "access_policy": OptionSpec(str, choices=("anyone", "only_me")),
            "metadata_is_public": OptionSpec(bool),
            "referer_url": OptionSpec(str),
            "app": OptionSpec(str),
            "collection_id": OptionSpec(str),
            # The API documents no size limit (reference 2.5 GAP): a local guard only.
            "max_image_size": OptionSpec(int, minimum=1),
        },
    ),
    "mastodon": KindSpec(
        "https://mastodon.social",  # a placeholder: users set their own server
        {
            "visibility": OptionSpec(str, choices=MASTODON_VISIBILITIES),
            # Used only when the server's /api/v2/instance does not say (reference 3.6).
            "max_image_size": OptionSpec(int, minimum=1),
            "max_video_size": OptionSpec(int, minimum=1),
            "poll_timeout": OptionSpec(float, minimum=0, maximum=365 * 86400),
        },
    ),
    "custom": KindSpec(
        "",  # none: the host is the origin of the definition's RequestURL
        {
            # A ShareX definition file (relative to the config file's directory, ~ expanded),
            # or the same keys inline (SHAREX_KEYS).
            "sxcu": OptionSpec(str, is_path=True),
            "max_file_size": OptionSpec(int, minimum=1),
            **{key: OptionSpec(dict if key in SHAREX_TABLES else str) for key in SHAREX_KEYS},
        },
    ),
}


def url_options(kind: str) -> tuple[str, ...]:
    """The keys of ``kind`` that hold a URL (checked like ``base_url``)."""
    return tuple(key for key, spec in KINDS[kind].options.items() if spec.is_url)
