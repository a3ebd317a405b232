"""`uploader serve` end to end: each editor's exact requests against the real server
process, uploading to `uploader sandbox`; the stored bytes and the answers' shapes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.e2e import CLI, first_line, get_json, run_cli, sandbox_process, write_config
from tests.support.images import jpeg_bytes, png_bytes, write_png
from tests.support.serve import multipart, request, serve_process


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_process() as url:
        yield url


@pytest.fixture
def config(tmp_path: Path, sandbox: str) -> Path:
    other = '[providers.other]\nkind = "imgur"\nclient_id = "other-client"\n'
    other += f'base_url = "{sandbox}/imgur"\n'
    return write_config(tmp_path / "config.toml", sandbox, extra="\n" + other)


@pytest.fixture
def served(config: Path, hermetic_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    env = {**hermetic_env, "WAYLAND_DISPLAY": "wayland-test", "PATH": _fake_paste(tmp_path)}
    with serve_process(["--config", str(config), "serve", "--port", "0"], env) as base:
        yield base


def _fake_paste(tmp_path: Path) -> str:
    """A `wl-paste` that offers text and a PNG (the clipboard of a screenshot tool)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    image = write_png(tmp_path / "clip-source.png", width=12, seed=77)
    tool = bin_dir / "wl-paste"
    tool.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--list-types" ]; then printf "text/plain\\nimage/png\\n"; exit 0; fi\n'
        f'[ "$3" = "image/png" ] && exec cat "{image}"\nexit 1\n'
    )
    tool.chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin"


def _stored(sandbox: str) -> dict[str, str]:
    """sha256 -> id of every picture the sandbox holds."""
    return {u["sha256"]: u["id"] for u in get_json(f"{sandbox}/_sandbox/uploads")}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _host(base: str) -> dict[str, str]:
    return {"Host": base.removeprefix("http://")}


def test_picgo_core_json_list_of_paths(served: str, sandbox: str, tmp_path: Path) -> None:
    first = write_png(tmp_path / "a.png", seed=101)
    second = write_png(tmp_path / "b.png", seed=102)
    body = json.dumps({"list": [str(first), str(second)]}).encode()
    status, headers, answer = request(
        served, "/upload", body, {**_host(served), "Content-Type": "application/json"}
    )
    assert status == 200, answer
    assert answer["success"] is True
    stored = _stored(sandbox)
    ids = [stored[_sha(first.read_bytes())], stored[_sha(second.read_bytes())]]
    assert [url.rsplit("/", 1)[1].split(".")[0] for url in answer["result"]] == ids
    records = answer["fullResult"]
    assert [r["path"] for r in records] == [str(first), str(second)]
    assert [r["status"] for r in records] == ["uploaded", "uploaded"]
    assert all(r["delete_id"] for r in records)
    assert "Access-Control-Allow-Origin" not in headers


def test_picgo_core_files_multipart(served: str, sandbox: str) -> None:
    data = png_bytes(width=9, seed=103)
    body, kind = multipart("files", [("shot.png", data)])
    status, _, answer = request(served, "/upload", body, {**_host(served), "Content-Type": kind})
    assert status == 200, answer
    assert answer["result"][0].endswith(_stored(sandbox)[_sha(data)] + ".png")
    assert answer["fullResult"][0]["path"] == "shot.png"


def test_obsidian_list_multipart_and_empty_body(served: str, sandbox: str) -> None:
    obsidian = {**_host(served), "Origin": "app://obsidian.md"}
    data = png_bytes(width=10, seed=104)
    body, kind = multipart(
        "list", [("1733000000000.png", data)], content_type="application/octet-stream"
    )
    status, _, answer = request(served, "/upload", body, {**obsidian, "Content-Type": kind})
    assert status == 200, answer
    assert _sha(data) in _stored(sandbox)
    # An empty body: the clipboard's image (the fake wl-paste offers a PNG).
    status, _, answer = request(served, "/upload", b"", obsidian)
    assert status == 200, answer
    assert answer["fullResult"][0]["path"] == "clipboard"
    clip = png_bytes(width=12, seed=77)
    assert _stored(sandbox)[_sha(clip)] in answer["result"][0]


@pytest.mark.parametrize("body", [b"{}", b'{"list": []}'])
def test_json_without_paths_uploads_the_clipboard(served: str, sandbox: str, body: bytes) -> None:
    headers = {**_host(served), "Content-Type": "application/json"}
    status, _, answer = request(served, "/upload", body, headers)
    assert status == 200, answer
    assert answer["fullResult"][0]["path"] == "clipboard"


def test_vs_piclist_file_multipart_and_picbed(served: str, sandbox: str) -> None:
    data = png_bytes(width=11, seed=105)
    body, kind = multipart("file", [("image.png", data)])
    headers = {**_host(served), "Content-Type": kind, "Origin": "vscode-webview://abc123"}
    status, _, answer = request(served, "/upload?picbed=other", body, headers)
    assert status == 200, answer
    assert answer["fullResult"][0]["provider"] == "other"
    post = [r for r in get_json(f"{sandbox}/_sandbox/requests") if r["method"] == "POST"][-1]
    assert post["auth_sha256"] == _sha(b"other-client")


def test_heartbeat_and_delete_through_the_history(served: str, sandbox: str) -> None:
    status, _, answer = request(served, "/heartbeat", b"", _host(served))
    assert (status, answer["success"], answer["result"]) == (200, True, "alive")
    # README: exactly PicGo's answer plus the server's name and its process id.
    assert set(answer) == {"success", "result", "server", "pid"}
    assert answer["server"] == "uploader serve"
    assert isinstance(answer["pid"], int)
    assert answer["pid"] > 1
    data = png_bytes(width=13, seed=106)
    body, kind = multipart("files", [("gone.png", data)])
    _, _, up = request(served, "/upload", body, {**_host(served), "Content-Type": kind})
    assert _sha(data) in _stored(sandbox)
    headers = {**_host(served), "Content-Type": "application/json"}
    unknown = {"provider": "sb", "id": "nope1234", "url": "https://i.example/nope.png"}
    status, _, answer = request(
        served, "/delete", json.dumps({"list": [unknown, *up["fullResult"]]}).encode(), headers
    )
    assert answer == {
        "success": False,
        "message": "delete success: 1, fail: 1",
        "errors": ["https://i.example/nope.png: not in the history"],
    }
    assert status == 500
    assert _sha(data) not in _stored(sandbox)


def test_a_taken_port_is_refused_naming_an_earlier_serve(
    served: str, config: Path, hermetic_env: dict[str, str]
) -> None:
    port = served.rsplit(":", 1)[1]
    done = run_cli(["--config", str(config), "serve", "--port", port], hermetic_env, timeout=30)
    assert done.returncode == 2
    err = done.stderr.decode()
    assert f"error: port {port} is taken by an earlier `uploader serve` (pid " in err
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        taken = str(other.getsockname()[1])
        done = run_cli(
            ["--config", str(config), "serve", "--port", taken], hermetic_env, timeout=30
        )
    assert done.returncode == 2
    assert f"error: port {taken} on 127.0.0.1 is taken by another program" in done.stderr.decode()


def test_a_taken_ipv6_port_names_the_earlier_serve_by_a_working_link(
    config: Path, hermetic_env: dict[str, str]
) -> None:
    args = ["--config", str(config), "serve", "--host", "::1", "--port", "0"]
    with serve_process(args, hermetic_env) as served:
        port = served.rsplit(":", 1)[1]
        again = [*args[:-1], port]
        done = run_cli(again, hermetic_env, timeout=30)
    assert done.returncode == 2
    assert "(pid " in done.stderr.decode()
    assert f"answering on http://[::1]:{port})" in done.stderr.decode()


def test_ctrl_c_stops_it_with_130(config: Path, hermetic_env: dict[str, str]) -> None:
    with serve_process(
        ["--config", str(config), "serve", "--port", "0"], hermetic_env, expect_exit=None
    ) as base:
        assert request(base, "/heartbeat", b"", _host(base))[0] == 200
    # SIGTERM (serve_process) exits 0; here SIGINT, as a terminal's Ctrl-C sends.
    proc = subprocess.Popen(
        [*CLI, "--config", str(config), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **hermetic_env},
    )
    first_line(proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "error: interrupted"


def test_a_spent_rate_limit_is_answered_at_once_with_its_reset(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    with sandbox_process("imgur_post_limit=2", "imgur_post_window=600") as base:
        config = write_config(tmp_path / "c.toml", base)
        args = ["--config", str(config), "serve", "--port", "0", "--max-wait", "60"]
        with serve_process(args, hermetic_env) as served:
            headers = {**_host(served), "Content-Type": "application/json"}
            for n in range(2):
                image = write_png(tmp_path / f"{n}.png", seed=300 + n)
                body = json.dumps({"list": [str(image)]}).encode()
                assert request(served, "/upload", body, headers)[0] == 200
            late = write_png(tmp_path / "late.png", seed=310)
            body = json.dumps({"list": [str(late)]}).encode()
            status, answer_headers, answer = request(served, "/upload", body, headers)
        assert status == 429
        assert answer["success"] is False
        assert answer["message"].startswith(
            f"{late}: Imgur POST bucket (per IP) is spent (0 of 2 left)"
        )
        assert "; it resets " in answer["message"]
        assert 60 < int(answer_headers["Retry-After"]) <= 600
        assert answer["fullResult"][0]["status"] == "failed"
        assert len([r for r in get_json(f"{base}/_sandbox/requests") if r["method"] == "POST"]) == 2


def test_same_pipeline_skip_existing_and_stripping(
    config: Path, hermetic_env: dict[str, str], sandbox: str, tmp_path: Path
) -> None:
    jpeg = jpeg_bytes(20, 10)  # carries a comment segment: metadata, stripped by default
    image = tmp_path / "photo.jpg"
    image.write_bytes(jpeg)
    args = ["--config", str(config), "serve", "--port", "0", "--skip-existing"]
    with serve_process(args, hermetic_env) as served:
        headers = {**_host(served), "Content-Type": "application/json"}
        body = json.dumps({"list": [str(image)]}).encode()
        status, _, first = request(served, "/upload", body, headers)
        assert status == 200, first
        assert first["fullResult"][0]["stripped"] is True
        assert _sha(jpeg) not in _stored(sandbox)  # the bytes sent were not the file's
        sent = sum(1 for r in get_json(f"{sandbox}/_sandbox/requests") if r["method"] == "POST")
        status, _, again = request(served, "/upload", body, headers)
        assert status == 200, again
        assert again["fullResult"][0]["status"] == "existing"
        assert again["result"] == first["result"]
        posts = [r for r in get_json(f"{sandbox}/_sandbox/requests") if r["method"] == "POST"]
        assert len(posts) == sent


def test_several_files_in_one_multipart_keep_their_order(served: str, sandbox: str) -> None:
    pictures = [png_bytes(width=22 + n, seed=120 + n) for n in range(3)]
    body, kind = multipart("files", [(f"{n}.png", data) for n, data in enumerate(pictures)])
    status, _, answer = request(served, "/upload", body, {**_host(served), "Content-Type": kind})
    assert status == 200, answer
    stored = _stored(sandbox)
    assert [url.rsplit("/", 1)[1].split(".")[0] for url in answer["result"]] == [
        stored[_sha(data)] for data in pictures
    ]
    assert [r["path"] for r in answer["fullResult"]] == ["0.png", "1.png", "2.png"]


def test_the_history_keeps_the_clients_names_not_the_temp_paths(
    served: str, sandbox: str, config: Path, hermetic_env: dict[str, str]
) -> None:
    data = png_bytes(width=14, seed=109)
    body, kind = multipart("files", [("my shot.png", data)])
    status, _, answer = request(served, "/upload", body, {**_host(served), "Content-Type": kind})
    assert status == 200, answer
    status, _, clip = request(served, "/upload", b"", _host(served))
    assert status == 200, clip
    done = run_cli(["--config", str(config), "history", "--json"], hermetic_env)
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["path"], r["resolved"]) for r in rows] == [
        ("clipboard", None),
        ("my shot.png", None),
    ]
    assert [r["url"] for r in rows] == [clip["result"][0], answer["result"][0]]
    assert b"uploader-" not in done.stdout


def test_one_file_named_twice_is_sent_once_and_answered_in_each_place(
    served: str, sandbox: str, tmp_path: Path
) -> None:
    first = write_png(tmp_path / "a.png", seed=111)
    second = write_png(tmp_path / "b.png", seed=112)
    again = str(tmp_path / "." / "a.png")  # the same file by another name
    body = json.dumps({"list": [str(first), str(second), again, str(first)]}).encode()
    headers = {**_host(served), "Content-Type": "application/json"}
    before = len([r for r in get_json(f"{sandbox}/_sandbox/requests") if r["method"] == "POST"])
    status, _, answer = request(served, "/upload", body, headers)
    assert status == 200, answer
    links = answer["result"]
    assert len(links) == 4  # the client pairs result[i] with its i-th picture
    assert links[0] == links[2] == links[3] != links[1]
    assert [r["path"] for r in answer["fullResult"]] == [str(first), str(second), again, str(first)]
    stored = _stored(sandbox)
    assert links[0].endswith(stored[_sha(first.read_bytes())] + ".png")
    after = len([r for r in get_json(f"{sandbox}/_sandbox/requests") if r["method"] == "POST"])
    assert after - before == 2
