"""Where a key stands in a config file, for error messages: tomllib reports no positions
for valid TOML, and for invalid TOML only a line and column in its message text."""

from __future__ import annotations

import re
from pathlib import Path

from uploader.errors import ConfigError


class Locator:
    """Finds the line of a key for error messages (tomllib does not report positions)."""

    def __init__(self, text: str, path: Path) -> None:
        self.lines = text.splitlines()
        self.path = path

    def line_of(self, table: tuple[str, ...], key: str) -> int | None:
        header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(map(re.escape, table)) + r"\s*\]")
        in_table = not table
        key_re = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
        for number, line in enumerate(self.lines, start=1):
            if line.lstrip().startswith("["):
                in_table = bool(table) and bool(header.match(line))
                if in_table and key == "":
                    return number
                continue
            if in_table and key_re.match(line):
                return number
        if key:  # a sub-table written as its own [table.key] header
            return self.line_of((*table, key), "")
        return None

    def syntax_error(self, detail: str) -> ConfigError:
        """tomllib says "Invalid value (at line 3, column 10)": name the line and its key."""
        found = re.search(r"\s*\(at (?:line (\d+), column \d+|end of document)\)$", detail)
        hint = "fix the syntax; `uploader config init --stdout` prints a valid example"
        if found is None:
            return ConfigError(f"{self.path}: invalid TOML: {detail}", hint=hint)
        # "At end of document": the last line that has anything on it.
        last = max((n for n, text in enumerate(self.lines, 1) if text.strip()), default=1)
        number = int(found.group(1)) if found.group(1) else last
        problem = detail[: found.start()]
        line = self.lines[number - 1] if 0 < number <= len(self.lines) else ""
        key = re.match(r"\s*([A-Za-z0-9_\-.\"']+?)\s*=", line)
        table: tuple[str, ...] = ()
        for above in reversed(self.lines[: number - 1]):
            header = re.match(r"\s*\[+\s*([^\]]+?)\s*\]", above)
            if header:
                table = tuple(part.strip().strip("\"'") for part in header.group(1).split("."))
                break
        if key is None:
            return ConfigError(f"{self.path}, line {number}: invalid TOML: {problem}", hint=hint)
        dotted = ".".join((*table, key.group(1).strip("\"'")))
        return ConfigError(
            f"{self.path}, line {number}: key {dotted!r}: invalid TOML: {problem}", hint=hint
        )

    def prefix(self, table: tuple[str, ...], key: str) -> str:
        line = self.line_of(table, key)
        return f"{self.path}, line {line}" if line else str(self.path)

    def error(self, table: tuple[str, ...], key: str, problem: str) -> ConfigError:
        dotted = ".".join((*table, key)) if key else ".".join(table)
        return ConfigError(f"{self.prefix(table, key)}: key {dotted!r} {problem}")
