"""Local file inspection before any request: type from the first bytes, size, standard
input spooled to a file. Imports nothing eagerly."""
