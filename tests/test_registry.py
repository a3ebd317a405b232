"""The provider registry and what the hotkey path imports."""

from __future__ import annotations

import subprocess
import sys

from uploader.config import options
from uploader.providers import CLASSES, provider_class


def test_every_kind_is_registered_and_satisfies_the_protocol() -> None:
    assert sorted(CLASSES) == ["gyazo", "imgur", "mastodon"]
    # The config layer validates profiles with its own table of kinds: the same kinds.
    assert sorted(options.KINDS) == sorted(CLASSES)
    for kind in CLASSES:
        cls = provider_class(kind)
        assert cls.kind == kind
        assert cls.__bases__ == (object,)  # a Protocol to satisfy, no base class to inherit
        for name in (
            "upload",
            "limits",
            "rate_updates",
            "rate_refusal",
            "info",
            "list_uploads",
            "delete",
            "find_upload",
            "can_find_uploads",
            "live_limits",
            "resolve_credential",
            "bucket_specs",
        ):
            assert callable(getattr(cls, name)), (kind, name)


def test_imgur_upload_path_does_not_load_other_providers_or_tenacity() -> None:
    code = (
        "import sys; from uploader import cli; from uploader.commands import upload;"
        "from uploader.commands import runtime;"
        "from uploader.providers import provider_class;"
        "provider_class('imgur');"
        "print(sorted(m for m in sys.modules if m.startswith(('uploader.providers.', "
        "'tenacity', 'httpx._main', 'rich'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = eval(done.stdout)  # noqa: S307 - our own repr of a list of strings
    assert "uploader.providers.imgur" in loaded
    assert not [m for m in loaded if "gyazo" in m or "mastodon" in m]
    assert not [m for m in loaded if m.startswith(("tenacity", "rich"))]
    assert "uploader.providers.imgur_errors" not in loaded
