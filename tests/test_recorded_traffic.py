"""Defects found by replaying real recorded Mastodon traffic (issue 11, section 7):
records that keep what was created, one meaning per JSON key, the last media poll."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.images import write_png
from tests.support.limiter import make_limiter
from tests.support.pipeline import run_upload
from tests.support.providers import config_of, imgur_toml
from tests.test_mastodon_provider import BASE, FILE_URL, MEDIA, MID, NOW, PENDING, TOKEN, Server
from tests.test_mastodon_provider import _image as image_of
from tests.test_mastodon_provider import _provider as mastodon
from uploader.commands.limits import bucket_line
from uploader.commands.lookup import info_record
from uploader.errors import ExitCode, ProviderError
from uploader.models import UploadOptions, UploadResult
from uploader.output import render
from uploader.ratelimit.limiter import BucketSpec
from uploader.timewords import clock

SOCIAL = f'[providers.social]\nkind = "mastodon"\nbase_url = "{BASE}"\n'


def _social_run(tmp_path: Path, env: dict[str, str], statuses: list[httpx.Response]) -> dict:
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(200, json=MEDIA)],
            "POST /api/v1/statuses": statuses,
        }
    )
    run = run_upload(
        config_of(SOCIAL, tmp_path),
        [str(write_png(tmp_path / "a.png"))],
        {**env, "UPLOADER_SOCIAL_ACCESS_TOKEN": TOKEN},
        FakeTime(NOW),
        transport=httpx.MockTransport(server),
        provider="social",
        options=UploadOptions(post=True, status="hi"),
    )
    assert run.results[0].status == "failed"
    assert len(server.requests("POST /api/v2/media")) == 1
    record: dict = json.loads(render(run.results[0], "json") or "")
    record["exit"] = run.exit_code
    return record


@pytest.mark.parametrize(
    ("answers", "exit_code"),
    [
        ([httpx.Response(500, json={"error": "boom"})] * 3, ExitCode.PROVIDER),
        ([httpx.Response(422, json={"error": "Validation failed"})], ExitCode.PROVIDER),
        ([httpx.Response(403, json={"error": "outside the authorized scopes"})], ExitCode.AUTH),
        ([httpx.Response(200, json={"id": "1"})], ExitCode.PROVIDER),  # no status URL
    ],
)
def test_a_failed_status_post_keeps_the_media_id_in_the_record(
    tmp_path: Path,
    hermetic_env: dict[str, str],
    answers: list[httpx.Response],
    exit_code: ExitCode,
) -> None:
    record = _social_run(tmp_path, hermetic_env, answers)
    assert (record["id"], record["delete_id"]) == (MID, MID)
    assert record["url"] is None  # failed: nothing to print in the url format
    assert record["status"] == "failed"
    assert record["exit"] == exit_code


def test_an_empty_imgur_deletehash_is_null(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    data = {"id": "AbCdEf1", "link": "https://i.imgur.com/AbCdEf1.png", "deletehash": ""}
    data |= {"type": "image/png", "name": ""}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": data, "success": True, "status": 200})

    run = run_upload(
        config_of(imgur_toml("http://127.0.0.1:1/imgur"), tmp_path),
        [str(write_png(tmp_path / "a.png"))],
        hermetic_env,
        FakeTime(NOW),
        transport=httpx.MockTransport(handler),
        provider="im",
    )
    assert run.results[0].delete_id is None  # the provider's record
    record = json.loads(render(run.results[0], "json") or "")
    assert record["delete_id"] is None
    assert record["id"] == "AbCdEf1"


def test_json_records_never_carry_an_empty_handle() -> None:
    result = UploadResult(path="a.png", provider="p", status="failed", id="", url="", delete_id="")
    record = json.loads(render(result, "json") or "")
    assert (record["id"], record["url"], record["delete_id"]) == (None, None, None)


def test_type_is_a_mime_type_in_upload_and_info_records(tmp_path: Path) -> None:
    video_url = "https://files.example/media_attachments/files/1/original/v.mp4"
    done = {**MEDIA, "type": "gifv", "url": video_url}
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(202, json={**PENDING, "type": "gifv"})],
            f"GET /api/v1/media/{MID}": [httpx.Response(200, json=done)] * 2,
        }
    )
    provider = mastodon(server, tmp_path)
    uploaded = json.loads(
        render(provider.upload(image_of(tmp_path), UploadOptions()), "json") or ""
    )
    looked_up = info_record(provider.info(MID))
    assert uploaded["type"] == looked_up["type"] == "video/mp4"
    assert uploaded["media_type"] == looked_up["media_type"] == "gifv"
    image = Server({"POST /api/v2/media": [httpx.Response(200, json=MEDIA)]})
    record = json.loads(
        render(mastodon(image, tmp_path).upload(image_of(tmp_path), UploadOptions()), "json") or ""
    )
    assert (record["type"], record["media_type"], record["url"]) == ("image/png", "image", FILE_URL)


def test_media_polling_makes_a_last_poll_at_its_deadline(tmp_path: Path) -> None:
    done = {**MEDIA, "type": "video", "url": "https://files.example/v.mp4"}
    pending = [httpx.Response(206, json=PENDING)] * 14
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(202, json=PENDING)],
            f"GET /api/v1/media/{MID}": [*pending, httpx.Response(200, json=done)],
        }
    )
    sleeps: list[float] = []
    result = mastodon(server, tmp_path, sleeps=sleeps).upload(image_of(tmp_path), UploadOptions())
    # 0.5+1+2+4 = 7.5 s, ten 5 s waits up to 57.5 s, then the wait cut to reach 60 s.
    assert sleeps == [0.5, 1.0, 2.0, 4.0, *[5.0] * 10, 2.5]
    assert sum(sleeps) == 60.0
    assert result.url == "https://files.example/v.mp4"


def test_media_polling_gives_up_after_the_poll_at_its_deadline(tmp_path: Path) -> None:
    server = Server(
        {
            "POST /api/v2/media": [httpx.Response(202, json=PENDING)],
            f"GET /api/v1/media/{MID}": [httpx.Response(206, json=PENDING)],
        }
    )
    sleeps: list[float] = []
    with pytest.raises(ProviderError, match="still processing media"):
        mastodon(server, tmp_path, "poll_timeout = 10\n", sleeps=sleeps).upload(
            image_of(tmp_path), UploadOptions()
        )
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 2.5]
    assert len(server.requests(f"GET /api/v1/media/{MID}")) == 5


@pytest.mark.parametrize("retry_after", [None, 42.0])
@pytest.mark.parametrize("spent_before", [0, 3])
def test_limits_labels_a_bucket_paused_by_a_refusal_by_the_refusal(
    tmp_path: Path, retry_after: float | None, spent_before: int
) -> None:
    fake = FakeTime(NOW)
    api = BucketSpec("api", "Mastodon API (per token)", 300, 300.0)
    media = BucketSpec("media", "Mastodon media uploads", 30, 1800.0)
    lim = make_limiter(tmp_path, fake, api, media)
    for _ in range(spent_before):  # answered without rate headers: counted locally
        lim.settle(lim.acquire({"api": 1, "media": 1}), [])
    fake.now += 7
    lim.reject(lim.acquire({"api": 1, "media": 1}), [], retry_after=retry_after)
    fake.now += 1
    lines = [bucket_line(state, fake.now) for state in lim.states()]
    for line in lines:
        assert "documented default" not in line
        assert "counted locally" not in line
        assert line.endswith(f"; paused after the server refused a request {clock(NOW + 7, NOW)}")
        assert ": 0/" in line


def test_limits_keeps_the_spent_label_when_the_server_named_the_bucket(tmp_path: Path) -> None:
    fake = FakeTime(NOW)
    media = BucketSpec("media", "Mastodon media uploads", 30, 1800.0)
    lim = make_limiter(tmp_path, fake, media)
    lim.reject(lim.acquire({"media": 1}), [], spent=("media",), retry_after=30.0)
    (state,) = lim.states()
    assert state.source == "refused"
    assert bucket_line(state, NOW).endswith(f"refused (the server said spent) {clock(NOW, NOW)}")


# -- every link or id the tool printed is accepted back -------------------------------------

RECORDED_VIDEO_PREVIEW = (
    "https://files.mastodon.example/media_attachments/thumbnails/117/020/576/894/251/992/"
    "original/5b8d3a1c2f9e7d64.jpg"
)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (RECORDED_VIDEO_PREVIEW, MID),
        (RECORDED_VIDEO_PREVIEW.replace("original", "small"), MID),
        (
            f"https://m.example/system/cache/media_attachments/files/{'/'.join(['117'] * 6)}"
            "/original/a.png",
            "117117117117117117",
        ),
        ("https://m.example/system/media_attachments/files/000/000/042/original/a.mp4", "42"),
        (f"https://m.example/mastodon/api/v1/media/{MID}", MID),
        (MID, MID),
    ],
)
def test_every_mastodon_link_shape_gives_the_media_id(ref: str, expected: str) -> None:
    from uploader.providers.mastodon_media import media_ref

    assert media_ref(ref, "https://m.example") == expected


@pytest.mark.parametrize(
    "ref", ["https://m.example/@me/113000000000000001", "https://m.example/users/me/statuses/1"]
)
def test_a_post_link_is_refused_not_read_as_a_media_id(ref: str) -> None:
    from uploader.errors import UsageError
    from uploader.providers.mastodon_media import media_ref

    with pytest.raises(UsageError, match="link of a post"):
        media_ref(ref, "https://m.example")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("https://i.imgur.com/AbCdEf1.png", "AbCdEf1"),
        ("https://imgur.com/AbCdEf1", "AbCdEf1"),
        ("http://i.imgur.com/hiX02.gif", "hiX02"),
        ("https://i.imgur.com/AbCdEf1.gifv", "AbCdEf1"),
        ("AbCdEf1", "AbCdEf1"),
        ("hdYnH1gKz9YTHfS", "hdYnH1gKz9YTHfS"),
    ],
)
def test_every_imgur_link_shape_gives_the_id(ref: str, expected: str) -> None:
    from uploader.providers.imgur_media import imgur_id

    assert imgur_id(ref, "https://api.imgur.com") == expected


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("https://gyazo.com/8980c52421e452ac3355ca3e5cfe7a0c", "8980c52421e452ac3355ca3e5cfe7a0c"),
        ("http://gyazo.com/8980c52421e452ac3355ca3e5cfe7a0c", "8980c52421e452ac3355ca3e5cfe7a0c"),
        (
            "https://i.gyazo.com/8980c52421e452ac3355ca3e5cfe7a0c.png",
            "8980c52421e452ac3355ca3e5cfe7a0c",
        ),
        ("8980c52421e452ac3355ca3e5cfe7a0c", "8980c52421e452ac3355ca3e5cfe7a0c"),
    ],
)
def test_every_gyazo_link_shape_gives_the_id(ref: str, expected: str) -> None:
    from uploader.providers.gyazo_media import gyazo_id

    assert gyazo_id(ref, "https://api.gyazo.com") == expected


LINK_KEYS = ("url", "preview_url", "permalink_url")


@pytest.mark.parametrize("profile", ["im", "gz", "ma"])
def test_every_printed_link_and_id_is_accepted_back_by_info_and_delete(
    tmp_path: Path, hermetic_env: dict[str, str], profile: str
) -> None:
    from tests.support.e2e import run_cli, sandbox_process, write_all_kinds

    env = {**hermetic_env, "UPLOADER_GZ_ACCESS_TOKEN": "t", "UPLOADER_MA_ACCESS_TOKEN": "t"}
    with sandbox_process() as base:
        config = str(write_all_kinds(tmp_path / "c.toml", base))
        image = str(write_png(tmp_path / "a.png"))
        up = run_cli(["--config", config, "upload", "-p", profile, "-f", "json", image], env)
        assert up.returncode == 0, up.stderr
        record = json.loads(up.stdout)
        refs = [record["id"], *(record[k] for k in LINK_KEYS if record.get(k))]
        assert len(refs) >= 2
        for ref in refs:
            info = run_cli(["--config", config, "info", "-p", profile, ref, "--json"], env)
            assert info.returncode == 0, (ref, info.stderr)
            assert json.loads(info.stdout)["id"] == record["id"], ref
        # Delete by the handle the tool printed for it, or by the link for a signed-in owner.
        handle = record["delete_id"] if profile == "im" else record["url"]
        gone = run_cli(["--config", config, "delete", "-p", profile, handle], env)
        assert gone.returncode == 0, gone.stderr
        after = run_cli(["--config", config, "info", "-p", profile, record["id"]], env)
        assert after.returncode != 0
        if profile == "ma":  # the post's link printed by `upload --post` (status_url)
            _post_link_is_accepted_back(tmp_path, config, env)


def _post_link_is_accepted_back(tmp_path: Path, config: str, env: dict[str, str]) -> None:
    from tests.support.e2e import run_cli

    image = str(write_png(tmp_path / "posted.png", seed=7))
    up = run_cli(["--config", config, "upload", "-p", "ma", "--post", "-f", "json", image], env)
    assert up.returncode == 0, up.stderr
    record = json.loads(up.stdout)
    link = record["status_url"]
    assert "/@" in link, link
    info = run_cli(["--config", config, "info", "-p", "ma", link, "--json"], env)
    assert info.returncode == 0, info.stderr
    assert (json.loads(info.stdout)["id"], json.loads(info.stdout)["url"]) == (
        record["id"],
        record["url"],
    )
    gone = run_cli(["--config", config, "delete", "-p", "ma", link], env)
    assert gone.returncode == 0, gone.stderr
    said = gone.stderr.decode()
    assert f"post {link.rsplit('/', 1)[1]} and its media {record['id']}" in said, said
    for ref in (link, record["id"]):  # the post and its media are both gone
        after = run_cli(["--config", config, "info", "-p", "ma", ref], env)
        assert after.returncode == 5, (ref, after.stderr)
        assert "no such" in after.stderr.decode(), after.stderr


def test_a_post_link_with_no_media_or_several_is_exit_2_in_a_real_process(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    import httpx

    from tests.support.e2e import run_cli, sandbox_process, write_all_kinds

    env = {**hermetic_env, "UPLOADER_MA_ACCESS_TOKEN": "t"}
    auth = {"Authorization": "Bearer t"}
    with sandbox_process() as base:
        config = str(write_all_kinds(tmp_path / "c.toml", base))
        api = f"{base}/mastodon/api"
        ids = [
            httpx.post(
                f"{api}/v2/media",
                headers=auth,
                files={"file": ("a.png", write_png(tmp_path / f"{n}.png", seed=n).read_bytes())},
                trust_env=False,
            ).json()["id"]
            for n in (1, 2)
        ]
        several = httpx.post(
            f"{api}/v1/statuses", headers=auth, data={"media_ids[]": ids}, trust_env=False
        ).json()["url"]
        none = httpx.post(
            f"{api}/v1/statuses", headers=auth, data={"status": "words"}, trust_env=False
        ).json()["url"]
        for command in ("info", "delete"):
            many = run_cli(["--config", config, command, "-p", "ma", several], env)
            said = many.stderr.decode()
            assert many.returncode == 2, said
            assert f"post with 2 media: {ids[0]}, {ids[1]}" in said
            assert "hint: pass one of these media ids" in said
            empty = run_cli(["--config", config, command, "-p", "ma", none], env)
            assert empty.returncode == 2, empty.stderr
            assert "post with no media" in empty.stderr.decode()
            assert "Traceback" not in said + empty.stderr.decode()
        # nothing was deleted: the post still answers
        for link in (several, none):
            sid = link.rsplit("/", 1)[1]
            still = httpx.get(f"{api}/v1/statuses/{sid}", headers=auth, trust_env=False)
            assert still.status_code == 200
