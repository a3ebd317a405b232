"""The one HTTP boundary: the client, the session every request goes through (limiter,
translation of httpx errors), the retry policy and the ETag cache. Imports nothing eagerly."""
