"""The providers: profile ``kind`` -> provider class, in one explicit dict.

Adding a provider is one module whose class satisfies :class:`~uploader.providers.base.Provider`
(a ``typing.Protocol``: construction from one :class:`~uploader.providers.base.ProviderContext`,
``bucket_specs``, ``resolve_credential``, ``limits``, ``upload``, the rate-limit readers and
the lookups), one entry in :data:`CLASSES` below and one in ``uploader/config/options.py``
(what its profile table may hold). Nothing else names a provider. Each class is imported the
first time its kind is used, so a hotkey upload to Imgur does not pay for loading the Gyazo
and Mastodon modules.

Why a Protocol and no base class: the three providers share little besides a few
functions (the Authorization headers, a streamed multipart POST, a 429's wait hint, the
local size check), and those are plain functions in ``base.py`` that each class calls. A
base class made every provider depend on hooks (``_setup``, overridable defaults) that
one or two of them used; the Protocol states the whole contract in one place, and mypy
checks each class against it (the ``TYPE_CHECKING`` block below, which costs nothing at
run time).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uploader.providers.base import Provider
    from uploader.providers.custom import CustomProvider
    from uploader.providers.gyazo import GyazoProvider
    from uploader.providers.imgur import ImgurProvider
    from uploader.providers.mastodon import MastodonProvider

    _CHECKED: tuple[type[Provider], ...] = (
        ImgurProvider,
        GyazoProvider,
        MastodonProvider,
        CustomProvider,
    )

# kind -> "module:Class": the whole list of providers, written out.
CLASSES: dict[str, str] = {
    "imgur": "uploader.providers.imgur:ImgurProvider",
    "gyazo": "uploader.providers.gyazo:GyazoProvider",
    "mastodon": "uploader.providers.mastodon:MastodonProvider",
    "custom": "uploader.providers.custom:CustomProvider",
}


def provider_class(kind: str) -> type[Provider]:
    """The class of ``kind``, imported on first use (KeyError for an unknown kind: the
    config layer has already refused those)."""
    module, _, name = CLASSES[kind].partition(":")
    found: type[Provider] = getattr(importlib.import_module(module), name)
    return found
