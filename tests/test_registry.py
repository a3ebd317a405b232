"""The provider registry and what the hotkey path imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.limiter import make_limiter
from tests.support.providers import config_of
from uploader.config import options
from uploader.providers import CLASSES, provider_class
from uploader.providers.base import ProviderContext
from uploader.ratelimit.limiter import RateLimiter


def test_every_kind_is_registered_and_satisfies_the_protocol() -> None:
    assert sorted(CLASSES) == ["custom", "gyazo", "imgur", "mastodon"]
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


def test_custom_upload_path_loads_only_the_custom_provider() -> None:
    code = (
        "import sys; from uploader.providers import provider_class;"
        "provider_class('custom');"
        "print(sorted(m for m in sys.modules if m.startswith('uploader.providers.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = eval(done.stdout)  # noqa: S307 - our own repr of a list of strings
    assert "uploader.providers.custom" in loaded
    assert not [m for m in loaded if m.rsplit(".", 1)[1].startswith(("imgur", "gyazo", "mastodon"))]


# -- construction: one ProviderContext -------------------------------------------------------

PROFILES = (
    '[providers.im]\nkind = "imgur"\nclient_id = "cid-123"\nbase_url = "http://127.0.0.1:1/imgur"\n'
    '[providers.gy]\nkind = "gyazo"\nbase_url = "http://127.0.0.1:1/gyazo"\n'
    '[providers.social]\nkind = "mastodon"\nbase_url = "http://127.0.0.1:1/mastodon"\n'
    '[providers.cu]\nkind = "custom"\nDestinationType = "ImageUploader"\n'
    'RequestURL = "http://127.0.0.1:1/custom/up"\nFileFormName = "f"\n'
)
SECRETS = {"UPLOADER_GY_ACCESS_TOKEN": "gy-secret-1", "UPLOADER_SOCIAL_ACCESS_TOKEN": "ma-secret-2"}
NOW = 1_000_000.0


def _context(tmp_path: Path, name: str, limiter: RateLimiter | None = None) -> ProviderContext:
    profile = config_of(PROFILES, tmp_path).profile(name)
    refused = httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "slow down"})
    return ProviderContext(
        profile,
        provider_class(profile.kind).resolve_credential(profile, SECRETS),
        httpx.Client(transport=httpx.MockTransport(lambda _request: refused)),
        limiter,
        clock=lambda: NOW,
        env=SECRETS,
    )


@pytest.mark.parametrize("name", ["im", "gy", "social", "cu"])
def test_each_provider_is_built_from_its_context_alone(tmp_path: Path, name: str) -> None:
    profile = config_of(PROFILES, tmp_path).profile(name)
    specs = provider_class(profile.kind).bucket_specs(profile)
    limiter = make_limiter(tmp_path / "state", FakeTime(NOW), *specs)
    context = _context(tmp_path, name, limiter)
    provider = provider_class(profile.kind)(context)
    assert provider.credential is context.credential
    assert provider.session.http is context.http
    assert provider.session.limiter is limiter
    # The session reads refusals with the provider's own reader, on the context.s clock:
    # the 429's Retry-After (7 s) is what the limiter holds the buckets for.
    costs = {spec.name: 1 for spec in specs}
    provider.session.request("GET", f"{profile.base_url}/x", costs=costs)
    assert provider.session.refused_until == NOW + 7


def test_a_context_shows_no_secret(tmp_path: Path) -> None:
    shown = repr(_context(tmp_path, "gy"))
    assert "gy-secret-1" not in shown
    assert "ma-secret-2" not in shown
    assert "Credential(scheme='Bearer'" in shown
