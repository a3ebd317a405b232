"""The sandbox's Gyazo and Mastodon OAuth endpoints behave like the real ones."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import httpx

from uploader.auth.oauth import pkce_pair
from uploader.sandbox import Sandbox

SECRET = "sandbox-secret"


def _code(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return dict(parse_qsl(urlsplit(response.headers["location"]).query))


def test_mastodon_register_authorize_pkce_token_revoke() -> None:
    with Sandbox() as sb:
        base = f"{sb.base_url}/mastodon"
        app = httpx.post(
            f"{base}/api/v1/apps",
            data={
                "client_name": "uploader",
                "scopes": "write:media read:accounts",
                "redirect_uris": "http://127.0.0.1/callback\nurn:ietf:wg:oauth:2.0:oob",
            },
            trust_env=False,
        ).json()
        assert app["redirect_uris"] == ["http://127.0.0.1/callback", "urn:ietf:wg:oauth:2.0:oob"]
        assert app["client_secret_expires_at"] == 0
        verifier, challenge = pkce_pair()
        redirect = "http://127.0.0.1:43210/callback"  # any loopback port (RFC 8252)
        query = {
            "response_type": "code",
            "client_id": app["client_id"],
            "redirect_uri": redirect,
            "scope": "write:media",
            "state": "st",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        got = _code(httpx.get(f"{base}/oauth/authorize", params=query, trust_env=False))
        assert got["state"] == "st"
        form = {
            "grant_type": "authorization_code",
            "code": got["code"],
            "redirect_uri": redirect,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "code_verifier": "wrong-verifier",
        }
        bad = httpx.post(f"{base}/oauth/token", data=form, trust_env=False)
        assert bad.status_code == 400
        assert bad.json()["error"] == "invalid_grant"
        assert 'error="invalid_grant"' in bad.headers["www-authenticate"]
        got = _code(httpx.get(f"{base}/oauth/authorize", params=query, trust_env=False))
        form.update(code=got["code"], code_verifier=verifier)
        token = httpx.post(f"{base}/oauth/token", data=form, trust_env=False).json()
        assert token["token_type"] == "Bearer"
        assert token["scope"] == "write:media"
        reused = httpx.post(f"{base}/oauth/token", data=form, trust_env=False)
        assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
        wrong_secret = httpx.post(
            f"{base}/oauth/token", data={**form, "client_secret": "x"}, trust_env=False
        )
        assert wrong_secret.status_code == 401
        assert wrong_secret.json()["error"] == "invalid_client"
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        assert (
            httpx.get(
                f"{base}/api/v1/apps/verify_credentials", headers=auth, trust_env=False
            ).status_code
            == 200
        )
        revoked = httpx.post(
            f"{base}/oauth/revoke",
            data={
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "token": token["access_token"],
            },
            trust_env=False,
        )
        assert (revoked.status_code, revoked.json()) == (200, {})
        after = httpx.get(f"{base}/api/v1/apps/verify_credentials", headers=auth, trust_env=False)
        assert after.status_code == 401
        not_registered = httpx.get(
            f"{base}/oauth/authorize",
            params={**query, "redirect_uri": "https://evil.example/cb"},
            trust_env=False,
        )
        assert not_registered.status_code == 400


def test_gyazo_code_is_bound_to_client_and_redirect() -> None:
    with Sandbox() as sb:
        base = f"{sb.base_url}/gyazo"
        redirect = "http://127.0.0.1:5555/callback"
        query = {"client_id": "gz", "redirect_uri": redirect, "response_type": "code", "state": "s"}
        got = _code(httpx.get(f"{base}/oauth/authorize", params=query, trust_env=False))
        form = {
            "client_id": "gz",
            "client_secret": SECRET,
            "redirect_uri": redirect,
            "code": got["code"],
            "grant_type": "authorization_code",
        }
        other = httpx.post(
            f"{base}/oauth/token", data={**form, "client_id": "other"}, trust_env=False
        )
        assert (other.status_code, other.json()["error"]) == (400, "invalid_grant")
        got = _code(httpx.get(f"{base}/oauth/authorize", params=query, trust_env=False))
        elsewhere = {**form, "code": got["code"], "redirect_uri": "http://127.0.0.1:1/callback"}
        moved = httpx.post(f"{base}/oauth/token", data=elsewhere, trust_env=False)
        assert (moved.status_code, moved.json()["error"]) == (400, "invalid_grant")
        got = _code(httpx.get(f"{base}/oauth/authorize", params=query, trust_env=False))
        form["code"] = got["code"]
        assert (
            httpx.post(
                f"{base}/oauth/token", data={**form, "client_secret": "no"}, trust_env=False
            ).status_code
            == 401
        )
        token = httpx.post(f"{base}/oauth/token", data=form, trust_env=False)
        assert token.status_code == 200
        assert len(token.json()["access_token"]) == 64
        assert token.json()["token_type"].lower() == "bearer"


def test_mastodon_client_credentials_app_token() -> None:
    with Sandbox() as sb:
        base = f"{sb.base_url}/mastodon"
        app = httpx.post(
            f"{base}/api/v1/apps",
            data={
                "client_name": "uploader",
                "scopes": "read write:media",
                "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
            },
            trust_env=False,
        ).json()
        form = {
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "read",
        }
        answer = httpx.post(f"{base}/oauth/token", data=form, trust_env=False)
        assert answer.status_code == 200
        check = httpx.get(
            f"{base}/api/v1/apps/verify_credentials",
            headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
            trust_env=False,
        )
        assert check.status_code == 200
        wrong = httpx.post(
            f"{base}/oauth/token", data={**form, "client_secret": "wrong"}, trust_env=False
        )
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_client"


def test_mastodon_app_verify_credentials_honours_the_token_list() -> None:
    from uploader.sandbox import SandboxConfig

    with Sandbox(SandboxConfig(mastodon_tokens=("fake-known-token",))) as sb:
        url = f"{sb.base_url}/mastodon/api/v1/apps/verify_credentials"

        def status(token: str) -> int:
            headers = {"Authorization": f"Bearer {token}"}
            return httpx.get(url, headers=headers, trust_env=False).status_code

        assert status("fake-known-token") == 200
        assert status("fake-unknown-token") == 401
