"""`uploader limits` as text: where each figure came from, and when it resets."""

from __future__ import annotations

from datetime import datetime

import pytest

from uploader.commands.limits import ProfileLimits, render_text, to_json
from uploader.errors import AuthError
from uploader.ratelimit.bucket import BucketState

NOW = datetime.fromisoformat("2026-12-01T09:45:00+00:00").timestamp()


pytestmark = pytest.mark.usefixtures("utc")  # local times read in UTC (conftest.py)


def _state(**changes: object) -> BucketState:
    base = BucketState("api", "Mastodon API (per token)", 300, 300, NOW + 300, None, "default", 0)
    return base._replace(**changes)


def test_where_each_figure_came_from() -> None:
    item = ProfileLimits(
        "social",
        "mastodon",
        "https://mastodon.example",
        (
            _state(),
            _state(remaining=297),
            _state(remaining=12, observed_at=NOW - 60, source="headers"),
            _state(
                bucket="media",
                label="Mastodon media",
                limit=30,
                remaining=0,
                reset_at=NOW + 86400,
                observed_at=NOW - 5,
                source="refused",
            ),
        ),
    )
    assert render_text([item], now=NOW) == [
        "social (mastodon, https://mastodon.example)",
        "  Mastodon API (per token): 300/300 left; resets at 09:50:00 UTC (in 5 min); "
        "not seen yet (documented default)",
        "  Mastodon API (per token): 297/300 left; resets at 09:50:00 UTC (in 5 min); "
        "counted locally, no answer has reported it (documented default)",
        "  Mastodon API (per token): 12/300 left; resets at 09:50:00 UTC (in 5 min); "
        "headers seen at 09:44:00 UTC",
        "  Mastodon media: 0/30 left; resets tomorrow at 09:45:00 UTC (in 24.0 h); "
        "refused (the server said spent) at 09:44:55 UTC",
    ]


def test_a_profile_that_cannot_be_asked_says_why() -> None:
    error = AuthError("profile 'gy' has no Gyazo access token", hint="run `uploader auth login gy`")
    item = ProfileLimits("gy", "gyazo", "https://api.gyazo.com", (), error)
    assert render_text([item], now=NOW) == [
        "gy (gyazo, https://api.gyazo.com)",
        "  not available: profile 'gy' has no Gyazo access token",
        "  hint: run `uploader auth login gy`",
    ]
    assert to_json([item], now=NOW) == [
        {
            "profile": "gy",
            "kind": "gyazo",
            "bucket": None,
            "error": "profile 'gy' has no Gyazo access token",
        }
    ]
