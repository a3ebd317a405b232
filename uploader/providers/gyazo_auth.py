"""Gyazo's account endpoints (reference 2.4): sign-in, and the token check of ``auth status``.

Gyazo has no refresh tokens and no revocation endpoint: a token lives until the user
revokes it on the web page.
"""

from __future__ import annotations

from uploader.auth.oauth import Endpoints
from uploader.providers.gyazo import COST

OAUTH = Endpoints(
    authorize="/oauth/authorize",
    token="/oauth/token",  # noqa: S106 - a path, not a secret
    whoami="/api/users/me",
    whoami_name=("user", "name"),
    whoami_costs=COST,
)
