"""``uploader info``, ``list`` and ``delete`` in-process: against the sandbox, through an
injected transport, and how their shared options resolve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cli import clock as fake_clock
from tests.support.cli import invoke, json_lines, lines, sandbox, with_defaults
from tests.support.e2e import write_config
from tests.support.images import write_png
from uploader.commands import lookup as lookup_core
from uploader.commands.runtime import Runtime
from uploader.errors import ExitCode
from uploader.models import MediaInfo
from uploader.ratelimit.limiter import LimitPolicy

TOKEN = {"UPLOADER_SB_ACCESS_TOKEN": "im-token"}


def test_info_list_delete_against_the_sandbox(tmp_path: Path) -> None:
    with sandbox() as server:
        config = str(write_config(tmp_path / "c.toml", server.base_url))
        image = str(write_png(tmp_path / "i.png", seed=8))
        up = invoke(["--config", config, "upload", "-f", "json", image], env=TOKEN)
        assert up.exit_code == 0, up.stderr
        record = json_lines(up.stdout)[0]
        text = invoke(["--config", config, "info", record["id"]], env=TOKEN)
        assert text.exit_code == 0, text.stderr
        shown = lines(text.stdout)
        assert shown[:3] == [
            f"id: {record['id']}",
            "provider: sb",
            f"url: {record['url']}",
        ]
        assert "type: image/png" in shown
        again = invoke(["--config", config, "info", record["id"], "--json"], env=TOKEN)
        assert json.loads(again.stdout)["cache"] == "revalidated (304)"
        assert server.stats()["not_modified"] == 1
        bypass = invoke(["--config", config, "info", "--no-cache", record["id"]], env=TOKEN)
        assert bypass.exit_code == 0
        assert server.requests()[-1]["if_none_match"] is None
        listed = invoke(["--config", config, "list"], env=TOKEN)
        assert listed.exit_code == 0, listed.stderr
        assert lines(listed.stdout) == [f"{record['id']}\t{record['url']}"]
        as_json = invoke(["--config", config, "list", "--json", "--page", "0"], env=TOKEN)
        assert [row["id"] for row in json_lines(as_json.stdout)] == [record["id"]]
        gone = invoke(["--config", config, "delete", record["url"]], env=TOKEN)
        assert gone.exit_code == 0, gone.stderr
        assert gone.stdout == ""
        assert gone.stderr.strip()  # the confirmation is a message, not a result
        after = invoke(["--config", config, "info", record["id"]], env=TOKEN)
        quiet = invoke(["-q", "--config", config, "delete", record["id"]], env=TOKEN)
    assert after.exit_code == ExitCode.PROVIDER
    assert lines(after.stderr)[0] == (
        f"error: {record['id']} (profile sb): Imgur has no such image (HTTP 404, "
        "text/html page titled 'imgur: the simple 404 page')"
    )
    assert quiet.exit_code == ExitCode.PROVIDER
    assert lines(quiet.stderr)[0].startswith(f"error: {record['id']} (profile sb): ")


def test_info_through_an_injected_transport(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        data = {
            "id": "abc",
            "link": "https://i.imgur.com/abc.png",
            "type": "image/png",
            "title": "a title",
            "size": 1234,
        }
        return httpx.Response(200, json={"data": data, "success": True, "status": 200})

    config = str(write_config(tmp_path / "c.toml", "http://127.0.0.1:9", client_id="cid-1"))
    runtime = Runtime(transport=httpx.MockTransport(answer))
    done = invoke(["--config", config, "info", "abc", "--json"], runtime=runtime)
    assert done.exit_code == 0, done.stderr
    record = json.loads(done.stdout)
    assert (record["id"], record["url"], record["title"], record["size"]) == (
        "abc",
        "https://i.imgur.com/abc.png",
        "a title",
        1234,
    )
    # First the free credits check (no figures known yet: cold start), then the lookup.
    credits, request = seen
    assert str(credits.url) == "http://127.0.0.1:9/imgur/3/credits"
    assert str(request.url) == "http://127.0.0.1:9/imgur/3/image/abc"
    assert request.headers["authorization"] == "Client-ID cid-1"


@pytest.mark.parametrize("command", [["info", "abc"], ["list"], ["delete", "abc"]])
def test_an_unknown_provider_from_the_environment_says_so(
    tmp_path: Path, command: list[str]
) -> None:
    config = str(write_config(tmp_path / "c.toml", "http://127.0.0.1:9"))
    done = invoke(["--config", config, *command], env={"UPLOADER_PROVIDER": "nope"})
    assert done.exit_code == ExitCode.USAGE
    assert lines(done.stderr)[0] == (
        "error: unknown provider 'nope' (from environment variable UPLOADER_PROVIDER) "
        "(configured: sb)"
    )
    named = invoke(["--config", config, *command, "-p", "nope"])
    assert lines(named.stderr)[0] == "error: unknown provider 'nope' (configured: sb)"


@pytest.mark.parametrize(
    ("args", "env", "defaults", "expected"),
    [
        ([], {}, "", (None, LimitPolicy("wait", 300.0), True)),
        ([], {}, 'on_limit = "fail"\nmax_wait = 20', (None, LimitPolicy("fail", 20.0), True)),
        (
            [],
            {"UPLOADER_ON_LIMIT": "fail", "UPLOADER_MAX_WAIT": "7", "UPLOADER_PROVIDER": "sb"},
            'on_limit = "wait"\nmax_wait = 20',
            (None, LimitPolicy("fail", 7.0), True),
        ),
        (
            ["--on-limit", "wait", "--max-wait", "1.5", "-p", "sb", "--no-cache"],
            {"UPLOADER_ON_LIMIT": "fail", "UPLOADER_MAX_WAIT": "7"},
            'on_limit = "fail"',
            ("sb", LimitPolicy("wait", 1.5), False),
        ),
    ],
)
@pytest.mark.parametrize("command", [["info", "abc"], ["list"], ["delete", "abc"]])
def test_lookup_options_resolve_flag_then_environment_then_file(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: list[str],
    args: list[str],
    env: dict[str, str],
    defaults: str,
    expected: tuple[str | None, LimitPolicy, bool],
) -> None:
    calls: list[tuple[str | None, LimitPolicy, bool]] = []
    answers = {"info": MediaInfo("abc", None, "imgur"), "list": ([], None), "delete": "deleted"}

    def recorded(
        _config: Any, name: str | None, runtime: Runtime, policy: LimitPolicy, *_a: Any, **_k: Any
    ) -> Any:
        calls.append((name, policy, runtime.use_cache))
        return answers[command[0]]

    monkeypatch.setattr(lookup_core, "with_provider", recorded)
    config = write_config(tmp_path / "c.toml", "http://127.0.0.1:9")
    with_defaults(config, defaults)
    done = invoke(["--config", str(config), *command, *args], env=env)
    assert done.exit_code == 0, done.stderr
    assert calls == [expected]


def test_lookups_are_retried_like_uploads_and_say_so_at_v(tmp_path: Path) -> None:
    clock = fake_clock()
    knobs = {"fault_503": 1.0, "fault_routes": ("get",), "fault_retry_after": 0.0}
    with sandbox(clock, **knobs) as server:
        config = with_defaults(write_config(tmp_path / "c.toml", server.base_url), "retries = 2")
        runtime = Runtime(clock=clock, sleep=clock.sleep)
        image = str(write_png(tmp_path / "a.png", seed=30))
        up = invoke(["--config", str(config), "upload", "-f", "json", image], runtime=runtime)
        assert up.exit_code == 0, up.stderr
        media_id = json_lines(up.stdout)[0]["id"]
        done = invoke(["-v", "--config", str(config), "info", media_id], runtime=runtime)
        quiet = invoke(["--config", str(config), "info", media_id], runtime=runtime)
        gets = [
            r
            for r in server.requests()
            if r["method"] == "GET" and not r["path"].endswith("/3/credits")
        ]
    assert done.exit_code == ExitCode.PROVIDER
    assert len(gets) == 4  # retries = 2, twice
    err = lines(done.stderr)
    assert err[0].startswith("attempt 1 failed (Imgur failed the lookup: ")
    assert "); retrying in " in err[0]
    assert err[-1].startswith(f"error: {media_id} (profile sb): Imgur failed the ")
    assert "attempt 1 failed" not in quiet.stderr  # a debug line: -v only
    assert len(clock.sleeps) == 2
