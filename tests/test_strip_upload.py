"""Privacy by default (issue 15, item 1): a JPEG, PNG or WebP reaches the server without its
metadata, losslessly; ``--keep-metadata`` sends it byte for byte. In process (CliRunner)
against the in-process sandbox, whose ``/_sandbox/uploads`` says what metadata each stored
file still carries (read by the sandbox itself), and which serves the stored bytes."""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, PngImagePlugin

from tests.support.cli import invoke, json_lines, posts, sandbox
from tests.support.e2e import write_config
from uploader.errors import ExitCode
from uploader.http import client
from uploader.http.client import import_httpx
from uploader.imaging import content
from uploader.sandbox import Sandbox

GPS_JPEG_METADATA = ["EXIF", "EXIF:GPS", "EXIF:orientation=6", "EXIF:tags", "COM"]


@pytest.fixture
def server() -> Iterator[Sandbox]:
    with sandbox() as running:
        yield running


def _picture(size: tuple[int, int] = (80, 60)) -> Image.Image:
    image = Image.new("RGB", size)
    image.putdata(
        [
            ((x * 5) % 256, (y * 7) % 256, (x ^ y) % 256)
            for y in range(size[1])
            for x in range(size[0])
        ]
    )
    return image


def _gps_jpeg(path: Path, size: tuple[int, int] = (80, 60)) -> Path:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "SecretCam"
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.0)
    _picture(size).save(path, "JPEG", exif=exif.tobytes(), comment=b"my comment", quality=95)
    return path


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        pixels: bytes = image.convert("RGB").tobytes()
        return pixels


def _stored(server: Sandbox, record: dict[str, Any]) -> bytes:
    return httpx.get(record["url"], trust_env=False).content


def _upload(server: Sandbox, tmp_path: Path, *args: str, config: str = "") -> Any:
    defaults = f"[defaults]\n{config}\n" if config else ""
    path = write_config(tmp_path / "c.toml", server.base_url, defaults=defaults)
    verbose = ["-v"] if "-v" in args else []
    rest = [a for a in args if a != "-v"]
    return invoke(["--config", str(path), *verbose, "upload", "-f", "json", *rest])


def _rows() -> list[dict[str, Any]]:
    db_path = Path(os.environ["XDG_DATA_HOME"]) / "uploader" / "history.sqlite3"
    with closing(sqlite3.connect(db_path)) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM uploads ORDER BY rowid")]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_photo_arrives_without_gps_camera_or_comment_and_keeps_its_orientation(
    tmp_path: Path, server: Sandbox
) -> None:
    photo = _gps_jpeg(tmp_path / "photo.jpg")
    original = photo.read_bytes()
    result = _upload(server, tmp_path, str(photo))
    assert result.exit_code == ExitCode.OK, result.output
    [record] = json_lines(result.stdout)
    assert record["stripped"] is True
    [stored] = server.uploads()
    assert stored["metadata"] == ["EXIF", "EXIF:orientation=6"]
    sent = _stored(server, record)
    assert b"SecretCam" not in sent
    assert b"my comment" not in sent
    assert _pixels(sent) == _pixels(original)
    assert stored["size"] == len(sent) < len(original)
    # The history knows the file by its own bytes: --skip-existing finds it again.
    [row] = _rows()
    assert row["sha256"] == _sha(original)
    again = _upload(server, tmp_path, "--skip-existing", str(photo))
    assert json_lines(again.stdout)[0]["status"] == "existing"
    assert len(posts(server)) == 1


@pytest.mark.parametrize(
    ("how", "config", "env"),
    [
        (["--keep-metadata"], "", {}),
        ([], "strip_metadata = false", {}),
        ([], "", {"UPLOADER_KEEP_METADATA": "1"}),
    ],
)
def test_keep_metadata_sends_the_file_byte_for_byte(
    tmp_path: Path,
    server: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    how: list[str],
    config: str,
    env: dict[str, str],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    photo = _gps_jpeg(tmp_path / "photo.jpg")
    result = _upload(server, tmp_path, *how, str(photo), config=config)
    assert result.exit_code == ExitCode.OK, result.output
    [record] = json_lines(result.stdout)
    assert "stripped" not in record
    [stored] = server.uploads()
    assert stored["sha256"] == _sha(photo.read_bytes())
    assert stored["metadata"] == GPS_JPEG_METADATA


def test_strip_metadata_on_the_command_line_wins_over_the_config(
    tmp_path: Path, server: Sandbox
) -> None:
    photo = _gps_jpeg(tmp_path / "photo.jpg")
    result = _upload(
        server, tmp_path, "--strip-metadata", str(photo), config="strip_metadata = false"
    )
    assert result.exit_code == ExitCode.OK, result.output
    assert server.uploads()[0]["metadata"] == ["EXIF", "EXIF:orientation=6"]


def test_a_screenshot_png_loses_its_text_chunks(tmp_path: Path, server: Sandbox) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "shooter on myhost")
    info.add_itxt("Comment", "user@myhost", lang="en")
    shot = tmp_path / "shot.png"
    _picture().save(shot, "PNG", pnginfo=info)
    result = _upload(server, tmp_path, "-v", str(shot))
    assert result.exit_code == ExitCode.OK, result.output
    [stored] = server.uploads()
    assert stored["metadata"] == []
    sent = _stored(server, json_lines(result.stdout)[0])
    assert b"myhost" not in sent
    assert _pixels(sent) == _pixels(shot.read_bytes())
    assert "shot.png: metadata stripped: tEXt, iTXt" in result.stderr


def test_a_webp_loses_exif_and_xmp(tmp_path: Path, server: Sandbox) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    picture = tmp_path / "p.webp"
    _picture().save(picture, "WEBP", exif=exif.tobytes(), xmp=b"<x>GPSSECRET</x>", lossless=True)
    result = _upload(server, tmp_path, str(picture))
    assert result.exit_code == ExitCode.OK, result.output
    [stored] = server.uploads()
    assert stored["metadata"] == []
    sent = _stored(server, json_lines(result.stdout)[0])
    assert b"GPSSECRET" not in sent
    assert _pixels(sent) == _pixels(picture.read_bytes())


def test_a_gif_is_sent_as_it_is_and_verbose_says_so(tmp_path: Path, server: Sandbox) -> None:
    gif = tmp_path / "a.gif"
    _picture().save(gif, "GIF", comment=b"my comment")
    result = _upload(server, tmp_path, "-v", str(gif))
    assert result.exit_code == ExitCode.OK, result.output
    [stored] = server.uploads()
    assert stored["sha256"] == _sha(gif.read_bytes())
    assert "a.gif: image/gif sent as it is" in result.stderr
    assert "stripped" not in json_lines(result.stdout)[0]


def test_a_file_without_metadata_is_sent_untouched(tmp_path: Path, server: Sandbox) -> None:
    plain = tmp_path / "plain.jpg"
    _picture().save(plain, "JPEG")
    result = _upload(server, tmp_path, str(plain))
    assert result.exit_code == ExitCode.OK, result.output
    assert server.uploads()[0]["sha256"] == _sha(plain.read_bytes())
    assert "stripped" not in json_lines(result.stdout)[0]


def test_a_jpeg_whose_segments_cannot_be_followed_is_refused_before_sending(
    tmp_path: Path, server: Sandbox
) -> None:
    photo = _gps_jpeg(tmp_path / "photo.jpg")
    data = photo.read_bytes()
    at = data.index(b"\xff\xfe")  # the comment segment claims more than the file holds
    photo.write_bytes(data[: at + 2] + b"\xff\xf0" + data[at + 4 :])
    result = _upload(server, tmp_path, str(photo))
    assert result.exit_code == ExitCode.USAGE
    assert "photo.jpg: its metadata cannot be stripped" in result.stderr
    assert "hint: --keep-metadata sends the file byte for byte" in result.stderr
    assert posts(server) == []
    assert "Traceback" not in result.output
    kept = _upload(server, tmp_path, "--keep-metadata", str(photo))
    assert kept.exit_code == ExitCode.OK, kept.output


# -- a file too large to hold: the stripped body streamed from disk ---------------------------


@pytest.fixture
def small_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content, "HOLD_LIMIT", 4096)
    monkeypatch.setattr(content, "CHUNK", 4096)
    monkeypatch.setattr(client, "UPLOAD_READ", 4096)
    import_httpx()
    from httpx import _multipart

    monkeypatch.setattr(_multipart.FileField, "CHUNK_SIZE", 4096)


@pytest.mark.usefixtures("small_hold")
@pytest.mark.parametrize("settle", ["stamp", "rehash"])
@pytest.mark.parametrize("history", [True, False])
def test_a_large_photo_is_stripped_while_streamed_from_disk(
    tmp_path: Path,
    server: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    settle: str,
    history: bool,
) -> None:
    if settle == "stamp":
        monkeypatch.setattr(content, "SETTLE_NS", 0)
    photo = _gps_jpeg(tmp_path / "big.jpg", size=(400, 300))
    original = photo.read_bytes()
    assert len(original) > 4096 * 4
    args = [] if history else ["--no-history"]
    result = _upload(server, tmp_path, *args, str(photo))
    assert result.exit_code == ExitCode.OK, result.output
    [stored] = server.uploads()
    assert stored["metadata"] == ["EXIF", "EXIF:orientation=6"]
    sent = _stored(server, json_lines(result.stdout)[0])
    assert _pixels(sent) == _pixels(original)
    if history:
        assert _rows()[0]["sha256"] == _sha(original)


@pytest.mark.usefixtures("small_hold")
def test_a_large_photo_changed_while_stripped_and_sent_is_cut(
    tmp_path: Path, server: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes the plan leaves out are hashed too on the way: a change inside them (the
    EXIF rewritten, same size) is caught although none of those bytes were sent."""
    photo = _gps_jpeg(tmp_path / "big.jpg", size=(400, 300))
    data = photo.read_bytes()
    at = data.index(b"SecretCam")
    real = content.SentFile.read
    done = [False]

    def read(self: content.SentFile, count: int = -1) -> bytes:
        piece = real(self, count)
        if not done[0]:
            done[0] = True
            with photo.open("r+b") as out:
                out.seek(at)
                out.write(b"OtherCam!")
            os.utime(photo, ns=(os.stat(photo).st_atime_ns, os.stat(photo).st_mtime_ns))
        return piece

    monkeypatch.setattr(content.SentFile, "read", read)
    result = _upload(server, tmp_path, str(photo))
    assert result.exit_code == ExitCode.USAGE
    assert "the file changed while being sent" in result.stderr
    assert server.uploads() == []


def test_a_lost_upload_is_recognised_by_the_size_sent_not_the_files(tmp_path: Path) -> None:
    """Recovery compares a listed object with what the server got: the stripped body."""
    from dataclasses import replace

    from uploader.imaging.inspect import inspect_path
    from uploader.imaging.strip import strip_for_upload
    from uploader.providers.recovery import Listed, agrees

    photo = _gps_jpeg(tmp_path / "photo.jpg")
    image = strip_for_upload(content.fingerprint(inspect_path(str(photo))))
    assert image.plan is not None
    assert image.sent_size < image.size
    listed = Listed("abc", None, size=image.sent_size, mime_type="image/jpeg")
    assert agrees(image, listed, None, loose=False)
    assert not agrees(image, replace(listed, size=image.size), None, loose=False)


# -- resize, convert, fit (item 2) ------------------------------------------------------------


def test_max_dimension_and_convert_reencode_the_picture_sent(
    tmp_path: Path, server: Sandbox
) -> None:
    photo = _gps_jpeg(tmp_path / "photo.jpg", size=(400, 300))
    original = photo.read_bytes()
    result = _upload(server, tmp_path, "--max-dimension", "100", "--convert", "webp", str(photo))
    assert result.exit_code == ExitCode.OK, result.output
    [record] = json_lines(result.stdout)
    [stored] = server.uploads()
    assert stored["type"] == "image/webp"
    assert stored["name"] == "photo.webp"
    assert stored["metadata"] == []  # re-encoded: no EXIF at all, GPS gone
    with Image.open(io.BytesIO(_stored(server, record))) as sent:
        assert sent.format == "WEBP"
        assert sent.size == (75, 100)  # turned upright (orientation 6), then cut to 100
    assert photo.read_bytes() == original  # the file on disk is never changed
    [row] = _rows()
    assert row["sha256"] == _sha(original)  # the history knows the file by its own bytes


def test_quality_alone_reencodes_a_jpeg(tmp_path: Path, server: Sandbox) -> None:
    photo = _gps_jpeg(tmp_path / "photo.jpg", size=(300, 200))
    result = _upload(server, tmp_path, "--quality", "20", str(photo))
    assert result.exit_code == ExitCode.OK, result.output
    [stored] = server.uploads()
    assert stored["type"] == "image/jpeg"
    assert stored["size"] < photo.stat().st_size


def _tight(tmp_path: Path, server: Sandbox, limit: int) -> Path:
    return write_config(tmp_path / "c.toml", server.base_url, extra=f"max_image_size = {limit}\n")


def test_a_picture_over_the_limit_is_refused_with_a_hint_naming_fit(
    tmp_path: Path, server: Sandbox
) -> None:
    photo = _gps_jpeg(tmp_path / "photo.jpg", size=(400, 300))
    config = _tight(tmp_path, server, 6000)
    result = invoke(["--config", str(config), "upload", str(photo)])
    assert result.exit_code == ExitCode.USAGE
    assert "is over Imgur's" in result.stderr
    assert "hint: --fit re-encodes it to fit" in result.stderr
    assert posts(server) == []


def test_fit_reencodes_a_picture_over_the_limit_until_it_fits(
    tmp_path: Path, server: Sandbox
) -> None:
    photo = _gps_jpeg(tmp_path / "photo.jpg", size=(400, 300))
    small = tmp_path / "small.jpg"
    _picture((40, 30)).save(small, "JPEG")
    assert photo.stat().st_size > 6000 > small.stat().st_size
    config = _tight(tmp_path, server, 6000)
    result = invoke(
        ["--config", str(config), "-v", "upload", "-f", "json", "--fit", str(photo), str(small)]
    )
    assert result.exit_code == ExitCode.OK, result.output
    big, little = server.uploads()
    assert big["size"] <= 6000
    assert big["type"] == "image/jpeg"
    assert "photo.jpg: re-encoded as image/jpeg" in result.stderr
    assert little["sha256"] == _sha(small.read_bytes())  # within the limit: untouched


def test_an_animation_cannot_be_converted_to_jpeg(tmp_path: Path, server: Sandbox) -> None:
    frames = [Image.new("RGB", (20, 20), (i * 80, 0, 0)) for i in range(3)]
    anim = tmp_path / "anim.gif"
    frames[0].save(anim, save_all=True, append_images=frames[1:], duration=50, loop=0)
    result = _upload(server, tmp_path, "--convert", "jpeg", str(anim))
    assert result.exit_code == ExitCode.USAGE
    assert "an animation of 3 frames cannot become a still JPEG" in result.stderr
    assert "--convert webp" in result.stderr
    assert posts(server) == []


def test_a_video_is_sent_as_it_is_when_pictures_are_resized(
    tmp_path: Path, server: Sandbox
) -> None:
    from tests.support.images import png_bytes

    shot = tmp_path / "a.png"
    shot.write_bytes(png_bytes(300, 200))
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x08mdat")
    result = _upload(server, tmp_path, "-v", "--max-dimension", "50", str(shot), str(video))
    stored = {u["name"]: u for u in server.uploads()}
    if "v.mp4" in stored:  # the sandbox took the video: it went byte for byte
        assert stored["v.mp4"]["sha256"] == _sha(video.read_bytes())
    assert "v.mp4: video/mp4 sent as it is (not re-encoded)" in result.stderr
    with Image.open(
        io.BytesIO(httpx.get(json_lines(result.stdout)[0]["url"], trust_env=False).content)
    ) as sent:
        assert max(sent.size) == 50


def test_reencoded_files_do_not_outlive_the_run(
    tmp_path: Path, server: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    private = tmp_path / "tmp"  # not the shared /tmp: tests in parallel re-encode too
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    photo = _gps_jpeg(tmp_path / "photo.jpg")
    result = _upload(server, tmp_path, "--convert", "png", str(photo))
    assert result.exit_code == ExitCode.OK, result.output
    assert '"status": "uploaded"' in result.output  # it was re-encoded and sent
    assert list(private.iterdir()) == []


@pytest.mark.usefixtures("small_hold")
@pytest.mark.parametrize("settle", ["stamp", "rehash"])
@pytest.mark.parametrize("how", ["shrunk", "same-size"])
def test_a_large_file_changed_after_its_hash_is_refused_as_changed_not_as_broken(
    tmp_path: Path, server: Sandbox, monkeypatch: pytest.MonkeyPatch, settle: str, how: str
) -> None:
    """Planning the stripped body walks the file again: a writer at work makes its chunks
    run past the end or fail their checksum. That is said as a change, not as a broken file
    for --keep-metadata to send."""
    from uploader.commands import journal

    if settle == "stamp":
        monkeypatch.setattr(content, "SETTLE_NS", 0)
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "myhost")
    shot = tmp_path / "shot.png"
    _picture((200, 150)).save(shot, "PNG", pnginfo=info, compress_level=0)
    data = shot.read_bytes()
    assert len(data) > 4096 * 4
    real = journal.fingerprint

    def hashed_then_changed(image: Any) -> Any:
        done = real(image)
        if how == "shrunk":
            shot.write_bytes(data[: len(data) // 2])
        else:  # the IHDR's checksum broken, same size
            shot.write_bytes(data[:29] + bytes([data[29] ^ 1]) + data[30:])
            os.utime(shot, ns=(1_000_000_000, 1_000_000_000))
        return done

    monkeypatch.setattr(journal, "fingerprint", hashed_then_changed)
    result = _upload(server, tmp_path, str(shot))
    assert result.exit_code == ExitCode.USAGE
    assert f"error: {shot}: the file changed while being read" in result.stderr
    assert "--keep-metadata" not in result.stderr
    assert posts(server) == []


def _bad_png_crc(tmp_path: Path) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "myhost")
    out = io.BytesIO()
    _picture().save(out, "PNG", pnginfo=info)
    data = out.getvalue()
    at = data.index(b"IHDR") + 4  # a pixel-header byte changed: its checksum no longer holds
    path = tmp_path / "bad.png"
    path.write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :])
    return path


def _truncated_webp(tmp_path: Path) -> Path:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    out = io.BytesIO()
    _picture().save(out, "WEBP", exif=exif.tobytes(), lossless=True)
    path = tmp_path / "cut.webp"
    path.write_bytes(out.getvalue()[:-40])
    return path


@pytest.mark.parametrize("make", [_bad_png_crc, _truncated_webp])
def test_malformed_files_get_one_clear_error_and_nothing_is_sent(
    tmp_path: Path, server: Sandbox, make: Any
) -> None:
    path = make(tmp_path)
    result = _upload(server, tmp_path, str(path))
    assert result.exit_code == ExitCode.USAGE
    [line, *rest] = result.stderr.splitlines()
    assert line.startswith(f"error: {path}: ")
    assert all(extra.startswith("hint: ") for extra in rest)
    assert "Traceback" not in result.output
    assert posts(server) == []
    [record] = json_lines(result.stdout)
    assert record["status"] == "failed"
