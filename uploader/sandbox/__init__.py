"""The offline sandbox: a real local HTTP server that behaves like the providers.

``Sandbox(config, host, port)`` serves in a daemon thread (``with`` starts and stops it);
``Sandbox.serve_forever`` runs in the foreground for ``uploader sandbox``. Provider
emulators live under prefixes (``/imgur``); adding one is a module and a registry line in
:func:`_emulators`.
"""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from uploader.sandbox.knobs import SandboxConfig
from uploader.sandbox.server import Emulator, SandboxServer

__all__ = ["Sandbox", "SandboxConfig"]


def _emulators(config: SandboxConfig, storage: Path) -> dict[str, Emulator]:
    from uploader.sandbox.gyazo_api import GyazoApiEmulator, GyazoState, GyazoUploadEmulator
    from uploader.sandbox.imgur import ImgurEmulator
    from uploader.sandbox.mastodon_api import MastodonEmulator
    from uploader.sandbox.oauth_apps import GyazoOAuthEmulator, MastodonOAuthEmulator, TokenBook

    for name in ("imgur", "gyazo", "mastodon"):
        (storage / name).mkdir(exist_ok=True)
    book = TokenBook()
    mastodon_oauth = MastodonOAuthEmulator(config, book)
    gyazo = GyazoState(config, storage / "gyazo", book)
    return {
        "/imgur": ImgurEmulator(config, storage / "imgur"),
        "/gyazo": GyazoApiEmulator(gyazo),
        "/gyazo-upload": GyazoUploadEmulator(gyazo),
        "/mastodon": MastodonEmulator(config, storage / "mastodon", book),
        "/gyazo/oauth": GyazoOAuthEmulator(config, book),
        "/mastodon/oauth": mastodon_oauth,
        "/mastodon/api/v1/apps": mastodon_oauth,
    }


class Sandbox:
    """One sandbox server with its private storage."""

    def __init__(
        self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or SandboxConfig()
        self.host = host
        self.port = port
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None
        self._storage: Path | None = None
        self._own_storage = False

    def _build(self) -> SandboxServer:
        if self.config.storage_dir:
            self._storage = Path(self.config.storage_dir)
            self._storage.mkdir(parents=True, exist_ok=True)
        else:
            self._storage = Path(tempfile.mkdtemp(prefix="uploader-sandbox-"))
            self._own_storage = True
        work = self._storage / "incoming"
        work.mkdir(exist_ok=True)
        server = SandboxServer(
            (self.host, self.port), self.config, work, _emulators(self.config, self._storage)
        )
        self._server = server
        return server

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        address = self._server.server_address
        host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
        port = address[1]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def start(self) -> Sandbox:
        server = self._build()
        self._thread = threading.Thread(
            target=server.serve_forever, name="uploader-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._own_storage and self._storage is not None:
            shutil.rmtree(self._storage, ignore_errors=True)
        self._server = None
        self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base_url + path, timeout=10) as response:  # noqa: S310 - loopback
            return json.load(response)

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get("/_sandbox/stats")
        return result

    def uploads(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get("/_sandbox/uploads")
        return result

    def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get("/_sandbox/requests")
        return result

    @staticmethod
    def serve_forever(
        config: SandboxConfig, host: str, port: int, ready: Callable[[str], None]
    ) -> None:
        """Serve in the foreground until SIGINT or SIGTERM; ``ready(base_url)`` first."""
        sandbox = Sandbox(config, host, port)
        server = sandbox._build()

        def stop(_signum: int, _frame: FrameType | None) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()

        previous = signal.signal(signal.SIGTERM, stop)
        try:
            ready(sandbox.base_url)
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            server.server_close()
            if sandbox._own_storage and sandbox._storage is not None:
                shutil.rmtree(sandbox._storage, ignore_errors=True)
