"""`uploader serve` stops on SIGTERM whatever the main thread is doing when it arrives."""

from __future__ import annotations

import http.client
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support.e2e import write_config
from uploader.commands import serve as serve_module
from uploader.commands.runtime import Runtime
from uploader.commands.serve import ServeOptions, serve
from uploader.config.settings import parse_config


class StillServing(BaseException):
    """A second request reached a server that should have stopped."""


def _config(tmp_path: Path) -> Any:
    path = tmp_path / "config.toml"
    write_config(path, "http://127.0.0.1:9")
    return parse_config(path.read_text(), path)


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need main"
)
def test_sigterm_while_a_request_is_being_handed_to_its_thread_still_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signal lands inside ``process_request``, where socketserver catches any
    ``Exception`` and serves on: the server must still stop and ``serve`` return."""
    original = serve_module.Server.process_request
    calls: list[int] = []

    def process_request(self: Any, request: Any, address: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # handled at once, in this (main) thread
        else:  # not stopped by the first: end the test instead of serving forever
            raise StillServing
        original(self, request, address)

    monkeypatch.setattr(serve_module.Server, "process_request", process_request)
    address: list[str] = []
    announced = threading.Event()

    def announce(url: str) -> None:
        address.append(url)
        announced.set()

    def client() -> None:
        assert announced.wait(30)
        port = int(address[0].rsplit(":", 1)[1])
        for _ in range(2):  # the second finds the port closed, or ends a server serving on
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("POST", "/heartbeat", body=b"")
                connection.getresponse().read()
            except (OSError, http.client.HTTPException):
                pass
            finally:
                connection.close()

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    notes: list[str] = []
    before = signal.getsignal(signal.SIGTERM)
    options = ServeOptions(port=0)
    serve(_config(tmp_path), options, Runtime(env={}, notify=notes.append), announce)
    thread.join(10)
    assert calls == [1]
    assert notes == ["uploader serve: stopped (SIGTERM)"]
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back
