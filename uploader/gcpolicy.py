"""The command-line process's start-up: the cyclic garbage collector's part in it.

A screenshot hotkey waits for the whole process, so start-up is part of the product.
Nearly every object made while the modules load (modules, classes, functions, constants)
lives until the process ends, so the collector's passes over them during start-up are
wasted work, and so is the full collection the interpreter runs when it exits. On one
300 KB upload to the sandbox the two cost about 7 ms and 12 ms of ~105 ms (BENCHMARKS.md).

Only the console entry point (``uploader.__main__``) calls :func:`pause`; code that imports
the package as a library, and the test suite, keep the interpreter's defaults.
"""

from __future__ import annotations

import gc


class _Pause:
    active = False


def pause() -> None:
    """Stop cyclic collection until :func:`resume` (the first thing the console does)."""
    if gc.isenabled():
        gc.disable()
        _Pause.active = True


def resume() -> None:
    """The heavy imports are done: keep what start-up made out of every later collection
    (``gc.freeze``) and collect again, so a batch of thousands of files still frees its
    reference cycles. Does nothing unless :func:`pause` stopped collection."""
    if _Pause.active:
        _Pause.active = False
        gc.freeze()
        gc.enable()


def freeze_for_exit() -> None:
    """The command is over and its output flushed: spare the interpreter's final
    collection the objects that exit frees anyway (every file and connection is already
    closed by its context manager; the OS reclaims the rest)."""
    gc.freeze()
