"""The sandbox's Imgur albums against reference 1.6: anonymous albums by deletehash,
account albums by id, the upload's ``album`` field, reads, changes and deletion."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.cli import invoke, json_lines, sandbox
from tests.support.e2e import write_config
from tests.support.images import png_bytes, write_png
from uploader.sandbox import Sandbox, SandboxConfig

ANON = {"Authorization": "Client-ID abc"}
OWNER = {"Authorization": "Bearer owner-token"}
OTHER = {"Authorization": "Bearer other-token"}


@contextmanager
def imgur() -> Iterator[httpx.Client]:
    with (
        Sandbox(SandboxConfig()) as sb,
        httpx.Client(base_url=sb.base_url + "/imgur", trust_env=False) as client,
    ):
        yield client


def _upload(client: httpx.Client, auth: dict[str, str], seed: int, **fields: str) -> dict[str, Any]:
    files = {"image": ("a.png", png_bytes(seed=seed), "image/png")}
    answer = client.post("/3/image", files=files, data=fields, headers=auth)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def _ids(client: httpx.Client, album_id: str) -> list[str]:
    answer = client.get(f"/3/album/{album_id}/images", headers=ANON)
    assert answer.status_code == 200
    return [image["id"] for image in answer.json()["data"]]


def test_an_anonymous_album_takes_deletehashes_not_ids() -> None:
    with imgur() as client:
        one, two, three = (_upload(client, ANON, seed) for seed in (1, 2, 3))
        made = client.post(
            "/3/album",
            data={
                "deletehashes[]": [one["deletehash"], two["deletehash"]],
                "ids[]": [three["id"]],  # anonymous images are known by deletehash only
                "title": "Trip",
                "privacy": "secret",
            },
            headers=ANON,
        )
        assert made.status_code == 200
        body = made.json()
        assert (body["success"], body["status"]) == (True, 200)
        assert set(body["data"]) == {"id", "deletehash"}
        album_id, album_hash = body["data"]["id"], body["data"]["deletehash"]
        assert re.fullmatch(r"[A-Za-z0-9]{7}", album_id)
        assert re.fullmatch(r"[A-Za-z0-9]{15}", album_hash)
        assert _ids(client, album_id) == [one["id"], two["id"]]
        shown = client.get(f"/3/album/{album_id}", headers=ANON)
        album = shown.json()["data"]
        assert (album["title"], album["privacy"], album["is_album"]) == ("Trip", "secret", True)
        assert (album["images_count"], album["cover"]) == (2, one["id"])
        assert "deletehash" not in album  # shown to the owner only
        assert shown.headers["ETag"].startswith('"')
        again = client.get(
            f"/3/album/{album_id}", headers={**ANON, "If-None-Match": shown.headers["ETag"]}
        )
        assert (again.status_code, again.content) == (304, b"")
        # The upload's album field takes the album's deletehash (reference 1.3, 1.6).
        four = _upload(client, ANON, 4, album=album_hash)
        assert _ids(client, album_id) == [one["id"], two["id"], four["id"]]
        # ... and not its id: anonymous albums change only through their deletehash.
        _upload(client, ANON, 5, album=album_id)
        assert len(_ids(client, album_id)) == 3
        by_id = client.post(
            f"/3/album/{album_id}/add", data={"deletehashes": three["deletehash"]}, headers=ANON
        )
        assert by_id.status_code == 403
        assert by_id.json()["data"]["error"] == "Permission denied"
        added = client.post(
            f"/3/album/{album_hash}/add",
            data={"deletehashes": f"{three['deletehash']},{one['deletehash']}"},  # one string
            headers=ANON,
        )
        assert added.json() == {"data": True, "success": True, "status": 200}
        assert _ids(client, album_id) == [one["id"], two["id"], four["id"], three["id"]]
        removed = client.request(
            "DELETE",
            f"/3/album/{album_hash}/remove_images",
            data={"ids[]": [two["id"]]},  # type: ignore[arg-type]
            headers=ANON,
        )
        assert removed.json()["data"] is True
        assert _ids(client, album_id) == [one["id"], four["id"], three["id"]]
        gone = client.delete(f"/3/album/{album_hash}", headers=ANON)
        assert gone.json()["data"] is True
        after = client.get(f"/3/album/{album_id}", headers=ANON)
        assert after.status_code == 404
        assert "imgur: the simple 404 page" in after.text
        # Deleting the album leaves its images.
        assert client.get(f"/3/image/{one['id']}", headers=ANON).status_code == 200


def test_an_account_album_takes_its_own_ids_and_the_owner_changes_it_by_id() -> None:
    with imgur() as client:
        mine = _upload(client, OWNER, 1)
        theirs = _upload(client, OTHER, 2)
        made = client.post(
            "/3/album", data={"ids[]": [mine["id"], theirs["id"]]}, headers=OWNER
        ).json()["data"]
        album_id = made["id"]
        assert _ids(client, album_id) == [mine["id"]]  # another account's id is not taken
        owned = client.get(f"/3/album/{album_id}", headers=OWNER).json()["data"]
        assert owned["deletehash"] == made["deletehash"]
        assert owned["account_url"] == mine["account_url"]
        newer = _upload(client, OWNER, 3, album=album_id)
        assert _ids(client, album_id) == [mine["id"], newer["id"]]
        refused = client.put(f"/3/album/{album_id}", data={"title": "x"}, headers=OTHER)
        assert refused.status_code == 403
        updated = client.put(f"/3/album/{album_id}", data={"title": "Named"}, headers=OWNER)
        assert updated.json()["data"] is True
        assert client.get(f"/3/album/{album_id}", headers=ANON).json()["data"]["title"] == "Named"
        assert _ids(client, album_id) == [mine["id"], newer["id"]]  # PUT without ids keeps them
        replaced = client.post(f"/3/album/{album_id}", data={"ids": newer["id"]}, headers=OWNER)
        assert replaced.json()["data"] is True
        assert _ids(client, album_id) == [newer["id"]]
        one = client.get(f"/3/album/{album_id}/image/{newer['id']}", headers=ANON)
        assert one.json()["data"]["id"] == newer["id"]
        assert (
            client.get(f"/3/album/{album_id}/image/{mine['id']}", headers=ANON).status_code == 404
        )
        # A deleted image leaves the album.
        client.delete(f"/3/image/{newer['deletehash']}", headers=ANON)
        assert _ids(client, album_id) == []
        assert client.delete(f"/3/album/{album_id}", headers=OWNER).json()["data"] is True


def test_unknown_albums_are_imgurs_404_page() -> None:
    with imgur() as client:
        for method in ("GET", "PUT", "DELETE"):
            answer = client.request(method, "/3/album/Nope123", headers=ANON)
            assert answer.status_code == 404
            assert answer.headers["content-type"].startswith("text/html")
        assert client.get("/3/album", headers=ANON).status_code == 404


def test_answers_carry_the_cors_headers_seen_live() -> None:
    """Reference 1.1 [OBS S8, S10]: the CORS trio on every API answer."""
    with imgur() as client:
        answer = client.get("/3/album/Nope123", headers=ANON)
        made = client.post("/3/album", data={"title": "t"}, headers=ANON)
    for seen in (answer, made):
        assert seen.headers["Access-Control-Allow-Origin"] == "*"
        assert seen.headers["Access-Control-Allow-Methods"] == (
            "GET, PUT, POST, PATCH, DELETE, OPTIONS"
        )
        assert seen.headers["Access-Control-Allow-Headers"].startswith(
            "Authorization, Content-Type, Accept, X-Mashape-Authorization, IMGURPLATFORM"
        )


def test_upload_album_adds_to_an_anonymous_album_through_the_cli(tmp_path: Path) -> None:
    """The client's one use of albums (``--album``, reference 1.3): the deletehash of an
    anonymous album puts the upload in it."""
    with (
        sandbox() as server,
        httpx.Client(base_url=server.base_url + "/imgur", trust_env=False) as client,
    ):
        made = client.post("/3/album", data={"title": "t"}, headers=ANON).json()["data"]
        config = str(write_config(tmp_path / "c.toml", server.base_url))
        image = str(write_png(tmp_path / "a.png", seed=3))
        done = invoke(
            ["--config", config, "upload", "-f", "json", "--album", made["deletehash"], image]
        )
        assert done.exit_code == 0, done.stderr
        (record,) = json_lines(done.stdout)
        assert _ids(client, made["id"]) == [record["id"]]
