"""The offline sandbox: a real local HTTP server that behaves like the providers.

``Sandbox(config, host, port, clock=...)`` serves in a daemon thread (``with`` starts and stops it;
``start()``/``stop()`` work too); ``Sandbox.serve_forever`` runs in the foreground for
``uploader sandbox``. Provider emulators live under path prefixes (``/imgur``); adding
one is a module implementing :class:`~uploader.sandbox.server.Emulator` and one line in
:func:`_emulators`. The host must be a loopback address (``127.0.0.1``, ``::1``,
``localhost``). ``clock`` (epoch seconds, ``time.time`` by default) is what every bucket,
window, expiry and processing delay is measured with, so tests can move time by hand.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from uploader.sandbox.exchange import Clock
from uploader.sandbox.knobs import SandboxConfig
from uploader.sandbox.server import THREAD_NAME, Emulator, SandboxServer

__all__ = ["Sandbox", "SandboxConfig"]

POLL = 0.05  # seconds: how soon the serving loop notices stop()


def _emulators(config: SandboxConfig, storage: Path, clock: Clock) -> dict[str, Emulator]:
    """The registry: path prefix -> emulator (the longest matching prefix wins)."""
    from uploader.sandbox.custom_hosts import CustomEmulator
    from uploader.sandbox.gyazo_api import GyazoApiEmulator, GyazoState, GyazoUploadEmulator
    from uploader.sandbox.imgur import ImgurEmulator
    from uploader.sandbox.mastodon_api import MastodonEmulator
    from uploader.sandbox.oauth_apps import GyazoOAuthEmulator, MastodonOAuthEmulator, TokenBook

    for name in ("imgur", "gyazo", "mastodon", "custom"):
        (storage / name).mkdir(exist_ok=True)
    book = TokenBook()
    mastodon_oauth = MastodonOAuthEmulator(config, book, clock)
    gyazo = GyazoState(config, storage / "gyazo", book, clock)
    return {
        "/imgur": ImgurEmulator(config, storage / "imgur", clock),
        "/gyazo": GyazoApiEmulator(gyazo),
        "/gyazo-upload": GyazoUploadEmulator(gyazo),
        "/mastodon": MastodonEmulator(config, storage / "mastodon", book, clock),
        "/gyazo/oauth": GyazoOAuthEmulator(config, book),
        "/mastodon/oauth": mastodon_oauth,
        "/mastodon/api/v1/apps": mastodon_oauth,
        "/custom": CustomEmulator(config, storage / "custom", clock),
    }


class Sandbox:
    """One sandbox server with its storage (a private temporary directory unless the
    ``storage_dir`` knob names one; the private one is removed on stop)."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Clock = time.time,
    ) -> None:
        self.config = config or SandboxConfig()
        self.host = host.removeprefix("[").removesuffix("]")  # "[::1]" as a URL spells it
        self.port = port
        self.clock = clock
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None
        self._storage: Path | None = None
        self._own_storage = False

    def _build(self) -> SandboxServer:
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        if self.config.storage_dir:
            self._storage = Path(self.config.storage_dir)
            self._storage.mkdir(parents=True, exist_ok=True)
            self._own_storage = False
        else:
            self._storage = Path(tempfile.mkdtemp(prefix="uploader-sandbox-"))
            self._own_storage = True
        work = self._storage / "incoming"
        work.mkdir(exist_ok=True)
        try:
            server = SandboxServer(
                (self.host, self.port),
                self.config,
                work,
                _emulators(self.config, self._storage, self.clock),
                self.clock,
            )
        except BaseException:
            self._remove_storage()
            raise
        self._server = server
        return server

    def _remove_storage(self) -> None:
        if self._own_storage and self._storage is not None:
            shutil.rmtree(self._storage, ignore_errors=True)
        self._storage = None

    @property
    def server(self) -> SandboxServer:
        """The running server (RuntimeError when stopped)."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return self._server

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` with no trailing slash; Imgur is at ``base_url + "/imgur"``."""
        host, port = self.server.server_address[:2]
        shown = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"

    def start(self) -> Sandbox:
        """Listen and serve in a daemon thread; returns self."""
        server = self._build()
        self._thread = threading.Thread(
            target=server.serve_forever, args=(POLL,), name=THREAD_NAME, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections, join the threads, remove private storage.
        Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._remove_storage()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        """The counters, as ``GET /_sandbox/stats`` returns them."""
        return self.server.stats_document()

    def uploads(self) -> list[dict[str, Any]]:
        """The stored uploads, as ``GET /_sandbox/uploads`` returns them."""
        return self.server.uploads()

    def requests(self) -> list[dict[str, Any]]:
        """The request log, as ``GET /_sandbox/requests`` returns it."""
        return self.server.request_log()

    def reset(self) -> None:
        """As ``POST /_sandbox/reset``: counters, buckets, uploads and log cleared."""
        self.server.reset()

    @staticmethod
    def serve_forever(
        config: SandboxConfig, host: str, port: int, ready: Callable[[str], None]
    ) -> None:
        """Serve in the foreground; ``ready(base_url)`` once listening. Returns cleanly on
        KeyboardInterrupt or SIGTERM (the handler is installed only in the main thread)."""
        sandbox = Sandbox(config, host, port)
        server = sandbox._build()

        def stop(_signum: int, _frame: FrameType | None) -> None:
            # shutdown() waits for the loop this very thread runs: ask from another one.
            name = f"{THREAD_NAME}-stop"
            threading.Thread(target=server.shutdown, name=name, daemon=True).start()

        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, stop) if main else None
        try:
            ready(sandbox.base_url)
            server.serve_forever(POLL)
        except KeyboardInterrupt:
            pass
        finally:
            if main:
                signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
            sandbox._server = None
            server.close_all()
            sandbox._remove_storage()
