"""The stripping and re-encoding options together (issue 15): precedence of the command
line, the environment and the config; the history's key across the keep/strip switch;
``--fit`` when stripping alone is enough. In process, against the in-process sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result

from tests.support.cli import invoke, json_lines, posts, sandbox
from tests.support.e2e import write_config
from tests.test_strip_upload import GPS_JPEG_METADATA, _gps_jpeg, _pixels, _rows, _sha, _stored
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
