"""The explicit provider registry: profile ``kind`` -> provider class.

Adding a provider is one module plus one line in ``_CLASSES``; the pipeline never names a
provider. Each class is imported the first time its kind is used, so a hotkey upload to
Imgur does not pay for loading the Gyazo and Mastodon modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping

from uploader.providers.base import Limits, OptionSpec, Provider

# kind -> (module, class): the whole list of providers, written out.
_CLASSES: dict[str, tuple[str, str]] = {
    "imgur": ("uploader.providers.imgur", "ImgurProvider"),
    "gyazo": ("uploader.providers.gyazo", "GyazoProvider"),
    "mastodon": ("uploader.providers.mastodon", "MastodonProvider"),
}


class _Registry(MutableMapping[str, type[Provider]]):
    """A dict of the classes in ``_CLASSES``, each loaded on first use."""

    def __init__(self) -> None:
        self._loaded: dict[str, type[Provider]] = {}

    def __getitem__(self, kind: str) -> type[Provider]:
        found = self._loaded.get(kind)
        if found is None:
            module, name = _CLASSES[kind]
            found = getattr(importlib.import_module(module), name)
            self._loaded[kind] = found
        return found

    def __setitem__(self, kind: str, cls: type[Provider]) -> None:
        self._loaded[kind] = cls

    def __delitem__(self, kind: str) -> None:
        del self._loaded[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*_CLASSES, *self._loaded]))

    def __len__(self) -> int:
        return len(set(_CLASSES) | set(self._loaded))

    def __contains__(self, kind: object) -> bool:
        return kind in _CLASSES or kind in self._loaded


KINDS: MutableMapping[str, type[Provider]] = _Registry()

__all__ = ["KINDS", "Limits", "OptionSpec", "Provider"]
