"""The sandbox's ``listing_lag`` knob (an upload shows in the account's listing only that
long after it was stored, on the sandbox's clock), the listing's fields, and the client's
recovery against such a listing, in process with one injected clock for both."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.images import jpeg_bytes, png_bytes, write_png
from tests.support.pipeline import run_upload
from tests.support.providers import config_of, imgur_toml
from uploader.errors import ExitCode
from uploader.http.retry import RetryPolicy
from uploader.sandbox import Sandbox, SandboxConfig
from uploader.sandbox.knobs import KnobError

START = 1_785_000_000.0
BEARER = {"Authorization": "Bearer user-token"}


def _imgur_ids(client: httpx.Client) -> list[str]:
    answer = client.get("/imgur/3/account/me/images", headers=BEARER)
    return [item["id"] for item in answer.json()["data"]]


def _gyazo_ids(client: httpx.Client) -> list[str]:
    answer = client.get("/gyazo/api/images", headers=BEARER)
    return [item["image_id"] for item in answer.json()]


def test_imgur_listing_lags_by_the_knob_on_the_sandbox_clock() -> None:
    fake = FakeTime(START)
    with Sandbox(SandboxConfig(listing_lag=2.5), clock=fake) as sb:
        client = httpx.Client(base_url=sb.base_url)
        post = client.post(
            "/imgur/3/image",
            files={"image": ("a.png", png_bytes(), "image/png")},
            headers=BEARER,
        )
        image_id = post.json()["data"]["id"]
        assert _imgur_ids(client) == []  # stored, not listed yet
        fake.now = START + 2.4
        assert _imgur_ids(client) == []
        fake.now = START + 2.5
        assert _imgur_ids(client) == [image_id]
        assert (
            client.get(f"/imgur/3/image/{image_id}", headers=BEARER).status_code == 200
        )  # lookups: at once


def test_gyazo_listing_lags_by_the_knob_on_the_sandbox_clock() -> None:
    fake = FakeTime(START)
    with Sandbox(SandboxConfig(listing_lag=4), clock=fake) as sb:
        client = httpx.Client(base_url=sb.base_url)
        post = client.post(
            "/gyazo-upload/api/upload",
            files={"imagedata": ("a.png", png_bytes(), "image/png")},
            headers=BEARER,
        )
        image_id = post.json()["image_id"]
        fake.now = START + 3.9
        assert _gyazo_ids(client) == []
        fake.now = START + 4
        assert _gyazo_ids(client) == [image_id]


def test_without_lag_an_upload_is_listed_at_once_with_its_real_dimensions() -> None:
    fake = FakeTime(START)
    with Sandbox(SandboxConfig(), clock=fake) as sb:
        client = httpx.Client(base_url=sb.base_url)
        client.post(
            "/imgur/3/image",
            files={"image": ("p.jpg", jpeg_bytes(1920, 1080, exif=5000), "image/jpeg")},
            headers=BEARER,
        )
        (item,) = client.get("/imgur/3/account/me/images", headers=BEARER).json()["data"]
        assert (item["width"], item["height"], item["type"], item["name"]) == (
            1920,
            1080,
            "image/jpeg",
            "p.jpg",
        )
        assert item["datetime"] == int(START)


@pytest.mark.parametrize("value", [-1, "soon"])
def test_listing_lag_must_be_a_number_of_seconds(value: object) -> None:
    with pytest.raises(KnobError, match="listing_lag"):
        SandboxConfig.from_mapping({"listing_lag": value})


# -- the client against a lagging listing --------------------------------------------------------


def _upload(tmp_path: Path, env: dict[str, str], lag: float, *, allow: bool = False):
    fake = FakeTime(START)
    knobs = SandboxConfig(listing_lag=lag, fault_drop_after=1.0)  # stored, answer lost
    image = str(write_png(tmp_path / "a.png"))
    with Sandbox(knobs, clock=fake) as sb:
        config = config_of(imgur_toml(f"{sb.base_url}/imgur", name="sb"), tmp_path)
        signed_in = {**env, "UPLOADER_SB_ACCESS_TOKEN": "user-token"}
        retry = RetryPolicy(attempts=2, base=0.5, retry_ambiguous=allow)
        run = run_upload(config, [image], signed_in, fake, provider="sb", retry=retry)
        return run, sb.uploads(), fake


def test_a_lost_answer_is_found_once_the_lagging_listing_shows_it(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    run, stored, fake = _upload(tmp_path, hermetic_env, lag=2.5)
    (upload,) = stored  # sent once
    (result,) = run.results
    assert (result.status, result.id, result.ambiguous) == ("uploaded", upload["id"], False)
    assert fake.sleeps == [1.0, 2.0]  # listed at +3 s
    assert run.exit_code == ExitCode.OK


def test_a_listing_lagging_longer_than_the_lookups_leaves_it_ambiguous(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    run, stored, fake = _upload(tmp_path, hermetic_env, lag=60)
    assert len(stored) == 1  # not sent again: it exists, unlisted
    (result,) = run.results
    assert (result.status, result.id, result.ambiguous) == ("failed", None, True)
    assert "does not show it yet" in str(result.error)
    assert fake.sleeps == [1.0, 2.0, 4.0]
    assert run.exit_code == ExitCode.PROVIDER


def test_with_retry_ambiguous_a_lagging_listing_re_sends_and_flags_it(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    run, stored, _ = _upload(tmp_path, hermetic_env, lag=60, allow=True)
    assert len(stored) == 2  # really stored twice: the record must say so
    (result,) = run.results
    assert (result.status, result.ambiguous) == ("failed", True)  # the re-send was lost too
    assert str(result.error).endswith(
        "it was sent again after an earlier attempt's answer was lost: it may exist twice"
    )


def test_gyazo_recovers_each_lost_upload_as_its_own_through_a_lagging_listing(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # Every answer is lost after the image was stored; Gyazo lists only type and time, so
    # each file is told apart by its attempt's window and by what earlier files claimed.
    fake = FakeTime(START)
    knobs = SandboxConfig(listing_lag=1.5, fault_drop_after=1.0)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_png(tmp_path / "a" / "shot.png", seed=1)
    b = write_png(tmp_path / "b" / "shot.png", seed=2)
    with Sandbox(knobs, clock=fake) as sb:
        text = (
            f'[providers.gz]\nkind = "gyazo"\nbase_url = "{sb.base_url}/gyazo"\n'
            f'upload_url = "{sb.base_url}/gyazo-upload"\n'
        )
        env = {**hermetic_env, "UPLOADER_GZ_ACCESS_TOKEN": "user-token"}
        retry = RetryPolicy(attempts=2, base=0.5)
        run = run_upload(config_of(text, tmp_path), [str(a), str(b)], env, fake, retry=retry)
        by_bytes = {u["sha256"]: u["id"] for u in sb.uploads()}
    assert len(by_bytes) == 2  # each sent once
    first, second = run.results
    assert (first.status, first.id) == ("uploaded", by_bytes[_sha(a)])
    assert (second.status, second.id) == ("uploaded", by_bytes[_sha(b)])
    assert [dict(r.extra).get("recovered") is not None for r in run.results] == [True, True]
    assert fake.sleeps == [1.0, 2.0, 1.0, 2.0]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
