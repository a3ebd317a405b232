"""curl's low-speed rule at the HTTP boundary (issue 11, section 3): an attempt whose
transfer stays below ``low_speed_limit`` bytes/s for ``low_speed_time`` seconds is
aborted, for the answer being read and the body being sent, as a network error whose
ambiguity follows what was sent. Exact on the injected clock (FakeTime)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.canned import CREDITS
from tests.support.cli import invoke
from tests.support.cli import sandbox as in_process_sandbox
from tests.support.clock import FakeTime
from tests.support.e2e import write_config
from tests.support.images import write_png, write_sized_png
from tests.support.imgur import uploaded
from tests.support.pipeline import run_upload
from tests.support.providers import config_of, imgur_toml
from uploader.errors import ConfigError, ExitCode, NetworkError
from uploader.http.client import LowSpeed
from uploader.http.lowspeed import SpeedMeter, TooSlowError
from uploader.http.retry import RetryPolicy

START = 1_900_000_000.0


class Trickle(httpx.SyncByteStream):
    """An answer body sent ``step`` bytes at a time, ``every`` seconds of the fake clock
    apart; ``delivered`` counts the bytes handed over."""

    def __init__(self, fake: FakeTime, body: bytes, *, step: int, every: float) -> None:
        self.fake = fake
        self.body = body
        self.step = step
        self.every = every
        self.delivered = 0

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.body), self.step):
            self.fake.now += self.every
            piece = self.body[start : start + self.step]
            self.delivered += len(piece)
            yield piece


def _config(tmp_path: Path, defaults: str = "") -> object:
    return config_of(f"[defaults]\n{defaults}\n" + imgur_toml("http://127.0.0.1:9/imgur"), tmp_path)


def _upload(tmp_path: Path, fake: FakeTime, handler: object, defaults: str = "") -> object:
    image = str(write_png(tmp_path / "a.png"))

    def route(request: httpx.Request) -> httpx.Response:
        # The limiter's free credits check on a cold start is answered at once: the rule
        # under test is about the upload's own transfer.
        if request.method == "GET" and request.url.path.endswith("/3/credits"):
            return httpx.Response(200, content=CREDITS)
        return handler(request)  # type: ignore[operator,no-any-return]

    return run_upload(
        _config(tmp_path, defaults),  # type: ignore[arg-type]
        [image],
        {},
        fake,
        transport=httpx.MockTransport(route),
        retry=RetryPolicy(attempts=3, max_time=100.0),
    )


# The rule itself ------------------------------------------------------------------------


def test_nothing_moved_for_the_whole_window_is_too_slow_exactly_at_its_end() -> None:
    fake = FakeTime(100.0)
    meter = SpeedMeter(LowSpeed(1000, 30), fake.clock)
    assert not meter.too_slow(129.999)
    assert meter.too_slow(130.0)


@pytest.mark.parametrize(("moved", "slow"), [(29_999, True), (30_000, False)])
def test_the_window_must_hold_limit_times_seconds_bytes(moved: int, slow: bool) -> None:
    fake = FakeTime(0.0)
    meter = SpeedMeter(LowSpeed(1000, 30), fake.clock)
    fake.now = 10.0
    meter.moved(moved)
    assert meter.too_slow(30.0) is slow


def test_the_window_slides_a_burst_long_ago_does_not_count() -> None:
    fake = FakeTime(0.0)
    meter = SpeedMeter(LowSpeed(1000, 30), fake.clock)
    fake.now = 1.0
    meter.moved(40_000)
    assert not meter.too_slow(30.99)
    assert meter.too_slow(31.0)


def test_moved_raises_in_the_thread_that_moves_the_bytes() -> None:
    fake = FakeTime(0.0)
    meter = SpeedMeter(LowSpeed(10, 5), fake.clock)
    fake.now = 4.0
    meter.moved(1)
    fake.now = 5.0
    with pytest.raises(TooSlowError):
        meter.moved(1)
    assert meter.tripped


# Through the pipeline -------------------------------------------------------------------


def test_a_trickled_answer_is_cut_after_low_speed_time_and_the_upload_is_ambiguous(
    tmp_path: Path,
) -> None:
    fake = FakeTime(START)
    body = json.dumps(uploaded()).encode()
    streams: list[Trickle] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        streams.append(Trickle(fake, body, step=1, every=2.0))
        return httpx.Response(200, stream=streams[-1])

    run = _upload(tmp_path, fake, handler)
    assert run.exit_code == ExitCode.PROVIDER  # type: ignore[attr-defined]
    (result,) = run.results  # type: ignore[attr-defined]
    # One byte every 2 s: the 15th byte arrives at 30 s, and the rule fires then.
    assert [s.delivered for s in streams] == [15]
    assert fake.now - START == 30.0
    assert result.ambiguous  # the body was sent: the image may exist, never re-sent
    assert "too slow: less than 1000 bytes/s for 30 s" in result.error
    assert "low_speed_time" in result.error


def test_the_answer_headers_and_body_at_the_limit_are_not_cut(tmp_path: Path) -> None:
    fake = FakeTime(START)
    body = json.dumps(uploaded()).encode().ljust(40_000)  # JSON, then spaces

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        return httpx.Response(200, stream=Trickle(fake, body, step=1000, every=1.0))

    run = _upload(tmp_path, fake, handler)
    assert run.exit_code == ExitCode.OK, run.results  # type: ignore[attr-defined]
    assert fake.now - START == 40.0


@pytest.mark.parametrize(
    ("defaults", "elapsed"),
    [("low_speed_limit = 0", 60.0), ("low_speed_time = 0", 60.0)],
)
def test_zero_turns_the_rule_off(tmp_path: Path, defaults: str, elapsed: float) -> None:
    fake = FakeTime(START)
    body = json.dumps(uploaded()).encode().ljust(30)

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        return httpx.Response(200, stream=Trickle(fake, body[:30], step=1, every=2.0))

    run = _upload(tmp_path, fake, handler, defaults)
    assert fake.now - START == elapsed
    assert "too slow" not in str(run.results[0].error)  # type: ignore[attr-defined]


def test_a_configured_rule_is_the_one_applied(tmp_path: Path) -> None:
    fake = FakeTime(START)
    body = json.dumps(uploaded()).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        return httpx.Response(200, stream=Trickle(fake, body, step=10, every=1.0))

    run = _upload(tmp_path, fake, handler, "low_speed_limit = 200\nlow_speed_time = 5")
    # 10 bytes/s against 200 (the small request body counts too, under 1000 bytes): cut
    # when the window first spans 5 s.
    assert fake.now - START == 5.0
    assert "less than 200 bytes/s for 5 s" in str(run.results[0].error)  # type: ignore[attr-defined]


def test_a_body_the_server_reads_too_slowly_is_cut_and_counts_as_not_sent(
    tmp_path: Path,
) -> None:
    fake = FakeTime(START)
    read: list[int] = []

    class SlowReader(httpx.BaseTransport):
        """A server that takes 10 s for each piece of the body (MockTransport would read
        the whole body at once before its handler runs)."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/3/credits"):  # the cold start's free check
                return httpx.Response(200, content=CREDITS)
            total = 0
            for piece in request.stream:  # type: ignore[union-attr]
                total += len(piece)
                fake.now += 30.0  # each piece (at most 16 KiB) takes 30 s: ~500 bytes/s
            read.append(total)
            return httpx.Response(200, json=uploaded())

    image = str(write_sized_png(tmp_path / "a.png", 100_000))
    run = run_upload(
        _config(tmp_path),  # type: ignore[arg-type]
        [image],
        {},
        fake,
        transport=SlowReader(),
        retry=RetryPolicy(attempts=1),
    )
    (result,) = run.results
    (error,) = run.errors
    assert isinstance(error, NetworkError)
    # The body was not all written: the server cannot have stored the file.
    assert error.sent is False
    assert not result.ambiguous
    assert "too slow" in str(result.error)
    assert fake.now - START == 30.0
    assert read == []  # the handler never finished reading: cut mid-body


# A real server that trickles (the sandbox's knob), in process, on the real clock --------


@pytest.mark.parametrize("headers", [False, True])
def test_a_sandbox_that_trickles_is_given_up_on(tmp_path: Path, headers: bool) -> None:
    with in_process_sandbox(trickle_bytes_per_second=20.0, trickle_headers=headers) as server:
        config = write_config(
            tmp_path / "c.toml",
            server.base_url,
            defaults="[defaults]\nlow_speed_limit = 1000\nlow_speed_time = 0.5\n",
        )
        image = write_png(tmp_path / "a.png")
        done = invoke(["--config", str(config), "upload", "-f", "json", str(image)])
        (record,) = [json.loads(line) for line in done.stdout.splitlines()]
        assert done.exit_code == ExitCode.PROVIDER, done.stderr
        assert record["status"] == "failed"
        assert record["ambiguous"] is True
        assert "less than 1000 bytes/s for 0.5 s" in record["error"]
        assert len(server.uploads()) == 1  # stored, and not sent again
        assert done.stderr.startswith("error: ")


def test_bytes_that_came_in_a_burst_age_out_of_the_window() -> None:
    fake = FakeTime(0.0)
    meter = SpeedMeter(LowSpeed(1000, 30), fake.clock)
    for _ in range(100):  # many small pieces within one quantum, then silence
        fake.now += 0.001
        meter.moved(1000)
    assert not meter.too_slow(30.0)
    assert meter.too_slow(30.1)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("low_speed_limit = -1", "key 'defaults.low_speed_limit' must be at least 0"),
        ("low_speed_limit = 1.5", "must be an integer"),
        ("low_speed_limit = true", "must be an integer"),
        ("low_speed_time = -0.5", "must be at least 0"),
        ('low_speed_time = "30"', "must be a number"),
    ],
)
def test_bad_low_speed_values_are_config_errors(tmp_path: Path, line: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, line)
    assert says in caught.value.message
    assert "line 2" in caught.value.message


def test_the_low_speed_keys_reach_the_defaults(tmp_path: Path) -> None:
    config = _config(tmp_path, "low_speed_limit = 0\nlow_speed_time = 12.5")
    assert (config.defaults.low_speed_limit, config.defaults.low_speed_time) == (0, 12.5)  # type: ignore[attr-defined]
    default = _config(tmp_path).defaults  # type: ignore[attr-defined]
    assert (default.low_speed_limit, default.low_speed_time) == (1000, 30.0)


def test_a_body_read_above_the_limit_is_not_cut(tmp_path: Path) -> None:
    fake = FakeTime(START)

    class SteadyReader(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            for piece in request.stream:  # type: ignore[union-attr]
                fake.now += len(piece) / 1500  # 1500 bytes/s, above the 1000 of the rule
            return httpx.Response(200, json=uploaded())

    image = str(write_sized_png(tmp_path / "a.png", 300_000))
    run = run_upload(
        _config(tmp_path),  # type: ignore[arg-type]
        [image],
        {},
        fake,
        transport=SteadyReader(),
        retry=RetryPolicy(attempts=1),
    )
    assert run.exit_code == ExitCode.OK, run.results[0].error
    assert fake.now - START > 30.0  # longer than the window: the rule was checked
