"""The explicit provider registry: profile ``kind`` -> provider class.

Adding a provider is one module plus one line here; the pipeline never names a provider.
"""

from __future__ import annotations

from uploader.providers.base import Limits, OptionSpec, Provider
from uploader.providers.gyazo import GyazoProvider
from uploader.providers.imgur import ImgurProvider
from uploader.providers.mastodon import MastodonProvider

KINDS: dict[str, type[Provider]] = {
    ImgurProvider.kind: ImgurProvider,
    GyazoProvider.kind: GyazoProvider,
    MastodonProvider.kind: MastodonProvider,
}

__all__ = ["KINDS", "Limits", "OptionSpec", "Provider"]
