"""``python -m uploader``."""

from uploader.cli import main

if __name__ == "__main__":
    main()
