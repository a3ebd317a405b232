"""What of each file is sent (issue 15): its metadata stripped, or the picture re-encoded.

Once a file is hashed for the history (its ``sha256`` is always the original file's: the
history knows a file by its own bytes, so ``--skip-existing`` finds it again whatever was
sent), :class:`Pictures` decides the body:

- ``--max-dimension``, ``--convert``, ``--quality``: the picture re-encoded with Pillow
  (``imaging/reencode.py``) into a private file of the run's own temporary folder; types
  Pillow does not re-encode (videos, HEIC/AVIF) are sent as they are, said at ``-v``;
- ``--fit``: a picture over the provider's size limit re-encoded until it fits (quality
  first, then size); a picture within the limit is left alone;
- otherwise, by default, its metadata planned out of the body (``imaging/strip.py``), the
  pixels untouched; ``--keep-metadata`` sends it byte for byte.

A re-encoded file carries no metadata but its ICC profile, so it is not stripped again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from uploader.errors import InterruptedRunError
from uploader.models import ImageFile
from uploader.providers.base import Limits

# Pillow re-encodes these (imaging/reencode.py); anything else is sent as it is.
REENCODED = ("image/jpeg", "image/png", "image/webp", "image/gif")


class Reencode(NamedTuple):
    """What the user asked of the pictures themselves (``imaging/reencode.py``)."""

    max_dimension: int | None = None
    convert: str | None = None
    quality: int | None = None
    fit: bool = False  # a file over the provider's limit is re-encoded to fit it

    @property
    def always(self) -> bool:
        """Whether every picture is re-encoded (not only one over the limit)."""
        return bool(self.max_dimension or self.convert or self.quality)


def defers_size(reencode: Reencode | None, image: ImageFile) -> bool:
    """Whether ``image``'s size is judged only after it is re-encoded (not up front)."""
    return reencode is not None and image.mime_type in REENCODED


class Pictures:
    """The body of each file of a run (see the module docstring); thread-safe."""

    def __init__(
        self,
        *,
        strip: bool,
        reencode: Reencode | None,
        limits: Limits,
        debug: Callable[[str], None],
    ) -> None:
        self.strip = strip
        self.reencode = reencode
        self.limits = limits
        self.debug = debug
        self._lock = threading.Lock()
        self._folder: Path | None = None
        self._closed = False  # the run is over (or interrupted): no new folder

    def prepare(self, image: ImageFile) -> ImageFile:
        """``image`` as it will be sent."""
        wanted = self.reencode
        if wanted is not None and image.mime_type in REENCODED:
            limit = self.limits.max_image_size
            if wanted.always and not self._small_enough(image, wanted):
                return self._reencoded(image, wanted)
            if wanted.fit and image.size > limit:
                # Without its metadata it may fit already: sent losslessly, as without --fit.
                stripped = self._fits_stripped(image, limit) if self.strip else None
                return stripped or self._reencoded(image, wanted)
        elif wanted is not None and (wanted.always or wanted.fit):
            self.debug(f"{image.label}: {image.mime_type} sent as it is (not re-encoded)")
        return self._stripped(image) if self.strip else image

    def close(self) -> None:
        """Remove the run's re-encoded files."""
        with self._lock:
            folder, self._folder = self._folder, None
            self._closed = True
        if folder is not None:
            import shutil  # start-up: only a run that re-encoded has a folder to remove

            shutil.rmtree(folder, ignore_errors=True)

    def _stripped(self, image: ImageFile) -> ImageFile:
        from uploader.imaging.strip import HANDLED, strip_for_upload

        stripped = strip_for_upload(image)
        if stripped.plan is not None:
            removed = ", ".join(dict.fromkeys(stripped.plan.removed))
            cut = image.size - stripped.plan.size
            self.debug(f"{image.label}: metadata stripped: {removed} ({cut} bytes)")
        elif image.mime_type not in HANDLED:
            self.debug(
                f"{image.label}: {image.mime_type} sent as it is "
                "(metadata is stripped from JPEG, PNG and WebP)"
            )
        return stripped

    def _small_enough(self, image: ImageFile, wanted: Reencode) -> bool:
        """Whether ``--max-dimension`` alone was asked and the picture is within it already:
        then it is not re-encoded (a loss, and often a larger file, for nothing)."""
        from uploader.imaging import reencode

        same_type = (
            wanted.convert is None or reencode.BY_MIME.get(image.mime_type) == wanted.convert
        )
        if not wanted.max_dimension or wanted.quality or not same_type:
            return False
        side = reencode.longest_side(image.source)
        if side is None or side > wanted.max_dimension:
            return False
        self.debug(f"{image.label}: within --max-dimension {wanted.max_dimension}: not re-encoded")
        return True

    def _fits_stripped(self, image: ImageFile, limit: int) -> ImageFile | None:
        """``image`` stripped, when that alone brings it within ``limit``."""
        from uploader.errors import InputFileError

        try:
            stripped = self._stripped(image)
        except InputFileError:  # its structure cannot be followed: re-encoding will tell
            return None
        return stripped if stripped.sent_size <= limit else None

    def _reencoded(self, image: ImageFile, wanted: Reencode) -> ImageFile:
        from uploader.imaging import content, reencode

        folder = self._workdir()
        source = image.source
        done: reencode.Reencoded | None = None
        if wanted.always:
            done = reencode.reencode(
                source,
                image.label,
                image.mime_type,
                folder,
                max_dimension=wanted.max_dimension,
                convert=wanted.convert,
                quality=wanted.quality,
                keep_metadata=not self.strip,
            )
        if done is None or (wanted.fit and done.size > self.limits.max_image_size):
            if done is not None:
                done.path.unlink(missing_ok=True)
            target = wanted.convert or reencode.BY_MIME.get(image.mime_type)
            done = reencode.fit(
                source,
                image.label,
                image.mime_type,
                folder,
                self.limits.max_image_size,
                convert=target,
                max_dimension=wanted.max_dimension,
                quality=wanted.quality,
                keep_metadata=not self.strip,
            )
        self.debug(
            f"{image.label}: re-encoded as {done.mime} {done.width}x{done.height}, "
            f"{done.size} bytes (was {image.size})"
        )
        name = image.filename
        if done.mime != image.mime_type:  # the name sent says the new type (photo.webp)
            name = str(Path(name).with_suffix(done.path.suffix))
        held = done.path.read_bytes() if done.size <= content.HOLD_LIMIT else None
        stamp = content.stamp_of(done.path.stat())
        # The sha256 stays the original file's (the history's key); the body is the new file.
        return replace(
            image,
            source=done.path,
            filename=name,
            size=done.size,
            mime_type=done.mime,
            data=held,
            stamp=stamp,
            plan=None,
        )

    def _workdir(self) -> Path:
        with self._lock:
            if self._closed:  # a worker still busy after Ctrl-C: leave nothing behind
                raise InterruptedRunError("interrupted before it was sent")
            if self._folder is None:
                import tempfile  # start-up: only re-encoding needs it

                self._folder = Path(tempfile.mkdtemp(prefix="uploader-reencode-"))
            return self._folder
