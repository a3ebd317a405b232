"""Mastodon's account endpoints (reference 3.1, 3.2): app registration, sign-in, the token
check of ``auth status`` and revocation (``POST /oauth/revoke``, RFC 7009)."""

from __future__ import annotations

from uploader.auth.oauth import Endpoints
from uploader.providers.mastodon import API_COST

OAUTH = Endpoints(
    authorize="/oauth/authorize",
    token="/oauth/token",  # noqa: S106 - a path, not a secret
    whoami="/api/v1/accounts/verify_credentials",
    whoami_name=("acct",),
    whoami_costs=API_COST,
    register="/api/v1/apps",
    revoke="/oauth/revoke",
)
