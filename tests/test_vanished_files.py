"""A file moved or deleted between the walk (or the checks) and its turn in a long batch:
its own line says so (exit 6 with the others uploaded), never an internal error that ends
the batch, whatever reads it first (the hash for the history, the metadata plan, the
re-encoding, or the upload itself)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.clock import FakeTime
from tests.support.images import write_png
from tests.support.imgur import uploaded
from tests.support.providers import config_of, imgur_toml
from uploader.commands import upload as upload_command
from uploader.commands.pictures import Reencode
from uploader.commands.runtime import Runtime
from uploader.errors import ExitCode, UploaderError
from uploader.http.retry import RetryPolicy
from uploader.models import Selection, UploadOptions, UploadResult

START = 1_785_000_000.0


@pytest.mark.parametrize(
    ("history", "strip", "reencode"),
    [
        (True, True, None),  # hashed first
        (False, True, None),  # its metadata planned first
        (False, False, None),  # opened to be sent: the first read of it
        (False, False, Reencode(max_dimension=4)),  # re-encoded first
    ],
)
def test_a_file_gone_since_the_walk_fails_alone_with_its_own_line(
    tmp_path: Path,
    hermetic_env: dict[str, str],
    history: bool,
    strip: bool,
    reencode: Reencode | None,
) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    files = [write_png(shots / f"{n}.png", width=8, seed=n + 40) for n in range(3)]
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/credits"):
            return httpx.Response(404)
        body = request.read()
        sent.append(body.split(b'filename="', 1)[1].split(b'"', 1)[0].decode())
        files[1].unlink(missing_ok=True)  # gone while the first one was being sent
        ident = f"Id{len(sent)}"
        return httpx.Response(200, json=uploaded(id=ident, link=f"https://i.imgur.com/{ident}.png"))

    fake = FakeTime(START)
    runtime = Runtime(
        env=dict(hermetic_env),
        clock=fake.clock,
        sleep=fake.sleep,
        transport=httpx.MockTransport(handler),
    )
    request = upload_command.UploadRequest(
        paths=(str(shots),),
        provider=None,
        options=UploadOptions(),
        on_limit="wait",
        max_wait=300.0,
        retry=RetryPolicy(attempts=1),
        jobs=1,
        history=history,
        strip_metadata=strip,
        reencode=reencode,
        selection=Selection(),
    )
    seen: list[tuple[UploadResult, UploaderError | None]] = []
    config = config_of(imgur_toml("http://127.0.0.1:1/imgur"), tmp_path)
    outcome = upload_command.upload(config, request, runtime, lambda r, e: seen.append((r, e)))
    assert outcome.exit_code == ExitCode.PARTIAL
    assert [r.status for r, _ in seen] == ["uploaded", "failed", "uploaded"]
    assert sent == ["0.png", "2.png"]
    _, error = seen[1]
    assert error is not None
    assert error.message == f"{files[1]}: no such file (moved or deleted since the run started)"
    assert error.hint == "upload it again from where it is now"
