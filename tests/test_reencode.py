"""Resize, convert and fit (imaging/reencode.py, issue 15), on files Pillow writes here."""

from __future__ import annotations

import functools
import io
import os
import stat
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from uploader.errors import ExitCode, InputFileError
from uploader.imaging import reencode as re_mod


def _photo(tmp_path: Path, size: tuple[int, int] = (400, 300), **options: object) -> Path:
    image = Image.new("RGB", size)
    image.putdata(
        [
            ((x * 3) % 256, (y * 5) % 256, (x * y) % 256)
            for y in range(size[1])
            for x in range(size[0])
        ]
    )
    path = tmp_path / "photo.jpg"
    image.save(path, "JPEG", **options)  # type: ignore[arg-type]
    return path


@functools.cache  # one profile: it carries its creation time, to the second
def _icc() -> bytes:
    data: bytes = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return data


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif.get_ifd(0x8825)[1] = "N"
    data: bytes = exif.tobytes()
    return data


def test_the_longest_side_is_cut_to_max_dimension_keeping_the_ratio(tmp_path: Path) -> None:
    path = _photo(tmp_path)
    out = re_mod.reencode(path, "p", "image/jpeg", tmp_path, max_dimension=200)
    with Image.open(out.path) as image:
        assert image.size == (200, 150)
        assert image.format == "JPEG"
    assert (out.width, out.height, out.mime) == (200, 150, "image/jpeg")
    assert out.size == out.path.stat().st_size


def test_a_small_picture_is_never_enlarged(tmp_path: Path) -> None:
    path = _photo(tmp_path, (120, 80))
    out = re_mod.reencode(path, "p", "image/jpeg", tmp_path, max_dimension=1000)
    assert (out.width, out.height) == (120, 80)


def test_orientation_is_applied_before_resizing_and_metadata_dropped(tmp_path: Path) -> None:
    path = _photo(tmp_path, exif=_exif(6))  # stored 400x300, shown 300x400
    out = re_mod.reencode(path, "p", "image/jpeg", tmp_path, max_dimension=200)
    with Image.open(out.path) as image:
        assert image.size == (150, 200)  # upright, then cut
        exif = image.getexif()
        assert exif.get(0x0112) in (None, 1)
        assert exif.get_ifd(0x8825) == {}


def test_the_icc_profile_is_kept(tmp_path: Path) -> None:
    path = _photo(tmp_path, icc_profile=_icc())
    out = re_mod.reencode(path, "p", "image/jpeg", tmp_path, convert="webp")
    with Image.open(out.path) as image:
        assert image.format == "WEBP"
        assert image.info.get("icc_profile") == _icc()


@pytest.mark.parametrize(
    ("name", "fmt", "mime"),
    [("png", "PNG", "image/png"), ("webp", "WEBP", "image/webp"), ("jpeg", "JPEG", "image/jpeg")],
)
def test_convert_writes_the_type_named(tmp_path: Path, name: str, fmt: str, mime: str) -> None:
    path = _photo(tmp_path)
    out = re_mod.reencode(path, "p", "image/jpeg", tmp_path, convert=name)
    with Image.open(out.path) as image:
        assert image.format == fmt
    assert out.mime == mime
    assert out.path.suffix == re_mod.FORMATS[name][2]


def test_quality_changes_the_size_of_a_lossy_encoding(tmp_path: Path) -> None:
    path = _photo(tmp_path)
    low = re_mod.reencode(path, "p", "image/jpeg", tmp_path, quality=20)
    high = re_mod.reencode(path, "p", "image/jpeg", tmp_path, quality=95)
    assert low.size < high.size


def test_transparency_becomes_white_in_a_jpeg(tmp_path: Path) -> None:
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    path = tmp_path / "clear.png"
    image.save(path)
    out = re_mod.reencode(path, "p", "image/png", tmp_path, convert="jpeg")
    with Image.open(out.path) as done:
        assert done.convert("RGB").getpixel((5, 5)) == (255, 255, 255)


def _animation(tmp_path: Path) -> Path:
    frames = [Image.new("RGB", (60, 40), (i * 60, 0, 0)) for i in range(3)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
    return path


def test_an_animation_stays_animated_where_the_type_can_animate(tmp_path: Path) -> None:
    out = re_mod.reencode(
        _animation(tmp_path), "a", "image/gif", tmp_path, convert="webp", max_dimension=30
    )
    with Image.open(out.path) as image:
        assert image.format == "WEBP"
        assert image.n_frames == 3
        assert image.size == (30, 20)
    kept = re_mod.reencode(_animation(tmp_path), "a", "image/gif", tmp_path, max_dimension=30)
    with Image.open(kept.path) as image:
        assert image.format == "GIF"
        assert image.n_frames == 3


def test_an_animation_cannot_become_a_jpeg(tmp_path: Path) -> None:
    with pytest.raises(
        InputFileError, match="animation of 3 frames cannot become a still JPEG"
    ) as caught:
        re_mod.reencode(_animation(tmp_path), "a", "image/gif", tmp_path, convert="jpeg")
    assert caught.value.exit_code == ExitCode.USAGE
    assert "--convert webp" in (caught.value.hint or "")


def test_fit_steps_down_until_the_file_fits(tmp_path: Path) -> None:
    path = _photo(tmp_path, (600, 400), quality=100)
    limit = path.stat().st_size // 6
    out = re_mod.fit(path, "p", "image/jpeg", tmp_path, limit)
    assert out.size <= limit
    with Image.open(out.path) as image:
        assert image.format == "JPEG"
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith("uploader-")]
    assert leftovers == [out.path]  # the tries that did not fit are removed


def test_fit_shrinks_a_lossless_picture(tmp_path: Path) -> None:
    image = Image.frombytes("RGB", (300, 300), os.urandom(300 * 300 * 3))  # incompressible
    path = tmp_path / "noise.png"
    image.save(path)
    out = re_mod.fit(path, "n", "image/png", tmp_path, path.stat().st_size // 3)
    assert out.mime == "image/png"
    assert out.width < 300
    assert out.size <= path.stat().st_size // 3


def test_fit_gives_up_with_a_clear_error(tmp_path: Path) -> None:
    path = _photo(tmp_path)
    with pytest.raises(InputFileError, match="could not be made to fit 10 bytes"):
        re_mod.fit(path, "p", "image/jpeg", tmp_path, 10)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("uploader-")]


def test_the_new_file_is_private(tmp_path: Path) -> None:
    out = re_mod.reencode(_photo(tmp_path), "p", "image/jpeg", tmp_path, convert="png")
    assert stat.S_IMODE(out.path.stat().st_mode) == 0o600


def test_a_file_pillow_cannot_read_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)
    with pytest.raises(InputFileError, match="cannot be re-encoded"):
        re_mod.reencode(path, "bad.jpg", "image/jpeg", tmp_path, max_dimension=10)


def test_a_video_cannot_be_converted(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes(io.BytesIO(b"\x00\x00\x00\x18ftypmp42").getvalue())
    with pytest.raises(InputFileError, match="video/mp4 cannot be resized or converted"):
        re_mod.reencode(path, "v.mp4", "video/mp4", tmp_path, max_dimension=10)


def _damaged_gifs(tmp_path: Path) -> list[Path]:
    """Animated GIFs cut or garbled where Pillow's reader fails with IndexError or
    struct.error rather than OSError (seen by fuzzing)."""
    frames = [Image.new("RGB", (30, 30), (i * 80, 0, 0)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    data = out.getvalue()
    second = data.index(b"\x2c", data.index(b"\x2c") + 1)  # the second image descriptor
    paths = []
    for n, cut in enumerate((second + 1, second + 3, second + 7)):
        path = tmp_path / f"cut{n}.gif"
        path.write_bytes(data[:cut])
        paths.append(path)
    return paths


def test_a_damaged_animation_is_one_input_error_whatever_pillow_raises(tmp_path: Path) -> None:
    for path in _damaged_gifs(tmp_path):
        for options in ({"max_dimension": 10}, {"convert": "webp"}):
            with pytest.raises(InputFileError, match="cannot be re-encoded") as caught:
                re_mod.reencode(path, path.name, "image/gif", tmp_path, **options)  # type: ignore[arg-type]
            assert "\n" not in caught.value.message
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("uploader-")]


def test_a_picture_near_the_pixel_limit_is_refused_not_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pillow only warns (several lines on stderr) between one and two times its limit."""
    monkeypatch.setattr(re_mod, "MAX_PIXELS", 400 * 300 - 1)
    path = _photo(tmp_path)
    with pytest.raises(InputFileError, match="cannot be re-encoded"):
        re_mod.reencode(path, "p", "image/jpeg", tmp_path, max_dimension=10)


def test_each_frame_keeps_its_own_time_on_screen(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (40, 40), (i * 80, 0, 0)) for i in range(3)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[50, 100, 150], loop=0)
    for convert in ("webp", "png", None):
        out = re_mod.reencode(path, "a", "image/gif", tmp_path, convert=convert, max_dimension=20)
        durations = []
        with Image.open(out.path) as image:
            for index in range(image.n_frames):
                image.seek(index)
                image.load()
                durations.append(int(image.info["duration"]))
        assert durations == [50, 100, 150], convert


def test_fit_never_goes_above_the_quality_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _photo(tmp_path, (600, 400), quality=100)
    qualities: list[object] = []
    real = re_mod._save

    def save(*args: object, **kwargs: object) -> re_mod.Reencoded:
        qualities.append(args[3])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(re_mod, "_save", save)
    with pytest.raises(InputFileError, match="could not be made to fit"):
        re_mod.fit(path, "p", "image/jpeg", tmp_path, 1, quality=50)
    assert len(qualities) == re_mod.FIT_STEPS  # bounded, whatever the limit
    assert qualities[:2] == [50, 45]
    assert max(q for q in qualities if isinstance(q, int)) == 50
