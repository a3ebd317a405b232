"""End to end (real processes): every link and id any command printed is accepted back
by ``info`` and ``delete`` (issue 11, section 7), for every provider: the keys of
``upload``'s JSON (extras included), of ``info --json`` and the columns of ``list``.

Gyazo's ``thumb_url`` names no image (a signed token holding a storage key, as the real
service gives it, and the sandbox too): it is looked up in the account's listing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.e2e import get_json, run_cli, sandbox_process, write_all_kinds
from tests.support.images import write_png

TOKENS = {
    "UPLOADER_GZ_ACCESS_TOKEN": "t",
    "UPLOADER_MA_ACCESS_TOKEN": "t",
    "UPLOADER_IM_ACCESS_TOKEN": "t",  # signed in: its listing and delete by id work
}


def _refs(record: dict[str, Any]) -> dict[str, str]:
    """Every id and link in a printed record, by key."""
    return {
        key: value
        for key, value in record.items()
        if isinstance(value, str)
        and (key in ("id", "delete_id") or value.startswith(("http://", "https://")))
    }


def _printed(config: str, env: dict[str, str], profile: str, image: Path) -> dict[str, str]:
    """What upload, info --json and list print about one fresh upload, by kind."""
    up = run_cli(["--config", config, "upload", "-p", profile, "-f", "json", str(image)], env)
    assert up.returncode == 0, up.stderr
    record = json.loads(up.stdout)
    refs = {f"upload {k}": v for k, v in _refs(record).items()}
    info = run_cli(["--config", config, "info", "-p", profile, record["id"], "--json"], env)
    assert info.returncode == 0, info.stderr
    refs.update({f"info {k}": v for k, v in _refs(json.loads(info.stdout)).items()})
    listed = run_cli(["--config", config, "list", "-p", profile], env)
    if listed.returncode == 0:  # Mastodon has no listing of uploads
        line = next(ln for ln in listed.stdout.decode().splitlines() if record["id"] in ln)
        ident, url = line.split("\t")[:2]
        refs.update({"list id": ident, "list url": url})
    refs["id"] = record["id"]
    return refs


KINDS = {
    "gz": [
        "upload url",
        "upload permalink_url",
        "upload thumb_url",
        "info thumb_url",
        "list url",
    ],
    "im": ["upload url", "upload delete_id", "info url", "list id", "list url"],
    "ma": ["upload url", "upload preview_url", "upload delete_id", "info preview_url"],
}


@pytest.mark.parametrize("profile", sorted(KINDS))
def test_every_printed_link_and_id_is_accepted_back_by_info(
    tmp_path: Path, hermetic_env: dict[str, str], profile: str
) -> None:
    env = {**hermetic_env, **TOKENS}
    with sandbox_process() as base:
        config = str(write_all_kinds(tmp_path / "c.toml", base))
        refs = _printed(config, env, profile, write_png(tmp_path / "a.png"))
        assert set(KINDS[profile]) <= set(refs), refs
        for kind, ref in refs.items():
            info = run_cli(["--config", config, "info", "-p", profile, ref, "--json"], env)
            assert info.returncode == 0, (kind, ref, info.stderr)
            assert json.loads(info.stdout)["id"] == refs["id"], (kind, ref)


@pytest.mark.parametrize(
    ("profile", "kind"), [(p, k) for p, kinds in sorted(KINDS.items()) for k in kinds]
)
def test_every_printed_link_deletes_its_own_upload(
    tmp_path: Path, hermetic_env: dict[str, str], profile: str, kind: str
) -> None:
    env = {**hermetic_env, **TOKENS}
    with sandbox_process() as base:
        config = str(write_all_kinds(tmp_path / "c.toml", base))
        keep = _printed(config, env, profile, write_png(tmp_path / "keep.png", seed=3))
        refs = _printed(config, env, profile, write_png(tmp_path / "a.png", seed=4))
        gone = run_cli(["--config", config, "delete", "-p", profile, refs[kind]], env)
        assert gone.returncode == 0, (kind, refs[kind], gone.stderr)
        left = {u["id"] for u in get_json(f"{base}/_sandbox/uploads")}
    assert refs["id"] not in left  # that upload, and only it, is gone
    assert keep["id"] in left


def test_a_thumb_link_of_no_listed_upload_is_exit_5_and_deletes_nothing(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    env = {**hermetic_env, **TOKENS}
    with sandbox_process() as base:
        config = str(write_all_kinds(tmp_path / "c.toml", base))
        refs = _printed(config, env, "gz", write_png(tmp_path / "a.png"))
        thumb = refs["upload thumb_url"]
        other = thumb.rsplit("/", 1)[0] + "/eyJhbGciOiJIUzI1NiJ9.eyJpbWciOiJfMCJ9.c2ln-png.jpg"
        for command in ("info", "delete"):
            done = run_cli(["--config", config, command, "-p", "gz", other], env)
            said = done.stderr.decode()
            assert done.returncode == 5, said
            assert "no upload among the account's 500 most recent has the thumbnail" in said
            assert "Traceback" not in said
        left = {u["id"] for u in get_json(f"{base}/_sandbox/uploads")}
    assert refs["id"] in left


RECORDED_THUMB = (  # a real upload answer's thumb_url (its image_id is 45927ce6...)
    "https://thumb.gyazo.com/thumb/200/eyJhbGciOiJIUzI1NiJ9.eyJpbWciOiJfOWU5YzJiOTA1ZTM4NTYw"
    "MWE1NjQ4NmViOGFiYzVmMjEifQ.UEnPXn6-dbc4G74aogPzfbStPQ0V5hlHf5ghhZOdA1c-png.jpg"
)
TOKEN = RECORDED_THUMB.rsplit("/", 1)[1]
ID = "8980c52421e452ac3355ca3e5cfe7a0c"


@pytest.mark.parametrize(
    ("ref", "key"),
    [
        (RECORDED_THUMB, TOKEN),
        (RECORDED_THUMB.replace("/200/", "/200_w/"), TOKEN),  # another size, same token
        (
            "https://thumb.gyazo.com/thumb/_9cc038450850ae81c253b1dd2435725c-png.jpg",
            "_9cc038450850ae81c253b1dd2435725c-png.jpg",
        ),
        ("https://i.gyazo.com/thumb/180/afaiefnaf.png", "afaiefnaf.png"),  # the docs' shape
        (f"https://thumb.gyazo.com/thumb/960/{ID}.jpg", None),  # names its image
        (f"https://i.gyazo.com/{ID}.png", None),
        (ID, None),
    ],
)
def test_a_thumb_link_that_names_no_image_is_looked_up_by_its_token(
    ref: str, key: str | None
) -> None:
    from uploader.providers.gyazo_media import thumb_key

    assert thumb_key(ref, "https://api.gyazo.com") == key


def test_a_thumb_link_that_names_its_image_gives_the_id() -> None:
    from uploader.errors import UsageError
    from uploader.providers.gyazo_media import gyazo_id

    for size in ("960", "200_w", "8192"):
        assert gyazo_id(f"https://thumb.gyazo.com/thumb/{size}/{ID}.jpg", "https://x.y") == ID
    # The signed token is never read as an id (its first part would pass for one).
    with pytest.raises(UsageError, match="does not name its image"):
        gyazo_id(RECORDED_THUMB, "https://api.gyazo.com")


def test_the_sandbox_gives_thumb_links_shaped_as_the_real_service_and_serves_them(
    tmp_path: Path,
) -> None:
    import httpx

    from uploader.sandbox import Sandbox, SandboxConfig

    auth = {"Authorization": "Bearer t"}
    with Sandbox(SandboxConfig()) as sandbox:
        png = write_png(tmp_path / "x.png").read_bytes()
        answer = httpx.post(
            f"{sandbox.base_url}/gyazo-upload/api/upload",
            headers=auth,
            files={"imagedata": ("x.png", png)},
            trust_env=False,
        ).json()
        thumb = answer["thumb_url"]
        assert thumb.startswith(f"{sandbox.base_url}/gyazo/thumb/200/eyJhbGciOiJIUzI1NiJ9.")
        assert thumb.endswith("-png.jpg")
        assert answer["image_id"] not in thumb  # like the real one: no image id in it
        served = httpx.get(thumb, trust_env=False)
        assert (served.status_code, served.content) == (200, png)
