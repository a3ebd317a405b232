"""The one HTTP boundary: the client (``client``), the session every request goes through
(``session``: limiter, request count, debug log), the translation of httpx, json and socket
errors (``translate``), the retry policy (``retry``) and the ETag cache (``cache``).
Imports nothing eagerly."""
