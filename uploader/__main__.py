"""``python -m uploader`` and the ``uploader`` console script."""

from __future__ import annotations

from typing import NoReturn


def main() -> NoReturn:
    """Run the command line with the start-up collector policy of :mod:`uploader.gcpolicy`."""
    from uploader import gcpolicy

    gcpolicy.pause()
    from uploader.cli import main as cli_main

    try:
        cli_main()
    finally:
        gcpolicy.freeze_for_exit()


if __name__ == "__main__":
    main()
