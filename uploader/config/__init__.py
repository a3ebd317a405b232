"""Configuration: discovery, TOML parsing and validation (``settings``), where keys stand in
the file (``locator``) and the XDG directories (``paths``). Imports nothing eagerly."""
