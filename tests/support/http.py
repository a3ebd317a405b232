"""Fakes of the network for unit tests: scripted answers for ``httpx.MockTransport``."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence

import httpx

HTML_404 = httpx.Response(404, text="<title>imgur: the simple 404 page</title>")


class Routes:
    """Scripted answers per ``"METHOD /path"``, in order (the last one repeats).

    An answer may be an exception instead: it is raised after the request body was read,
    as httpx raises a lost connection (``httpx.ReadError``: the body was sent).

    ``prefix`` is stripped from request paths before matching; a route with no answers gets
    ``missing``. Every request is read (so its body can be checked) and kept in ``seen``,
    with the time ``clock`` gave when it arrived in ``times``.
    """

    def __init__(
        self,
        answers: Mapping[str, Sequence[httpx.Response | Exception]],
        *,
        prefix: str = "",
        missing: httpx.Response = HTML_404,
        clock: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.answers = {key: list(queue) for key, queue in answers.items()}
        self.prefix = prefix
        self.missing = missing
        self.clock = clock
        self.seen: list[httpx.Request] = []
        self.times: list[float] = []
        self._served: dict[str, int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.seen.append(request)
        self.times.append(self.clock())
        key = f"{request.method} {request.url.path.removeprefix(self.prefix)}"
        queue = self.answers.get(key)
        answer: httpx.Response | Exception
        if not queue:
            answer = self.missing
        else:
            index = self._served.get(key, 0)
            self._served[key] = index + 1
            answer = queue[min(index, len(queue) - 1)]
            if isinstance(answer, Exception):
                raise answer
            if index < len(queue):
                return answer  # the scripted object itself: a test may inspect it afterwards
        # A repeat (or the shared 404): a fresh copy, one response belongs to one request.
        assert isinstance(answer, httpx.Response)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    def requests(self, key: str) -> list[httpx.Request]:
        """The requests seen for ``"METHOD /path"`` (path matched at its end)."""
        method, path = key.split(" ", 1)
        return [r for r in self.seen if r.method == method and r.url.path.endswith(path)]

    def count(self, method: str) -> int:
        return sum(1 for r in self.seen if r.method == method)

    def times_of(self, method: str) -> list[float]:
        return [at for r, at in zip(self.seen, self.times, strict=True) if r.method == method]

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def free_port() -> int:
    """A loopback port with surely no listener: bound by us, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
