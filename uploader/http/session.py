"""The session every request of the tool goes through.

Uploads, lookups, deletes, OAuth token exchanges and refreshes, ``auth status``'s check and
``auth logout``'s revocation all call :meth:`ApiSession.request`. It reserves the request's
cost with the rate limiter (when the session has one and the request costs something),
sends it, translates every httpx exception through :mod:`uploader.http.translate`, and
settles the limiter with what the answer's headers say. A request outside every rate
bucket (a token exchange, a revocation) goes through a session without a limiter, or with
no ``costs``: the translation, the request count and the debug log are the same for every
request, and so is the low-speed rule (:mod:`uploader.http.lowspeed`: an attempt that
moves fewer than ``low_speed_limit`` bytes/s for ``low_speed_time`` s is given up, on the
session's clock). The debug log shows the method, the URL (a user:password in it
masked) and the status; never headers or bodies, where the secrets travel.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from uploader.errors import InputFileError, InterruptedRunError
from uploader.http.client import LowSpeed, import_httpx
from uploader.http.translate import network_error, too_large_error, too_slow_error, was_sent
from uploader.ratelimit.limiter import Refusal
from uploader.ratelimit.policy import Order

if TYPE_CHECKING:
    import httpx

    from uploader.models import BucketUpdate, Pending
    from uploader.ratelimit.limiter import RateLimiter

log = logging.getLogger("uploader.http")

UpdatesParser = Callable[["httpx.Response"], Sequence["BucketUpdate"]]
RefusalReader = Callable[["httpx.Response"], "Refusal | None"]
NO_COST: Mapping[str, int] = MappingProxyType({})
DEFAULT_LOW_SPEED = LowSpeed()


def masked(url: str) -> str:
    """``url`` for the log: a ``user:password@`` in it becomes ``****@``."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    if not sep or "@" not in netloc:
        return url
    return f"{scheme}://****@{netloc.rsplit('@', 1)[1]}{slash}{path}"


def no_updates(_response: httpx.Response) -> Sequence[BucketUpdate]:
    """For providers (and requests) whose answers carry no rate-limit headers."""
    return ()


def refusal_if_429(response: httpx.Response) -> Refusal | None:
    """The plain reading: a 429 is a rate-limit refusal, nothing else is."""
    return Refusal() if response.status_code == 429 else None


class Turn(Order, Protocol):
    """A file's place in a batch's queue of reservations (``commands/batch.py``): its first
    request that costs something asks the limiter once the file before it has asked, and
    reserves only after it (``Order``: they may wait for the budget side by side)."""

    def wait(self) -> None:
        """Return when this file may ask; raise the error that stops it instead."""

    def passed(self) -> None:
        """This file has reserved: the next one may."""


class Tracker:
    """The requests one file has sent so far (see :meth:`ApiSession.track`), and its
    ``turn`` to reserve while it has not yet reserved (None: no queue)."""

    __slots__ = ("sent", "turn")

    def __init__(self, turn: Turn | None = None) -> None:
        self.sent = 0
        self.turn = turn

    def wait_turn(self) -> None:
        """Wait for this file's turn to reserve (at once when it has none, or had it)."""
        if self.turn is not None:
            self.turn.wait()


class ApiSession:
    """An httpx client plus, optionally, the rate limiter of one profile.

    ``request`` reserves ``costs`` (bucket -> credits) before sending and settles them with
    what the response headers say. An answer that ``refusal`` reads as a rate-limit refusal
    (a 429, or a provider's own shape such as Imgur's "uploading too fast" in a 400) is
    recorded as a rejection instead, so that the next reservation waits or fails: the retry
    policy relies on that and adds no wait of its own. ``pending`` tells the limiter how
    many requests of this kind the caller still has to make (for pacing).
    """

    def __init__(
        self,
        http: httpx.Client,
        limiter: RateLimiter | None = None,
        updates: UpdatesParser = no_updates,
        *,
        refusal: RefusalReader = refusal_if_429,
        low_speed: LowSpeed = DEFAULT_LOW_SPEED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.limiter = limiter
        self.low_speed = low_speed
        self.clock = clock
        self._updates = updates
        self._refusal = refusal
        # Requests handed to the network so far: whether anything may have reached the
        # server (the pipeline asks after Ctrl-C).
        self.requests_sent = 0
        # After a rate-limit refusal: when the limiter lets that request go again (for the
        # message, should the retries give up).
        self.refused_until: float | None = None
        # Set (Ctrl-C in a batch): no further request is handed to the network.
        self.cancel: threading.Event | None = None
        self._local = threading.local()  # the tracker of the file this thread sends

    def track(self, tracker: Tracker | None) -> None:
        """Count this thread's requests in ``tracker`` (None: stop): a batch runs files in
        several threads and must know which of them may have reached the server."""
        self._local.tracker = tracker

    def sent_here(self) -> int:
        """Requests handed to the network for the file this thread sends (its tracker's
        count; the whole session's when no file is tracked): compared before and after a
        file's attempts, whether any of them may have reached the server."""
        tracker: Tracker | None = getattr(self._local, "tracker", None)
        return self.requests_sent if tracker is None else tracker.sent

    def request(
        self,
        method: str,
        url: str,
        *,
        costs: Mapping[str, int] = NO_COST,
        pending: Pending = 1,
        shown_url: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request (``kwargs`` go to ``httpx.Client.request``); raises
        :class:`NetworkError`/:class:`TlsError` when no answer came, and whatever the
        limiter raises when it refuses to send. ``shown_url``: the URL as the debug log
        shows it, when ``url`` itself holds a secret (a custom host's deletion URL)."""
        httpx_mod = import_httpx()
        limiter = self.limiter
        tracker: Tracker | None = getattr(self._local, "tracker", None)
        turn = tracker.turn if tracker is not None else None
        if turn is not None:
            turn.wait()  # raises the error that stops this file instead
        # Even a free request reserves (nothing): its answer's headers update the buckets.
        # A file whose turn it is holds it while the limiter decides, not while it waits
        # (pacing, a window's reset): the next file may ask meanwhile, and reserves after.
        reservation = limiter.acquire(costs, pending=pending, order=turn) if limiter else None
        if turn is not None and tracker is not None and any(costs.values()):
            tracker.turn = None  # the file's later requests (retries, polls) queue no more
            turn.passed()
        # Counted before the look at ``cancel``: a batch that reads 0 once it has set it
        # knows that no request of the file will go (``Batch.wait_for_flight``).
        if tracker is not None:
            tracker.sent += 1
        if self.cancel is not None and self.cancel.is_set():
            if tracker is not None:
                tracker.sent -= 1
            if limiter and reservation is not None:
                limiter.release(reservation)
            raise InterruptedRunError("interrupted before it was sent")
        log.debug("%s %s", method, masked(shown_url or url))
        self.requests_sent += 1
        rule = self.low_speed
        from uploader.http import lowspeed  # start-up: it imports httpx

        try:
            if rule.enabled:
                attempt = lowspeed.Attempt(rule, self.clock)
                try:
                    response = lowspeed.send(self.http, method, url, kwargs, attempt)
                except lowspeed.TooSlowError as exc:
                    if limiter and reservation is not None:
                        limiter.settle(reservation, ())  # it reached the server: counted
                    sent = attempt.may_have_arrived
                    raise too_slow_error(url, rule.limit, rule.seconds, sent=sent) from exc
            else:
                response = lowspeed.read_capped(self.http, method, url, kwargs)
        except lowspeed.AnswerTooLargeError as exc:
            if limiter and reservation is not None:
                limiter.settle(reservation, ())  # it was answered: counted
            raise too_large_error(url, lowspeed.LARGEST_ANSWER) from exc
        except KeyboardInterrupt:
            if limiter and reservation is not None:
                limiter.settle(reservation, ())  # it may have been counted
            raise
        except InputFileError:
            # The body's file changed while it was sent (imaging/content.py): the body was
            # cut before its end, so the server never got a whole request.
            if limiter and reservation is not None:
                limiter.release(reservation)
            raise
        except httpx_mod.HTTPError as exc:
            sent = was_sent(exc)
            if limiter and reservation is not None:
                if sent:
                    # The server may have counted it: keep the cost as spent.
                    limiter.settle(reservation, ())
                else:
                    limiter.release(reservation)
            raise network_error(exc, url, sent=sent) from exc
        if limiter and reservation is not None:
            try:
                updates = list(self._updates(response))
            except Exception:  # header parsing must never fail a request that worked
                log.debug("could not read rate-limit headers", exc_info=True)
                updates = []
            refusal = self._read_refusal(response)
            if refusal is not None:
                limiter.reject(
                    reservation,
                    updates,
                    retry_after=refusal.retry_after,
                    spent=refusal.spent,
                    pause=refusal.pause,
                    note=refusal.note,
                )
                self.refused_until = limiter.blocked_until(dict(reservation.costs))
            else:
                limiter.settle(reservation, updates)
        log.debug("-> HTTP %s (%d bytes)", response.status_code, len(response.content))
        return response

    def _read_refusal(self, response: httpx.Response) -> Refusal | None:
        try:
            return self._refusal(response)
        except Exception:  # a body we cannot read must not hide a 429 from the limiter
            log.debug("could not read the refusal", exc_info=True)
            return refusal_if_429(response)
