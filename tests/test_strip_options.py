"""The stripping and re-encoding options together (issue 15): precedence of the command
line, the environment and the config; the history's key across the keep/strip switch;
``--fit`` when stripping alone is enough. In process, against the in-process sandbox."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result

from tests.support.cli import invoke, json_lines, posts, sandbox
from tests.support.e2e import write_config
from tests.test_strip_upload import (  # noqa: F401 - small_hold: a fixture used by name
    GPS_JPEG_METADATA,
    _gps_jpeg,
    _pixels,
    _rows,
    _sha,
    _stored,
    small_hold,
)
from uploader.errors import ExitCode
from uploader.sandbox import Sandbox

STRIPPED = ["EXIF", "EXIF:orientation=6"]


@pytest.fixture
def server() -> Iterator[Sandbox]:
    with sandbox() as running:
        yield running


def _run(server: Sandbox, tmp_path: Path, *args: str, config: str = "", extra: str = "") -> Result:
    defaults = f"[defaults]\n{config}\n" if config else ""
    path = write_config(tmp_path / "c.toml", server.base_url, defaults=defaults, extra=extra)
    return invoke(["--config", str(path), "-v", "upload", "-f", "json", *args])


@pytest.mark.parametrize(
    ("args", "config", "env", "metadata"),
    [
        # the environment wins over the config, both ways
        ([], "strip_metadata = false", {"UPLOADER_KEEP_METADATA": "0"}, STRIPPED),
        ([], "strip_metadata = true", {"UPLOADER_KEEP_METADATA": "true"}, GPS_JPEG_METADATA),
        # the command line wins over the environment, both ways
        (["--strip-metadata"], "", {"UPLOADER_KEEP_METADATA": "1"}, STRIPPED),
        (["--keep-metadata"], "", {"UPLOADER_KEEP_METADATA": "no"}, GPS_JPEG_METADATA),
        # an empty variable is no setting: the config decides
        ([], "strip_metadata = false", {"UPLOADER_KEEP_METADATA": ""}, GPS_JPEG_METADATA),
    ],
)
def test_the_command_line_wins_over_the_environment_which_wins_over_the_config(
    tmp_path: Path,
    server: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    config: str,
    env: dict[str, str],
    metadata: list[str],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    photo = _gps_jpeg(tmp_path / "photo.jpg")
    result = _run(server, tmp_path, *args, str(photo), config=config)
    assert result.exit_code == ExitCode.OK, result.output
    assert server.uploads()[0]["metadata"] == metadata


@pytest.mark.parametrize(
    ("first", "then"), [("--strip-metadata", "--keep-metadata"), ("--keep-metadata", "")]
)
def test_skip_existing_finds_a_file_across_the_keep_strip_switch(
    tmp_path: Path, server: Sandbox, first: str, then: str
) -> None:
    """The history knows a file by its own bytes, whatever body was sent."""
    photo = _gps_jpeg(tmp_path / "photo.jpg")
    done = _run(server, tmp_path, first, str(photo))
    assert done.exit_code == ExitCode.OK, done.output
    [row] = _rows()
    assert row["sha256"] == _sha(photo.read_bytes())
    again = _run(server, tmp_path, *([then] if then else []), "--skip-existing", str(photo))
    assert again.exit_code == ExitCode.OK, again.output
    [record] = json_lines(again.stdout)
    assert record["status"] == "existing"
    assert "stripped" not in record  # nothing was sent, so nothing was removed
    assert len(posts(server)) == 1


def test_fit_sends_losslessly_what_stripping_alone_brings_within_the_limit(
    tmp_path: Path, server: Sandbox
) -> None:
    from PIL import Image

    photo = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "x" * 20_000  # a long description: 20 KB of EXIF
    _gps_jpeg(tmp_path / "seed.jpg")
    with Image.open(tmp_path / "seed.jpg") as seed:
        seed.save(photo, "JPEG", exif=exif.tobytes(), quality=95)
    original = photo.read_bytes()
    limit = len(original) - 10_000
    result = _run(server, tmp_path, "--fit", str(photo), extra=f"max_image_size = {limit}\n")
    assert result.exit_code == ExitCode.OK, result.output
    [record] = json_lines(result.stdout)
    assert record["stripped"] is True
    assert "re-encoded" not in result.stderr
    [stored] = server.uploads()
    assert stored["metadata"] == STRIPPED
    assert _pixels(_stored(server, record)) == _pixels(original)


@pytest.mark.parametrize("name", ["JPEG", "Png", "WEBP"])
def test_convert_takes_the_type_in_any_case(tmp_path: Path, server: Sandbox, name: str) -> None:
    photo = _gps_jpeg(tmp_path / "photo.jpg")
    result = _run(server, tmp_path, "--convert", name, str(photo))
    assert result.exit_code == ExitCode.OK, result.output
    assert server.uploads()[0]["type"] == f"image/{name.lower()}"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--max-dimension", "0"], "--max-dimension"),
        (["--max-dimension", "-3"], "--max-dimension"),
        (["--max-dimension", "big"], "--max-dimension"),
        (["--quality", "0"], "--quality"),
        (["--quality", "101"], "--quality"),
        (["--quality", "high"], "--quality"),
        (["--convert", "gif"], "--convert"),
        (["--convert", ""], "--convert"),
    ],
)
def test_bad_values_are_usage_errors_before_anything_is_sent(
    tmp_path: Path, server: Sandbox, args: list[str], says: str
) -> None:
    photo = _gps_jpeg(tmp_path / "photo.jpg")
    result = _run(server, tmp_path, *args, str(photo))
    assert result.exit_code == ExitCode.USAGE
    first, *rest = result.stderr.splitlines()
    assert first.startswith(f"error: Invalid value for '{says}'")
    assert all(line.startswith("hint: ") for line in rest)
    assert posts(server) == []


def test_a_multi_picture_photo_arrives_as_its_first_picture_only(
    tmp_path: Path, server: Sandbox
) -> None:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.0)
    photo = tmp_path / "portrait.jpg"
    first = Image.new("RGB", (60, 40), (200, 10, 10))
    depth = Image.new("RGB", (60, 40), (10, 10, 10))
    first.save(photo, "MPO", save_all=True, append_images=[depth], exif=exif.tobytes())
    result = _run(server, tmp_path, str(photo))
    assert result.exit_code == ExitCode.OK, result.output
    [record] = json_lines(result.stdout)
    assert record["stripped"] is True
    [stored] = server.uploads()
    assert stored["metadata"] == STRIPPED  # no MPF, no further picture, no GPS
    with Image.open(photo) as original:
        assert _pixels(_stored(server, record)) == original.convert("RGB").tobytes()


@pytest.mark.parametrize(
    ("mime", "what"),
    [
        ("image/heic", "image/heic sent as it is"),
        ("image/avif", "image/avif sent as it is"),
        ("video/mp4", "video/mp4 sent as it is"),
        ("image/gif", "image/gif sent as it is"),
    ],
)
def test_verbose_says_which_types_are_sent_as_they_are(
    tmp_path: Path, mime: str, what: str
) -> None:
    from uploader.commands.pictures import Pictures
    from uploader.models import ImageFile
    from uploader.providers.base import Limits

    path = tmp_path / "f"
    path.write_bytes(b"\x00" * 64)
    said: list[str] = []
    pictures = Pictures(
        strip=True, reencode=None, limits=Limits(frozenset({mime}), 10**6, 10**6), debug=said.append
    )
    image = ImageFile(path, "f", "f", 64, mime)
    assert pictures.prepare(image) is image
    assert said == [f"f: {what} (metadata is stripped from JPEG, PNG and WebP)"]
    said.clear()
    Pictures(strip=False, reencode=None, limits=pictures.limits, debug=said.append).prepare(image)
    assert said == []  # --keep-metadata: nothing to say


@pytest.mark.parametrize(
    ("args", "loaded"),
    [
        ([], False),  # stripping is Pillow-free: the hotkey path stays light
        (["--keep-metadata"], False),
        (["--fit"], False),  # within the limit: nothing to re-encode
        (["--max-dimension", "20"], True),
        (["--convert", "png"], True),
        (["--quality", "50"], True),
    ],
)
def test_pillow_is_imported_only_when_a_picture_is_reencoded(
    tmp_path: Path, server: Sandbox, hermetic_env: dict[str, str], args: list[str], loaded: bool
) -> None:
    import subprocess
    import sys

    photo = _gps_jpeg(tmp_path / "photo.jpg")
    config = write_config(tmp_path / "c.toml", server.base_url)
    report = tmp_path / "modules.txt"
    code = (
        "import atexit, sys\n"
        "def said():\n"
        f"    with open({str(report)!r}, 'w') as out:\n"
        "        out.write(' '.join(m for m in sys.modules if m.split('.')[0] == 'PIL'))\n"
        "atexit.register(said)\n"
        "sys.argv[0] = 'uploader'\n"
        "from uploader.__main__ import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "--config", str(config), "upload", *args, str(photo)],
        capture_output=True,
        env=hermetic_env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert bool(report.read_text().split()) is loaded
    assert len(server.uploads()) == 1


@pytest.mark.parametrize("held", [True, False])
def test_a_motion_photo_arrives_without_its_video(
    tmp_path: Path, server: Sandbox, request: pytest.FixtureRequest, held: bool
) -> None:
    if not held:
        request.getfixturevalue("small_hold")  # streamed from the file, in 4 KiB pieces
    photo = _gps_jpeg(tmp_path / "motion.jpg", size=(300, 200) if held else (400, 300))
    picture = photo.read_bytes()
    video = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x12udtaGPSSECRET"
    photo.write_bytes(picture + video * 100)
    result = _run(server, tmp_path, str(photo))
    assert result.exit_code == ExitCode.OK, result.output
    assert "motion.jpg: metadata stripped: EXIF, comment, trailing data" in result.stderr
    [record] = json_lines(result.stdout)
    sent = _stored(server, record)
    assert b"GPSSECRET" not in sent
    assert _pixels(sent) == _pixels(picture)
    assert server.uploads()[0]["metadata"] == STRIPPED
    assert _rows()[0]["sha256"] == _sha(photo.read_bytes())


@pytest.mark.parametrize("convert", ["jpeg", "webp", "png"])
def test_keep_metadata_with_reencoding_carries_the_exif_over_upright(
    tmp_path: Path, server: Sandbox, convert: str
) -> None:
    """Re-encoding cannot send the file byte for byte; --keep-metadata still keeps its EXIF
    (GPS, camera), the orientation applied to the pixels and reset."""
    from PIL import Image

    photo = _gps_jpeg(tmp_path / "photo.jpg", size=(400, 300))
    args = ["--keep-metadata", "--max-dimension", "100", "--convert", convert, str(photo)]
    result = _run(server, tmp_path, *args)
    assert result.exit_code == ExitCode.OK, result.output
    [record] = json_lines(result.stdout)
    with Image.open(io.BytesIO(_stored(server, record))) as sent:
        assert sent.size == (75, 100)  # upright, then cut
        exif = sent.getexif()
        assert exif.get(0x010F) == "SecretCam"
        assert exif.get_ifd(0x8825)  # the GPS position the user chose to keep
        assert exif.get(0x0112) in (None, 1)  # not turned a second time
    plain = _run(server, tmp_path, "--max-dimension", "100", "--convert", convert, str(photo))
    with Image.open(io.BytesIO(_stored(server, json_lines(plain.stdout)[0]))) as sent:
        assert dict(sent.getexif()) == {}  # stripping, the default: no EXIF at all


def test_a_picture_within_max_dimension_is_not_reencoded(tmp_path: Path, server: Sandbox) -> None:
    """Re-encoding a picture already small enough would lose quality for nothing: it is
    sent losslessly (stripped, or byte for byte with --keep-metadata)."""
    photo = _gps_jpeg(tmp_path / "photo.jpg")  # 80x60
    original = photo.read_bytes()
    result = _run(server, tmp_path, "--max-dimension", "80", str(photo))
    assert result.exit_code == ExitCode.OK, result.output
    assert "photo.jpg: within --max-dimension 80: not re-encoded" in result.stderr
    [record] = json_lines(result.stdout)
    assert record["stripped"] is True
    assert server.uploads()[0]["metadata"] == STRIPPED
    assert _pixels(_stored(server, record)) == _pixels(original)
    kept = _run(server, tmp_path, "--keep-metadata", "--max-dimension", "500", str(photo))
    assert kept.exit_code == ExitCode.OK, kept.output
    assert server.uploads()[1]["sha256"] == _sha(original)
    # another type, or a quality, is asked for: re-encoded whatever its size
    for extra in (["--convert", "webp"], ["--quality", "40"]):
        done = _run(server, tmp_path, "--max-dimension", "500", *extra, str(photo))
        assert done.exit_code == ExitCode.OK, done.output
        assert "photo.jpg: re-encoded as" in done.stderr
