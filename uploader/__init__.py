"""uploader: a rate-limit-aware image uploader for Imgur, Gyazo and Mastodon."""

__version__ = "0.1.0"
