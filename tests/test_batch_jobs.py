"""``upload -j N`` (issue 13): N files at once over one client, results in input order,
the rate limiter still the only authority, refusals and Ctrl-C accounted for every file."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from tests.support.cli import invoke, json_lines, lines, sandbox
from tests.support.clock import FakeTime
from tests.support.e2e import write_config
from tests.support.images import write_png
from tests.support.imgur import uploaded
from tests.support.providers import config_of, imgur_toml
from uploader.commands import upload as upload_command
from uploader.commands.batch import Batch, Slot, not_sent
from uploader.commands.runtime import Runtime
from uploader.errors import ExitCode, RateLimitError, SkippedError, UploaderError
from uploader.http.retry import RetryPolicy
from uploader.http.session import ApiSession
from uploader.models import ImageFile, UploadOptions, UploadResult
from uploader.ratelimit.policy import Reservation
from uploader.sandbox import Sandbox

START = 1_785_000_000.0


def _run(
    tmp_path: Path,
    env: dict[str, str],
    handler: Any,
    files: list[str],
    *,
    jobs: int,
    retry: RetryPolicy | None = None,
) -> tuple[ExitCode, list[tuple[UploadResult, UploaderError | None]]]:
    fake = FakeTime(START)
    runtime = Runtime(
        env=dict(env), clock=fake.clock, sleep=fake.sleep, transport=httpx.MockTransport(handler)
    )
    seen: list[tuple[UploadResult, UploaderError | None]] = []
    request = upload_command.UploadRequest(
        paths=tuple(files),
        provider=None,
        options=UploadOptions(),
        on_limit="wait",
        max_wait=300.0,
        retry=retry or RetryPolicy(attempts=1),
        jobs=jobs,
    )
    config = config_of(imgur_toml("http://127.0.0.1:1/imgur"), tmp_path)
    code = upload_command.upload(config, request, runtime, lambda r, e: seen.append((r, e)))
    return code.exit_code, seen


def test_four_jobs_send_four_files_at_once_and_print_in_input_order(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # The first file goes alone (its answer proves the credentials); after it, each POST
    # waits at a barrier for three others: only four requests in flight at once get
    # through it (sequential sends would break it: BrokenBarrierError, a 500).
    barrier = threading.Barrier(4, timeout=30)
    names: list[str] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/credits"):
            return httpx.Response(404)
        body = request.read()
        name = body.split(b'filename="', 1)[1].split(b'"', 1)[0].decode()
        try:
            if names:  # not the first file
                barrier.wait()
        except threading.BrokenBarrierError:
            return httpx.Response(500)
        with lock:
            names.append(name)
        ident = f"Id{name[1:3]}"
        return httpx.Response(200, json=uploaded(id=ident, link=f"https://i.imgur.com/{ident}.png"))

    files = [str(write_png(tmp_path / f"f{n:02}.png", seed=n)) for n in range(9)]
    code, seen = _run(tmp_path, hermetic_env, handler, files, jobs=4)
    assert code == ExitCode.OK
    assert [r.path for r, _ in seen] == files  # input order, whatever the finishing order
    assert [r.id for r, _ in seen] == [f"Id{n:02}" for n in range(9)]  # each its own answer
    assert names[0] == "f00.png"
    assert sorted(names) == [f"f{n:02}.png" for n in range(9)]


def test_one_job_sends_one_file_at_a_time(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    active = 0
    most = 0
    lock = threading.Lock()
    threads: set[str] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal active, most
        if request.url.path.endswith("/credits"):
            return httpx.Response(404)
        with lock:
            active += 1
            most = max(most, active)
            threads.add(threading.current_thread().name)
        request.read()
        with lock:
            active -= 1
        return httpx.Response(200, json=uploaded())

    files = [str(write_png(tmp_path / f"f{n}.png", seed=n)) for n in range(5)]
    code, seen = _run(tmp_path, hermetic_env, handler, files, jobs=1)
    assert code == ExitCode.OK
    assert most == 1
    assert threads == {threading.current_thread().name}  # no worker thread started
    assert len(seen) == 5


def test_rejected_credentials_stop_the_batch_and_the_rest_is_not_sent(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    posts = 0
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        if request.url.path.endswith("/credits"):
            return httpx.Response(404)
        request.read()
        with lock:
            posts += 1
        return httpx.Response(
            403, json={"data": {"error": "Invalid client_id"}, "success": False, "status": 403}
        )

    files = [str(write_png(tmp_path / f"f{n:02}.png", seed=n)) for n in range(20)]
    code, seen = _run(tmp_path, hermetic_env, handler, files, jobs=4)
    assert code == ExitCode.AUTH
    assert [r.path for r, _ in seen] == files
    statuses = [r.status for r, _ in seen]
    assert posts == 1  # the first file goes alone: its refusal stops the batch
    assert statuses == ["failed"] + ["skipped"] * 19


@pytest.fixture
def server() -> Iterator[Sandbox]:
    with sandbox(
        seed=3,
        latency=0.05,
        fault_500=0.1,
        fault_drop_before=0.05,
        fault_drop_after=0.05,
        fault_429=0.05,
        imgur_user_limit=10**6,
        imgur_client_limit=10**7,
    ) as running:
        yield running


def test_jobs_against_a_faulty_sandbox_account_for_every_file(
    tmp_path: Path, server: Sandbox
) -> None:
    config = write_config(
        tmp_path / "c.toml", server.base_url, defaults="[defaults]\nretries = 4\n"
    )
    files = [str(write_png(tmp_path / f"f{n:02}.png", seed=n)) for n in range(24)]
    done = invoke(["--config", str(config), "upload", "-j", "4", "-f", "json", *files])
    records = json_lines(done.stdout)
    assert [r["path"] for r in records] == files  # one line per file, in input order
    stored = {u["id"]: u["sha256"] for u in server.uploads()}
    for path, record in zip(files, records, strict=True):
        if record["status"] == "uploaded":
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            assert stored[record["id"]] == digest  # the stored bytes are this file's
        else:
            assert record["status"] == "failed"
            assert record["error"]
    uploaded_count = sum(1 for r in records if r["status"] == "uploaded")
    assert uploaded_count >= 20
    assert done.exit_code in (0, 6)
    assert all(line.startswith(("error:", "hint:", "warning:")) for line in lines(done.stderr))


def test_jobs_option_is_validated_from_every_source(tmp_path: Path, server: Sandbox) -> None:
    config = write_config(tmp_path / "c.toml", server.base_url)
    image = str(write_png(tmp_path / "a.png"))
    for args, env in (
        (["-j", "0"], None),
        (["--jobs", "abc"], None),
        ([], {"UPLOADER_JOBS": "0"}),
        (["-j", "1000"], None),
    ):
        done = invoke(["--config", str(config), "upload", *args, image], env=env)
        assert done.exit_code == ExitCode.USAGE, (args, env, done.stderr)
        assert "Traceback" not in done.stderr
    config.write_text(
        config.read_text().replace("[providers.", "[defaults]\njobs = 0\n\n[providers.", 1)
    )
    done = invoke(["--config", str(config), "upload", image])
    assert done.exit_code == ExitCode.USAGE
    assert "jobs" in lines(done.stderr)[0]
    assert server.requests() == []


# -- the count the limiter paces by ----------------------------------------------------------


def _slots(count: int) -> list[Slot]:
    image = ImageFile(Path("/nonexistent.png"), "a.png", "a.png", 1, "image/png")
    return [Slot(n, f"f{n}.png", image) for n in range(count)]


def _record(slot: Slot) -> UploadResult:
    return UploadResult(slot.label, "imgur", "uploaded")


def test_the_pacing_count_is_the_files_not_done_this_one_included() -> None:
    seen: list[int] = []

    def work(slot: Slot, batch: Batch) -> tuple[UploadResult, UploaderError | None]:
        seen.append(batch.pending())
        return _record(slot), None

    Batch(_slots(5), work, lambda s, e: (_record(s), e), lambda r, e: None, jobs=1).run()
    assert seen == [5, 4, 3, 2, 1]


def test_files_in_flight_in_other_workers_still_count_until_they_are_done() -> None:
    """The limiter counts the credits they hold as part of what is left, so the files they
    belong to count as still to send; once done, they no longer count (asked live)."""
    third_started, second_counted = threading.Event(), threading.Event()
    seen: dict[int, list[int]] = {}

    def work(slot: Slot, batch: Batch) -> tuple[UploadResult, UploaderError | None]:
        if slot.index == 2:
            third_started.set()
            assert second_counted.wait(10)  # still in flight while the second one counts
        if slot.index == 1:
            assert third_started.wait(10)
        seen.setdefault(slot.index, []).append(batch.pending())
        if slot.index == 1:
            second_counted.set()
            for _ in range(500):  # bounded: the third file finishes right after
                if batch.pending() == 1:
                    break
                threading.Event().wait(0.01)
            seen[1].append(batch.pending())
        return _record(slot), None

    Batch(_slots(3), work, lambda s, e: (_record(s), e), lambda r, e: None, jobs=2).run()
    assert seen[0] == [3]  # the first file goes alone: all three are still to send
    assert seen[1] == [2, 1]  # file 3 in flight counts; once done, only this one is left


def test_the_display_is_last_shown_with_every_file_done() -> None:
    """The last file may finish while the lines of earlier ones are being written (after
    the batch's last look): the display is still shown the whole batch done at the end."""
    emitting = threading.Event()
    slots = _slots(3)
    seen: list[int] = []

    def work(slot: Slot, batch: Batch) -> tuple[UploadResult, UploaderError | None]:
        if slot.index == 2:
            assert emitting.wait(10)  # finishes only once file 2's line is being written
        return _record(slot), None

    def emit(result: UploadResult, error: UploaderError | None) -> None:
        if result.path == "f1.png":
            emitting.set()
            assert slots[2].done.wait(10)

    def watch(watched: Sequence[Slot]) -> None:
        seen.append(sum(s.done.is_set() for s in watched))

    Batch(slots, work, lambda s, e: (_record(s), e), emit, jobs=2, watch=watch).run()
    assert seen[-1] == 3


class _OrderLimiter:
    """Records which file reserves, in order; refuses the files in ``refuse``."""

    def __init__(self, refuse: Sequence[int] = ()) -> None:
        self.order: list[int] = []
        self.refuse = set(refuse)
        self.file = threading.local()
        self.lock = threading.Lock()

    def acquire(self, costs: Any, *, pending: Any = 1, order: Any = None) -> Reservation:
        index: int = self.file.index
        with self.lock:
            self.order.append(index)
        if index in self.refuse:
            raise RateLimitError("Imgur POST budget spent", bucket="post")
        return Reservation(str(index), tuple(costs.items()))

    def settle(self, reservation: Reservation, updates: Any) -> None:
        pass

    def release(self, reservation: Reservation) -> None:
        pass


def _sending_work(
    limiter: _OrderLimiter, sent: list[int], ready: dict[int, threading.Event]
) -> Callable[[Slot, Batch], tuple[UploadResult, UploaderError | None]]:
    """Each file's one POST through a real session; file 1 asks only once files 2 and 3
    are ready to send (so without the queue, they would reserve before it)."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(int(request.url.path.strip("/")))
        return httpx.Response(200)

    session = ApiSession(httpx.Client(transport=httpx.MockTransport(handler)), cast(Any, limiter))

    def work(slot: Slot, batch: Batch) -> tuple[UploadResult, UploaderError | None]:
        session.track(slot.tracker)
        limiter.file.index = slot.index
        try:
            if slot.index == 1:
                assert ready[2].wait(10)
                assert ready[3].wait(10)
            elif slot.index in ready:
                ready[slot.index].set()
            session.request("POST", f"http://127.0.0.1:1/{slot.index}", costs={"post": 1})
        except UploaderError as exc:
            if isinstance(exc, RateLimitError):
                batch.halt(exc)
            status = "skipped" if isinstance(exc, SkippedError) else "failed"
            return UploadResult(slot.label, "imgur", status, error=exc.message), exc
        finally:
            session.track(None)
        return _record(slot), None

    return work


def test_files_reserve_in_input_order_whatever_order_they_are_ready_in() -> None:
    """A budget lets through the same files as one at a time would: the next ones in the
    list, not whichever worker reached the limiter first."""
    limiter, sent = _OrderLimiter(), []
    ready = {2: threading.Event(), 3: threading.Event()}
    work = _sending_work(limiter, sent, ready)
    Batch(_slots(5), work, lambda s, e: (_record(s), e), lambda r, e: None, jobs=4).run()
    assert limiter.order == [0, 1, 2, 3, 4]
    assert sorted(sent) == [0, 1, 2, 3, 4]


def test_a_file_waiting_for_its_turn_when_the_batch_stops_is_not_sent() -> None:
    """File 1's reservation is refused (a budget the limiter will not wait for): files 2 and
    3, ready and waiting behind it, are reported not sent, and send nothing."""
    limiter, sent = _OrderLimiter(refuse=[1]), []
    ready = {2: threading.Event(), 3: threading.Event()}
    work = _sending_work(limiter, sent, ready)
    emitted: list[tuple[UploadResult, UploaderError | None]] = []

    def skip(slot: Slot, cause: UploaderError) -> tuple[UploadResult, UploaderError]:
        error = not_sent(cause)
        return UploadResult(slot.label, "imgur", "skipped", error=error.message), error

    batch = Batch(_slots(4), work, skip, lambda r, e: emitted.append((r, e)), jobs=4)
    batch.run()
    assert sent == [0]
    assert limiter.order == [0, 1]  # 2 and 3 never reached the limiter
    assert [r.status for r, _ in emitted] == ["uploaded", "failed", "skipped", "skipped"]
    for result, error in emitted[2:]:
        assert isinstance(error, SkippedError)
        assert result.error == "not sent: Imgur POST budget spent"
        assert error.exit_code == ExitCode.RATE_LIMITED


def test_a_file_whose_work_fails_after_an_interrupt_ends_quietly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After Ctrl-C or SIGTERM the run's clean-up may remove a file's temporary copy from
    under its worker: that worker ends without a traceback, its file left to the
    interrupted run's accounting (no result)."""
    hooked: list[type[BaseException]] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: hooked.append(args.exc_type))
    started = threading.Event()

    def work(slot: Slot, batch: Batch) -> tuple[UploadResult, UploaderError | None]:
        if slot.index == 0:
            return _record(slot), None
        started.set()
        assert batch.cancel.wait(10)
        raise FileNotFoundError("the re-encoded copy was removed")

    batch = Batch(_slots(2), work, lambda s, e: (_record(s), e), lambda r, e: None, jobs=2)
    stopper = threading.Thread(target=lambda: started.wait(10) and batch.interrupt())
    stopper.start()
    batch.run()
    stopper.join(10)
    assert hooked == []
    assert batch.slots[1].done.is_set()
    assert batch.slots[1].result is None
