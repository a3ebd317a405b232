"""``--include`` / ``--exclude`` patterns: gitignore-style globs over a path relative to the
folder named on the command line.

The rules (README "Folders"):

- ``*`` matches any run of characters within one name, ``?`` one character, ``[abc]`` /
  ``[!abc]`` / ``[a-z]`` one character of (or not of) a set; none of them matches ``/``.
- ``**`` matches across folders: ``tmp/**`` is everything inside ``tmp``, ``**/raw/*.png``
  a ``raw`` folder at any depth, ``a/**/b`` ``a/b``, ``a/x/b``, ``a/x/y/b``.
- A pattern without a slash matches a name at any depth (``*.png`` matches ``a.png`` and
  ``2024/05/a.png``); a pattern with a slash, or starting with one, is anchored at the
  folder named (``/a.png`` or ``2024/*.png``).
- A pattern ending with ``/`` matches folders only (``--exclude 'tmp/'``).
- A pattern matches a file when it matches the file's path or the path of a folder the file
  is in: ``--exclude tmp`` leaves out everything under any folder named ``tmp``.
- A leading ``./`` is the folder named, like a leading ``/`` (``./2024/*.png``); any other
  ``.`` or ``..`` part could never match and is an error.
- ``\\`` makes the next character literal. Matching is case-sensitive, like the file
  system's names on Linux (and like git and rsync).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from uploader.errors import UsageError


@dataclass(frozen=True)
class Pattern:
    """One compiled pattern; ``text`` as the user wrote it."""

    text: str
    regex: re.Pattern[str]
    dir_only: bool

    def matches(self, relative: str, *, is_dir: bool, fold: bool = False) -> bool:
        """Whether the pattern matches ``relative`` ('/'-separated, no leading slash);
        ``fold``: ignoring case (only to tell the user that case was what differed)."""
        if self.dir_only and not is_dir:
            return False
        if fold:
            return re.fullmatch(self.regex.pattern, relative, re.DOTALL | re.IGNORECASE) is not None
        return self.regex.fullmatch(relative) is not None


def compile_pattern(text: str, option: str) -> Pattern:
    """``text`` compiled; UsageError for a pattern that can match nothing."""
    body = text
    dir_only = body.endswith("/")
    body = body.rstrip("/")
    anchored = body.startswith("/") or "/" in body
    body = body.lstrip("/")
    while body.startswith("./"):  # './a.png' as the shell would write it: '/a.png'
        body = body[2:].lstrip("/")
    if body == ".":  # the folder itself: no file in it is named so
        body = ""
    if not body:
        raise UsageError(
            f"{option} {text!r}: the pattern is empty",
            hint=f"give a glob such as {option} '*.png' or {option} 'tmp/**'",
        )
    if any(part in (".", "..") for part in body.split("/")):
        raise UsageError(
            f"{option} {text!r}: a pattern is matched against the path inside the folder "
            "named, where no part is '.' or '..'",
            hint=f"name the folder itself on the command line, or write the path from it "
            f"({option} '2024/*.png')",
        )
    regex = _translate(body)
    if not anchored:
        regex = f"(?:.*/)?{regex}"
    try:
        compiled = re.compile(regex, re.DOTALL)
    except re.error as exc:  # a range such as [z-a]
        raise UsageError(
            f"{option} {text!r}: not a valid pattern ({exc.msg})",
            hint="a character range goes from the lower to the higher one: [a-z], [0-9]",
        ) from None
    return Pattern(text=text, regex=compiled, dir_only=dir_only)


def _translate(glob: str) -> str:
    """The regular expression (without anchors) for one glob body."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        char = glob[i]
        if char == "*":
            stars = 1
            while i + stars < n and glob[i + stars] == "*":
                stars += 1
            if stars == 1:
                out.append("[^/]*")
                i += 1
                continue
            starts_segment = i == 0 or glob[i - 1] == "/"
            end = i + stars
            if starts_segment and end < n and glob[end] == "/":
                out.append("(?:.*/)?")  # '**/': no folder, or any number of them
                i = end + 1
            elif starts_segment and end == n and i > 0:
                out[-1] = "(?:/.*)?"  # 'tmp/**': the folder and everything inside it
                i = end
            else:
                out.append(".*")  # '**' elsewhere still crosses folders
                i = end
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            klass, i = _char_class(glob, i)
            out.append(klass)
        elif char == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append("/" if char == "/" else re.escape(char))
            i += 1
    return "".join(out)


def _char_class(glob: str, start: int) -> tuple[str, int]:
    """``[...]`` at ``start``: (its regex, the index after it); an unclosed '[' is literal."""
    i = start + 1
    negate = i < len(glob) and glob[i] in "!^"
    if negate:
        i += 1
    members_start = i
    if i < len(glob) and glob[i] == "]":
        i += 1  # a ']' first is a member
    while i < len(glob) and glob[i] != "]":
        i += 1
    if i >= len(glob):
        return re.escape("["), start + 1
    raw = glob[members_start:i]
    # A '-' between two members is a range; every other character is itself.
    members = "".join(
        "-" if char == "-" and 0 < k < len(raw) - 1 and raw[k - 1] != "-" else re.escape(char)
        for k, char in enumerate(raw)
    )
    # '/' never matches: it separates folders.
    if negate:
        return f"[^/{members}]", i + 1
    return f"(?!/)[{members}]", i + 1


@dataclass(frozen=True)
class Filters:
    """The ``--include`` and ``--exclude`` patterns of one run (exclude wins)."""

    include: tuple[Pattern, ...] = ()
    exclude: tuple[Pattern, ...] = ()

    @classmethod
    def parse(cls, include: Sequence[str], exclude: Sequence[str]) -> Filters:
        return cls(
            include=tuple(compile_pattern(text, "--include") for text in include),
            exclude=tuple(compile_pattern(text, "--exclude") for text in exclude),
        )

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)

    def excludes_folder(self, relative: str) -> bool:
        """A folder whose whole content is left out (not walked at all)."""
        return any(p.matches(relative, is_dir=True) for p in self.exclude)

    def takes(self, parts: Sequence[str], *, fold: bool = False) -> bool:
        """Whether the file at ``parts`` (its path relative to the folder named) is taken;
        ``fold``: whether it would be if case did not matter."""
        paths = ["/".join(parts[: k + 1]) for k in range(len(parts))]
        file_path, folders = paths[-1], paths[:-1]

        def hit(patterns: tuple[Pattern, ...]) -> bool:
            return any(
                p.matches(file_path, is_dir=False, fold=fold)
                or any(p.matches(folder, is_dir=True, fold=fold) for folder in folders)
                for p in patterns
            )

        if hit(self.exclude):
            return False
        return not self.include or hit(self.include)
