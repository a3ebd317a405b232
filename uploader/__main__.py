"""``python -m uploader`` and the ``uploader`` console script."""

from __future__ import annotations

from typing import NoReturn

from uploader import gcpolicy


def main() -> NoReturn:
    """Run the command line with the start-up collector policy of :mod:`uploader.gcpolicy`."""
    gcpolicy.pause()
    # start-up: imported only once the collector is paused (click and the commands load here)
    from uploader.cli import main as cli_main

    try:
        cli_main()
    finally:
        gcpolicy.freeze_for_exit()


if __name__ == "__main__":
    main()
