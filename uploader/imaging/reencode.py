"""Resize and convert on request (issue 15): ``--max-dimension``, ``--convert``,
``--quality`` and ``--fit``, re-encoded with Pillow.

Pillow is imported only here, and this module only when one of those options is used: the
hotkey path never loads it. The picture is turned upright first (``ImageOps.exif_transpose``:
the re-encoded file carries no EXIF, so an orientation tag would be lost otherwise), its ICC
colour profile is kept, and nothing else of its metadata unless ``--keep-metadata`` asks
for its EXIF and XMP. An animated GIF, WebP or PNG stays
animated when the target type can animate (WebP, PNG, GIF; every frame resized alike) and is
refused, with what would work, when it cannot (JPEG).

The result is a new private file (0600) in ``directory``, so that the upload streams it and
every retry reopens it like any other file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from uploader.errors import InputFileError
from uploader.imaging.content import unreadable

if TYPE_CHECKING:
    from PIL import Image

# --convert NAME -> (Pillow format, MIME type, file suffix)
FORMATS = {
    "jpeg": ("JPEG", "image/jpeg", ".jpg"),
    "png": ("PNG", "image/png", ".png"),
    "webp": ("WEBP", "image/webp", ".webp"),
}
BY_MIME = {mime: name for name, (_, mime, _) in FORMATS.items()}
ANIMATED_TARGETS = ("png", "webp", "gif")
DEFAULT_QUALITY = {"jpeg": 85, "webp": 80}
# --fit: the qualities tried, then the picture shrunk by this factor each further step.
FIT_QUALITIES = (85, 75, 65, 55, 45)
FIT_SHRINK = 0.75
FIT_STEPS = 12  # encodes at most, whatever the limit
MAX_PIXELS = 200_000_000  # Pillow's decompression-bomb guard, made explicit


class Reencoded(NamedTuple):
    """The new file: where it is, its type and size, and its picture's size."""

    path: Path
    mime: str
    size: int
    width: int
    height: int


def reencode(
    source: Path,
    label: str,
    mime: str,
    directory: Path,
    *,
    max_dimension: int | None = None,
    convert: str | None = None,
    quality: int | None = None,
    keep_metadata: bool = False,
) -> Reencoded:
    """``source`` resized to ``max_dimension`` (longest side; never enlarged), in the type
    ``convert`` names (default: its own, GIF as GIF), at ``quality`` (JPEG, WebP); with
    ``keep_metadata`` (``--keep-metadata``), its EXIF and XMP carried over."""
    target = convert or BY_MIME.get(mime) or ("gif" if mime == "image/gif" else None)
    if target is None:
        raise InputFileError(
            f"{label}: {mime} cannot be resized or converted",
            hint="--max-dimension, --convert and --fit work on JPEG, PNG, WebP and GIF",
        )
    with _opened(source, label) as image:
        frames = _frames(image, label, target)
        if max_dimension:
            frames = [_shrunk(frame, max_dimension) for frame in frames]
        return _save(image, frames, target, quality, directory, label, keep=keep_metadata)


def fit(
    source: Path,
    label: str,
    mime: str,
    directory: Path,
    limit: int,
    *,
    convert: str | None = None,
    max_dimension: int | None = None,
    quality: int | None = None,
    keep_metadata: bool = False,
) -> Reencoded:
    """``source`` re-encoded until it is at most ``limit`` bytes: the quality stepped down
    first (JPEG, WebP; from ``quality`` when the user set one, never above it), then the
    picture shrunk; InputFileError when nothing fits."""
    target = convert or BY_MIME.get(mime) or "gif"
    lossy = target in DEFAULT_QUALITY
    ladder: tuple[int, ...] = FIT_QUALITIES
    if quality is not None:
        ladder = (quality, *(q for q in FIT_QUALITIES if q < quality))
    scale = 1.0
    tried: Reencoded | None = None
    for step in range(FIT_STEPS):
        quality = ladder[min(step, len(ladder) - 1)] if lossy else None
        # Lossy: each quality at full size first; lossless: shrink from the second try.
        if step >= (len(ladder) if lossy else 1):
            scale *= FIT_SHRINK
        if tried is not None:
            tried.path.unlink(missing_ok=True)
        with _opened(source, label) as image:
            frames = _frames(image, label, target)
            longest = max(max(f.size) for f in frames)
            side = max(1, int(longest * scale))
            if max_dimension:
                side = min(side, max_dimension)
            frames = [_shrunk(frame, side) for frame in frames]
            tried = _save(image, frames, target, quality, directory, label, keep=keep_metadata)
        if tried.size <= limit:
            return tried
    if tried is not None:
        tried.path.unlink(missing_ok=True)
    raise InputFileError(
        f"{label}: could not be made to fit {limit} bytes in {FIT_STEPS} tries",
        hint="use --max-dimension for a smaller picture, or --convert jpeg",
    )


def longest_side(source: Path) -> int | None:
    """The picture's longest side as its header says (no pixels decoded; the same however
    it is turned), None when Pillow cannot tell."""
    from PIL import Image

    try:
        with Image.open(source) as image:
            return max(image.size)
    except Exception:  # noqa: BLE001 - re-encoding it will say what is wrong
        return None


@contextlib.contextmanager
def _opened(source: Path, label: str) -> Any:
    import warnings

    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    # Pillow warns (on stderr, several lines) of a picture between one and two times the
    # limit: refused like one over it.
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
    try:
        with Image.open(source) as image:
            image.load()
            yield image
    except InputFileError:
        raise
    except (FileNotFoundError, PermissionError) as exc:  # checked at the start, gone since
        raise unreadable(label, exc) from None
    except Exception as exc:  # noqa: BLE001 - Pillow on a damaged file: IndexError, struct.error...
        raise InputFileError(f"{label}: cannot be re-encoded ({_why(exc)})") from None


def _why(exc: Exception) -> str:
    """One line on why Pillow failed (never empty, never several lines)."""
    text = " ".join(str(exc).split())[:200]
    return text or type(exc).__name__


def _frames(image: Image.Image, label: str, target: str) -> list[Image.Image]:
    """Every frame, upright; an animation refused when ``target`` cannot animate."""
    from PIL import ImageOps, ImageSequence

    count = getattr(image, "n_frames", 1)
    if count > 1 and target not in ANIMATED_TARGETS:
        raise InputFileError(
            f"{label}: an animation of {count} frames cannot become a still {target.upper()}",
            hint="keep its type (no --convert) or use --convert webp, which animates",
        )
    if count == 1:
        upright = ImageOps.exif_transpose(image)
        return [upright if upright is not None else image]
    return [frame.copy() for frame in ImageSequence.Iterator(image)]


def _shrunk(frame: Image.Image, side: int) -> Image.Image:
    from PIL import Image

    if max(frame.size) <= side:
        return frame
    width, height = frame.size
    ratio = side / max(width, height)
    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    return frame.resize(size, Image.Resampling.LANCZOS)


def _save(
    image: Image.Image,
    frames: list[Image.Image],
    target: str,
    quality: int | None,
    directory: Path,
    label: str,
    *,
    keep: bool = False,
) -> Reencoded:
    kind, mime, suffix = FORMATS.get(target, ("GIF", "image/gif", ".gif"))
    options: dict[str, Any] = {}
    icc = image.info.get("icc_profile")
    if icc and target != "gif":
        options["icc_profile"] = icc
    if keep and target != "gif":
        # --keep-metadata: the EXIF and XMP of the upright picture (its orientation reset
        # by exif_transpose: the pixels are turned already). PNG holds no XMP here.
        upright = frames[0].info
        options.update((k, upright[k]) for k in ("exif", "xmp") if upright.get(k))
        if target == "png":
            options.pop("xmp", None)
    if target in DEFAULT_QUALITY:
        options["quality"] = quality or DEFAULT_QUALITY[target]
    elif target == "png":
        options["optimize"] = True
    if target == "jpeg":
        frames = [_flat(frame) for frame in frames]
    if len(frames) > 1:
        options.update(
            save_all=True,
            append_images=frames[1:],
            loop=image.info.get("loop", 0),
            # each frame's own time on screen (a copied frame keeps its info)
            duration=[
                frame.info.get("duration", image.info.get("duration", 100)) for frame in frames
            ],
        )
    fd, name = tempfile.mkstemp(prefix="uploader-", suffix=suffix, dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            frames[0].save(out, kind, **options)
    except Exception as exc:  # noqa: BLE001 - a mode or size the encoder refuses
        path.unlink(missing_ok=True)
        raise InputFileError(
            f"{label}: cannot be written as {target.upper()} ({_why(exc)})"
        ) from None
    except BaseException:  # Ctrl-C while writing: no half-written file left behind
        path.unlink(missing_ok=True)
        raise
    width, height = frames[0].size
    return Reencoded(path, mime, path.stat().st_size, width, height)


def _flat(frame: Image.Image) -> Image.Image:
    """A frame JPEG can hold: transparency laid on white, palette and grey as RGB."""
    from PIL import Image

    if frame.mode in ("RGB", "L", "CMYK"):
        return frame
    rgba = frame.convert("RGBA")
    white = Image.new("RGB", rgba.size, (255, 255, 255))
    white.paste(rgba, mask=rgba.getchannel("A"))
    return white
