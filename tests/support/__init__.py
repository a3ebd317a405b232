"""Shared test helpers: plain modules, imported explicitly by the tests that need them.

Why a package of plain helpers rather than fixtures in ``conftest.py``: most helpers take
arguments (a start time, scripted answers, a config text) and many are used inside a test,
not around it; explicit imports also show where each name comes from. ``tests/conftest.py``
keeps only what every test gets (the hermetic environment).

- ``clock``: :class:`FakeTime`, the injected clock and sleep (sleeping moves the clock).
- ``http``: :class:`Routes` (scripted answers for ``httpx.MockTransport``), ``free_port``.
- ``canned``: a real loopback server answering canned responses (error shapes, truncation).
- ``imgur``: Imgur's answer bodies (errors in their real shapes, an uploaded image).
- ``providers``: config text and a provider object of any kind wired to a handler.
- ``limiter``: a rate limiter on a private directory with Imgur's bucket specs.
- ``pipeline``: one ``upload`` through the real core (``commands.upload``), in process.
- ``images``: small real image files made on the fly.
- ``e2e``: the real ``uploader`` process against ``uploader sandbox`` (Ctrl-C-safe).
"""
