"""Configuration: discovery, TOML parsing and validation (``settings``), what each provider
kind's profile table may hold (``options``: plain data, so config needs no provider code),
where keys stand in the file (``locator``) and the XDG directories (``paths``). Imports
nothing eagerly."""
