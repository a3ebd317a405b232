"""The content digest read once for the history and the upload (imaging/content.py): the
bytes held are the file's bytes, read exactly; a file that changed since it was checked is
taken only when what was read is one whole file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.support.images import png_bytes, write_png
from uploader.errors import InputFileError
from uploader.imaging import content
from uploader.imaging.inspect import inspect_path


def test_the_bytes_held_are_the_file_and_the_digest_is_theirs(tmp_path: Path) -> None:
    path = write_png(tmp_path / "a.png", width=40, height=30)
    image = content.fingerprint(inspect_path(str(path)))
    assert image.data == path.read_bytes()
    assert image.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert image.size == path.stat().st_size


def test_a_file_that_grew_into_another_whole_image_is_held_whole(tmp_path: Path) -> None:
    """A screenshot tool rewrote it between the check and the read: the new bytes are
    sent and recorded, all of them (not cut at the size first seen)."""
    path = write_png(tmp_path / "a.png", width=8, height=8)
    image = inspect_path(str(path))
    bigger = png_bytes(64, 64, seed=3)
    assert len(bigger) > image.size
    path.write_bytes(bigger)
    held = content.fingerprint(image)
    assert held.data == bigger
    assert held.size == len(bigger)
    assert held.sha256 == hashlib.sha256(bigger).hexdigest()


def test_a_file_that_grew_past_the_holding_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_png(tmp_path / "a.png", width=8, height=8)
    image = inspect_path(str(path))
    bigger = png_bytes(64, 64, seed=3)
    monkeypatch.setattr(content, "HOLD_LIMIT", image.size + 10)
    path.write_bytes(bigger)
    with pytest.raises(InputFileError, match="changed while being read"):
        content.fingerprint(image)


def test_a_file_caught_half_rewritten_is_refused(tmp_path: Path) -> None:
    path = write_png(tmp_path / "a.png", width=8, height=8)
    image = inspect_path(str(path))
    bigger = png_bytes(64, 64, seed=3)
    path.write_bytes(bigger[: len(bigger) - 20])  # larger than before, its end not written yet
    assert path.stat().st_size > image.size
    with pytest.raises(InputFileError, match="changed while being read and is not whole"):
        content.fingerprint(image)
