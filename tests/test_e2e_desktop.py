"""`upload --clipboard` and `--notify` end to end, with fake clipboard and notification
tools on PATH (small shell scripts): the real process, the sandbox's stored bytes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.e2e import get_json, run_cli, sandbox_process, write_config
from tests.support.images import jpeg_bytes, png_bytes

SYSTEM_PATH = "/usr/bin:/bin"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_process() as url:
        yield url


@pytest.fixture
def config(tmp_path: Path, sandbox: str) -> Path:
    return write_config(tmp_path / "config.toml", sandbox)


def _stored(sandbox: str) -> set[str]:
    return {u["sha256"] for u in get_json(f"{sandbox}/_sandbox/uploads")}


def _posts(sandbox: str) -> int:
    return sum(1 for r in get_json(f"{sandbox}/_sandbox/requests") if r["method"] == "POST")


def _tool(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def _clip(tmp_path: Path, data: bytes, name: str = "clip.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_wl_paste_png_chosen_among_the_types_offered(
    tmp_path: Path, sandbox: str, config: Path, hermetic_env: dict[str, str]
) -> None:
    png = png_bytes(width=14, seed=401)
    source = _clip(tmp_path, png)
    bin_dir = tmp_path / "bin"
    asked = tmp_path / "asked"
    _tool(
        bin_dir,
        "wl-paste",
        f'echo "$@" >> "{asked}"\n'
        'if [ "$1" = "--list-types" ]; then\n'
        '  printf "text/plain;charset=utf-8\\nimage/jpeg\\nimage/png\\nTEXT\\n"; exit 0\n'
        "fi\n"
        f'[ "$3" = "image/png" ] && exec cat "{source}"\nexit 1\n',
    )
    env = {**hermetic_env, "PATH": f"{bin_dir}:{SYSTEM_PATH}", "WAYLAND_DISPLAY": "wayland-0"}
    done = run_cli(["--config", str(config), "upload", "--clipboard"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith(f"{sandbox}/imgur/i/")
    assert hashlib.sha256(png).hexdigest() in _stored(sandbox)
    assert asked.read_text().splitlines() == ["--list-types", "--no-newline --type image/png"]


def test_xclip_jpeg_and_xsel_and_pngpaste_and_osascript(
    tmp_path: Path, sandbox: str, config: Path, hermetic_env: dict[str, str]
) -> None:
    jpeg = jpeg_bytes(20, 10)
    source = _clip(tmp_path, jpeg, "j.bin")
    x11 = tmp_path / "x11"
    _tool(
        x11,
        "xclip",
        'case "$*" in\n'
        '  *TARGETS*) printf "TARGETS\\nUTF8_STRING\\nimage/jpeg\\n" ;;\n'
        f'  *image/jpeg*) cat "{source}" ;;\n'
        "  *) exit 1 ;;\nesac\n",
    )
    cases: list[tuple[dict[str, str], bytes]] = [({"DISPLAY": ":0", "PATH": f"{x11}"}, jpeg)]
    png = png_bytes(width=15, seed=402)
    xsel = tmp_path / "xsel-bin"
    _tool(xsel, "xsel", f'cat "{_clip(tmp_path, png, "p.bin")}"\n')
    cases.append(({"DISPLAY": ":0", "PATH": f"{xsel}"}, png))
    mac_png = png_bytes(width=16, seed=403)
    mac = tmp_path / "mac"
    _tool(mac, "pngpaste", f'[ "$1" = "-" ] && cat "{_clip(tmp_path, mac_png, "m.bin")}"\n')
    cases.append(({"PATH": f"{mac}"}, mac_png))
    script_png = png_bytes(width=17, seed=404)
    osa = tmp_path / "osa"
    _tool(
        osa,
        "osascript",
        'case "$2" in\n'
        "  'clipboard info') echo '{{«class PNGf», 90}, {TIFF picture, 300}}' ;;\n"
        f"  *PNGf*) echo '«data PNGf{script_png.hex().upper()}»' ;;\n"
        "  *) exit 1 ;;\nesac\n",
    )
    cases.append(({"PATH": f"{osa}"}, script_png))
    for extra, data in cases:
        env = {**hermetic_env, **extra}
        env["PATH"] += ":" + SYSTEM_PATH
        # --keep-metadata: the bytes stored are the clipboard's (the JPEG has a comment)
        args = ["--config", str(config), "upload", "--clipboard", "--keep-metadata"]
        done = run_cli(args, env)
        assert done.returncode == 0, (extra, done.stderr)
        assert hashlib.sha256(data).hexdigest() in _stored(sandbox), extra


def test_no_image_on_the_clipboard_is_exit_2(
    tmp_path: Path, sandbox: str, config: Path, hermetic_env: dict[str, str]
) -> None:
    bin_dir = tmp_path / "bin"
    _tool(
        bin_dir,
        "wl-paste",
        'if [ "$1" = "--list-types" ]; then printf "text/plain\\n"; exit 0; fi\necho hello\n',
    )
    xsel = tmp_path / "xsel-bin"
    _tool(xsel, "xsel", "echo just some text\n")
    before = _posts(sandbox)
    for extra, said in (
        ({"WAYLAND_DISPLAY": "w", "PATH": f"{bin_dir}"}, "(asked wl-paste)"),
        ({"DISPLAY": ":0", "PATH": f"{xsel}"}, "(what xsel gave is not one)"),
    ):
        env = {**hermetic_env, **extra}
        env["PATH"] += ":" + SYSTEM_PATH
        done = run_cli(["--config", str(config), "upload", "--clipboard"], env)
        assert done.returncode == 2
        assert done.stderr.decode().splitlines() == [
            f"error: the clipboard holds no image {said}",
            "hint: copy an image (not a file name or text) to the clipboard, then run it again",
        ]
        assert done.stdout == b""
    assert _posts(sandbox) == before


def test_no_clipboard_tool_is_exit_2(
    tmp_path: Path, config: Path, hermetic_env: dict[str, str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**hermetic_env, "PATH": str(empty), "DISPLAY": ":0", "WAYLAND_DISPLAY": "w"}
    done = run_cli(["--config", str(config), "upload", "--clipboard"], env)
    assert done.returncode == 2
    assert done.stderr.decode().splitlines()[0] == "error: no clipboard tool found"


def _notifier(tmp_path: Path, script: str = "") -> tuple[dict[str, str], Path]:
    bin_dir = tmp_path / "nbin"
    said = tmp_path / "notified"
    _tool(
        bin_dir,
        "notify-send",
        f'{script}printf "%s\\n" "$@" > "{said}.tmp"\nmv "{said}.tmp" "{said}"\n',
    )
    return {"PATH": f"{bin_dir}:{SYSTEM_PATH}"}, said


def _wait_for(path: Path) -> list[str]:
    """The notification the detached tool wrote (bounded: it is written within moments)."""
    import selectors  # a bounded wait on nothing: sleep without time.sleep's lint

    for _ in range(400):
        if path.exists():
            return path.read_text().splitlines()
        selectors.DefaultSelector().select(0.05)
    raise AssertionError(f"no notification written to {path}")


def test_notify_tells_the_link(
    tmp_path: Path, sandbox: str, config: Path, hermetic_env: dict[str, str]
) -> None:
    image = tmp_path / "n.png"
    image.write_bytes(png_bytes(width=18, seed=405))
    extra, said = _notifier(tmp_path)
    done = run_cli(
        ["--config", str(config), "upload", "--notify", str(image)], {**hermetic_env, **extra}
    )
    assert done.returncode == 0, done.stderr
    link = done.stdout.decode().strip()
    assert _wait_for(said) == ["--app-name=uploader", "uploader: uploaded", link]


def test_notify_tells_the_error_and_keeps_the_exit_code(
    tmp_path: Path, sandbox: str, config: Path, hermetic_env: dict[str, str]
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    extra, said = _notifier(tmp_path)
    env = {**hermetic_env, **extra}
    plain = run_cli(["--config", str(config), "upload", str(text)], env)
    done = run_cli(["--config", str(config), "upload", "--notify", str(text)], env)
    assert done.returncode == plain.returncode == 2
    assert done.stderr == plain.stderr
    title, body = _wait_for(said)[1:]
    assert title == "uploader: upload failed"
    assert body.startswith(f"{text}: ")
    assert body in plain.stderr.decode()


def test_notify_never_waits_for_the_tool(
    tmp_path: Path, sandbox: str, config: Path, hermetic_env: dict[str, str]
) -> None:
    image = tmp_path / "w.png"
    image.write_bytes(png_bytes(width=19, seed=406))
    pid_file = tmp_path / "notifier.pid"
    # A notifier that hangs: the upload must finish (run_cli would time out) and print.
    extra, _ = _notifier(tmp_path, f'echo $$ > "{pid_file}"\nexec sleep 600\n')
    try:
        done = run_cli(
            ["--config", str(config), "upload", "--notify", str(image)],
            {**hermetic_env, **extra},
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.decode().startswith(f"{sandbox}/imgur/i/")
    finally:
        pid = _wait_for(pid_file)[0]
        os.kill(int(pid), signal.SIGKILL)


def test_notify_without_a_tool_warns_and_keeps_exit_0(
    tmp_path: Path, sandbox: str, config: Path, hermetic_env: dict[str, str]
) -> None:
    image = tmp_path / "t.png"
    image.write_bytes(png_bytes(width=21, seed=407))
    env = {**hermetic_env, "PATH": SYSTEM_PATH}
    done = run_cli(["--config", str(config), "upload", "--notify", str(image)], env)
    assert done.returncode == 0
    assert done.stderr.decode() == (
        "warning: --notify: no notification tool found (notify-send, osascript)\n"
    )


def test_notify_tells_an_error_of_the_whole_run(
    tmp_path: Path, config: Path, hermetic_env: dict[str, str]
) -> None:
    extra, said = _notifier(tmp_path)
    env = {**hermetic_env, **extra, "DISPLAY": ":0"}  # no clipboard tool on this PATH
    done = run_cli(["--config", str(config), "upload", "--clipboard", "--notify"], env)
    assert done.returncode == 2
    assert done.stderr.decode().splitlines()[0] == "error: no clipboard tool found"
    assert _wait_for(said)[1:] == ["uploader: upload failed", "no clipboard tool found"]


def test_the_clipboard_is_named_clipboard_in_records_and_errors(
    tmp_path: Path, sandbox: str, config: Path, hermetic_env: dict[str, str]
) -> None:
    good = png_bytes(width=23, seed=408)
    source = _clip(tmp_path, good, "good.bin")
    bin_dir = tmp_path / "bin"
    _tool(bin_dir, "pngpaste", f'cat "{source}"\n')
    env = {**hermetic_env, "PATH": f"{bin_dir}:{SYSTEM_PATH}"}
    done = run_cli(["--config", str(config), "upload", "--clipboard", "-f", "json"], env)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert (record["path"], record["status"]) == ("clipboard", "uploaded")
    # The history keeps the name, not the temp file's path (removed by then).
    done = run_cli(["--config", str(config), "history", "--json"], env)
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert (row["path"], row["resolved"], row["url"]) == ("clipboard", None, record["url"])
    # The same image again with --skip-existing: its stored link, nothing sent.
    before = _posts(sandbox)
    args = ["--config", str(config), "upload", "--clipboard", "--skip-existing", "-f", "json"]
    done = run_cli(args, env)
    again = json.loads(done.stdout)
    assert (again["path"], again["status"], again["url"]) == (
        "clipboard",
        "existing",
        record["url"],
    )
    assert _posts(sandbox) == before
    source.write_bytes(good[: len(good) // 2])  # a PNG cut short: refused before sending
    done = run_cli(["--config", str(config), "upload", "--clipboard", "-f", "json"], env)
    assert done.returncode == 2
    record = json.loads(done.stdout)
    assert (record["path"], record["status"]) == ("clipboard", "failed")
    assert record["error"].startswith("not a complete PNG file")
    assert done.stderr.decode().startswith("error: clipboard: not a complete PNG file")
    assert "uploader-clipboard-" not in done.stderr.decode() + done.stdout.decode()
