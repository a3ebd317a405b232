"""How a large file's body is sent (issue 13, item 5): with a Content-Length (never chunked),
read from disk in pieces of ``UPLOAD_READ``, handed to the socket in pieces that grow on a
fast link and stay small on a slow one (the low-speed rule still sees progress), and the
bytes the server gets are the file's, from disk or from memory."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pytest

from tests.support.canned import CREDITS
from tests.support.clock import FakeTime
from tests.support.images import write_sized_png
from tests.support.imgur import uploaded
from tests.support.pipeline import run_upload
from tests.support.providers import config_of, imgur_toml
from uploader.errors import ExitCode
from uploader.http.client import UPLOAD_READ, LowSpeed, import_httpx
from uploader.http.lowspeed import MeteredBody, SpeedMeter
from uploader.http.retry import RetryPolicy

START = 1_900_000_000.0
SMALL = 16384


class Recorder(httpx.BaseTransport):
    """Reads the body piece by piece (as a socket would take it), ``seconds_per_byte`` of
    the fake clock for each byte, and keeps the pieces' sizes, the headers and the file."""

    def __init__(self, fake: FakeTime, seconds_per_byte: float = 0.0) -> None:
        self.fake = fake
        self.rate = seconds_per_byte
        self.pieces: list[int] = []
        self.headers: httpx.Headers | None = None
        self.body = b""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/3/credits"):
            return httpx.Response(200, content=CREDITS)
        chunks = []
        for piece in request.stream:  # type: ignore[union-attr]
            self.fake.now += len(piece) * self.rate
            self.pieces.append(len(piece))
            chunks.append(bytes(piece))
        self.headers = request.headers
        self.body = b"".join(chunks)
        return httpx.Response(200, json=uploaded())


def _send(tmp_path: Path, size: int, recorder: Recorder, defaults: str = "") -> Path:
    image = write_sized_png(tmp_path / "big.png", size)
    config = config_of(
        f"[defaults]\n{defaults}\n"
        + imgur_toml("http://127.0.0.1:9/imgur", extra=f"max_image_size = {10**9}\n"),
        tmp_path,
    )
    run = run_upload(
        config, [str(image)], {}, recorder.fake, transport=recorder, retry=RetryPolicy(attempts=1)
    )
    assert run.exit_code == ExitCode.OK, run.results[0].error
    return image


def _file_part(body: bytes, headers: httpx.Headers) -> bytes:
    boundary = re.search(r"boundary=([^;]+)", headers["content-type"])
    assert boundary is not None
    marker = b"\r\n--" + boundary.group(1).encode()
    start = body.index(b"\r\n\r\n", body.index(b'filename="big.png"')) + 4
    return body[start : body.index(marker, start)]


@pytest.mark.parametrize("size", [40 * 2**20, 3 * 2**20])  # from disk; from memory (hashed)
def test_the_body_has_a_content_length_and_the_file_s_bytes(tmp_path: Path, size: int) -> None:
    recorder = Recorder(FakeTime(START))
    image = _send(tmp_path, size, recorder)
    assert recorder.headers is not None
    assert "transfer-encoding" not in recorder.headers
    assert int(recorder.headers["content-length"]) == len(recorder.body)
    sent = _file_part(recorder.body, recorder.headers)
    assert hashlib.sha256(sent).digest() == hashlib.sha256(image.read_bytes()).digest()


def test_a_fast_link_gets_pieces_growing_to_a_mebibyte(tmp_path: Path) -> None:
    recorder = Recorder(FakeTime(START), seconds_per_byte=1e-8)  # 100 MB/s
    _send(tmp_path, 40 * 2**20, recorder)
    pieces = recorder.pieces
    assert pieces[0] <= SMALL  # the rule's small first piece
    assert max(pieces) == UPLOAD_READ
    assert len(pieces) < 60  # not the 2,500 pieces of 16 KiB it used to be


def test_a_slow_link_keeps_small_pieces(tmp_path: Path) -> None:
    recorder = Recorder(FakeTime(START), seconds_per_byte=1 / 5000)  # 5 kB/s, above 1000
    _send(tmp_path, 200_000, recorder)
    assert max(recorder.pieces) <= SMALL


def test_pieces_shrink_back_when_the_link_slows_down() -> None:
    fake = FakeTime(0.0)
    meter = SpeedMeter(LowSpeed(1000, 32), fake.clock)
    body = MeteredBody([b"x" * (8 * 2**20)], meter, 4096, largest=2**20)
    sizes = []
    for index, piece in enumerate(body):
        sizes.append(len(piece))
        fake.now += 0.001 if index < 12 else 5.0  # fast, then each piece takes 5 s
        if index == 15:
            break
    assert sizes[:9] == [4096 * 2**n for n in range(9)][:9]
    assert max(sizes) == 2**20
    assert sizes[13:] == [4096, 4096, 4096]  # slower than 32/8 s: back to the small size


def test_httpx_reads_files_a_mebibyte_at_a_time() -> None:
    import_httpx()
    from httpx import _multipart

    assert _multipart.FileField.CHUNK_SIZE == UPLOAD_READ == 2**20


def test_the_multipart_framing_goes_with_the_file_not_in_a_dozen_writes() -> None:
    import httpx

    fake = FakeTime(0.0)
    meter = SpeedMeter(LowSpeed(1000, 32), fake.clock)
    content = bytes(range(256)) * 1200  # 300 kB
    request = httpx.Request(
        "POST",
        "http://127.0.0.1/3/image",
        data={"type": "file", "title": "t"},
        files={"image": ("a.png", content, "image/png")},
    )
    chunks = [bytes(c) for c in request.stream]
    assert len(chunks) > 10  # httpx's encoder: a chunk per header, value and boundary
    pieces = [bytes(p) for p in MeteredBody(chunks, meter, 16384)]
    assert b"".join(pieces) == b"".join(chunks)  # every byte, in order
    assert meter.total == len(b"".join(chunks))  # and each counted once
    assert len(pieces) == 6  # framing + 16 KiB, 32, 64, 128 KiB, the rest + closing
    assert pieces[0].startswith(chunks[0])
    assert len(pieces[0]) == 16384
    assert pieces[-1].endswith(chunks[-1])
