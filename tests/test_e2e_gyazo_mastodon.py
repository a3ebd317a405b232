"""End to end: Gyazo and Mastodon through the real CLI against the sandbox (issue 5)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from tests.support.e2e import get_json, requests_log, run_cli, sandbox_process, write_all_kinds
from tests.support.images import write_png

GZ_TOKEN = "gz-token"
MA_TOKEN = "ma-token"


def _env(hermetic_env: dict[str, str]) -> dict[str, str]:
    return {
        **hermetic_env,
        "UPLOADER_GZ_ACCESS_TOKEN": GZ_TOKEN,
        "UPLOADER_MA_ACCESS_TOKEN": MA_TOKEN,
        "UPLOADER_IM_ACCESS_TOKEN": "im-token",
    }


def test_gyazo_upload_info_304_list_delete(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process() as base:
        config, env = write_all_kinds(tmp_path / "c.toml", base), _env(hermetic_env)
        image = write_png(tmp_path / "shot.png", seed=21)
        up = run_cli(
            [
                "--config",
                str(config),
                "upload",
                "-p",
                "gz",
                "-f",
                "json",
                "--title",
                "T",
                "--description",
                "D",
                "--access-policy",
                "only_me",
                str(image),
            ],
            env,
        )
        assert up.returncode == 0, up.stderr
        record = json.loads(up.stdout)
        image_id = record["id"]
        assert record["url"] == f"{base}/gyazo/i/{image_id}.png"
        assert record["permalink_url"] == f"{base}/gyazo/{image_id}"
        (stored,) = get_json(f"{base}/_sandbox/uploads")
        assert stored["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
        sent = next(r for r in requests_log(base) if r["path"] == "/gyazo-upload/api/upload")
        assert sent["auth_scheme"] == "Bearer"
        assert sent["auth_sha256"] == hashlib.sha256(GZ_TOKEN.encode()).hexdigest()
        assert sent["file_field"] == "imagedata"
        assert sent["file_name"] == "shot.png"
        fields = sent["fields"]
        assert isinstance(fields, dict)
        assert (fields["title"], fields["desc"], fields["access_policy"]) == ("T", "D", "only_me")
        first = run_cli(["--config", str(config), "info", "-p", "gz", image_id, "--json"], env)
        second = run_cli(["--config", str(config), "info", "-p", "gz", image_id, "--json"], env)
        assert first.returncode == second.returncode == 0
        assert json.loads(first.stdout)["url"] == json.loads(second.stdout)["url"]
        lookups = [r for r in requests_log(base) if r["path"] == f"/gyazo/api/images/{image_id}"]
        assert lookups[0]["if_none_match"] is None
        assert lookups[1]["if_none_match"].startswith('W/"')
        assert lookups[1]["status"] == 304
        listed = run_cli(["--config", str(config), "list", "-p", "gz", "--json"], env)
        assert [json.loads(line)["id"] for line in listed.stdout.decode().splitlines()] == [
            image_id
        ]
        assert b"page 1 of 1 (1 upload)" in listed.stderr
        gone = run_cli(["--config", str(config), "delete", "-p", "gz", image_id], env)
        assert gone.returncode == 0
        assert f"deleted Gyazo image {image_id}".encode() in gone.stderr
        after = run_cli(["--config", str(config), "info", "-p", "gz", image_id], env)
        assert after.returncode == 5
        assert f"error: {image_id} (profile gz): Gyazo has no such image".encode() in after.stderr
        # The delete invalidated the cache: the lookup after it asked without a validator.
        final = [r for r in requests_log(base) if r["path"] == f"/gyazo/api/images/{image_id}"][-1]
        assert final["if_none_match"] is None


def test_mastodon_upload_202_poll_post_once_and_lookups(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # Polls come 0.5 s, then 1.5 s after the 202: processing for 1.2 s leaves the first poll
    # 0.7 s to spare on a slow machine and makes the second one see it done.
    with sandbox_process("mastodon_processing_seconds=1.2", "mastodon_async_threshold=100") as base:
        config, env = write_all_kinds(tmp_path / "c.toml", base), _env(hermetic_env)
        image = write_png(tmp_path / "big.png", width=40, height=40, seed=5)
        up = run_cli(
            [
                "--config",
                str(config),
                "upload",
                "-p",
                "ma",
                "-f",
                "json",
                "--post",
                "--status",
                "hello",
                "--description",
                "alt text",
                str(image),
            ],
            env,
        )
        assert up.returncode == 0, up.stderr
        record = json.loads(up.stdout)
        assert re.fullmatch(
            f"{re.escape(base)}/mastodon/system/media_attachments/files/"
            f"{'/'.join(re.findall('...', record['id'].zfill(18)))}/original/[0-9a-f]{{16}}[.]png",
            record["url"],
        )
        assert record["status_url"].startswith(f"{base}/mastodon/@sandbox/")
        log = requests_log(base)
        statuses = [
            r["status"] for r in log if r["path"] == f"/mastodon/api/v1/media/{record['id']}"
        ]
        assert statuses[0] == 206
        assert statuses[-1] == 200
        posted = [r for r in log if r["path"] == "/mastodon/api/v1/statuses"]
        assert len(posted) == 1
        sent = next(r for r in log if r["path"] == "/mastodon/api/v2/media")
        assert sent["fields"]["description"] == "alt text"
        assert sent["auth_sha256"] == hashlib.sha256(MA_TOKEN.encode()).hexdigest()
        # A second upload: the instance document is revalidated with a 304.
        again = run_cli(
            [
                "--config",
                str(config),
                "upload",
                "-p",
                "ma",
                "-f",
                "json",
                str(write_png(tmp_path / "b.png", seed=6)),
            ],
            env,
        )
        assert again.returncode == 0, again.stderr
        instance = [r for r in requests_log(base) if r["path"] == "/mastodon/api/v2/instance"]
        assert [r["status"] for r in instance] == [200, 304]
        media_id = json.loads(again.stdout)["id"]
        for _ in range(2):
            info = run_cli(["--config", str(config), "info", "-p", "ma", media_id], env)
            assert info.returncode == 0, info.stderr
        lookups = [
            r for r in requests_log(base) if r["path"] == f"/mastodon/api/v1/media/{media_id}"
        ]
        # Authenticated Mastodon answers are `no-store`: never cached, so no validator sent.
        assert [r["if_none_match"] for r in lookups] == [None] * len(lookups)
        gone = run_cli(["--config", str(config), "delete", "-p", "ma", media_id], env)
        assert gone.returncode == 0, gone.stderr
        after = run_cli(["--config", str(config), "info", "-p", "ma", media_id], env)
        assert after.returncode == 5
        assert b"has no such media" in after.stderr


def test_imgur_info_twice_list_and_delete(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    with sandbox_process() as base:
        config, env = write_all_kinds(tmp_path / "c.toml", base), _env(hermetic_env)
        up = run_cli(
            [
                "--config",
                str(config),
                "upload",
                "-p",
                "im",
                "-f",
                "json",
                str(write_png(tmp_path / "i.png", seed=8)),
            ],
            env,
        )
        assert up.returncode == 0, up.stderr
        record = json.loads(up.stdout)
        assert record["status"] == "uploaded"
        answers = []
        for _ in range(2):
            info = run_cli(
                ["--config", str(config), "info", "-p", "im", record["id"], "--json"], env
            )
            assert info.returncode == 0, info.stderr
            answers.append(json.loads(info.stdout))
        assert [a["cache"] for a in answers] == [None, "revalidated (304)"]
        assert set(answers[0]) == set(answers[1])  # one JSON shape either way
        assert get_json(f"{base}/_sandbox/stats")["not_modified"] == 1
        bypass = run_cli(
            ["--config", str(config), "info", "-p", "im", record["id"], "--no-cache"], env
        )
        assert bypass.returncode == 0
        assert requests_log(base)[-1]["if_none_match"] is None
        listed = run_cli(["--config", str(config), "list", "-p", "im"], env)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.decode().splitlines() == [f"{record['id']}\t{record['url']}"]
        gone = run_cli(["--config", str(config), "delete", "-p", "im", record["url"]], env)
        assert gone.returncode == 0, gone.stderr
        after = run_cli(["--config", str(config), "info", "-p", "im", record["id"]], env)
        assert after.returncode == 5
        assert after.stderr.decode().splitlines()[0] == (
            f"error: {record['id']} (profile im): Imgur has no such image (HTTP 404, "
            "text/html page titled 'imgur: the simple 404 page')"
        )
