"""End to end: the real `uploader` process against `uploader sandbox` on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.e2e import get_json, run_cli, sandbox_process, write_config
from tests.support.images import png_bytes, write_png, write_sized_png


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_process("imgur_max_image_size=200000") as url:
        yield url


@pytest.fixture
def config(tmp_path: Path, sandbox: str) -> Path:
    return write_config(tmp_path / "config.toml", sandbox, extra="max_image_size = 10000000\n")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _uploads(sandbox: str) -> dict[str, dict[str, object]]:
    return {u["id"]: u for u in get_json(f"{sandbox}/_sandbox/uploads")}


def test_upload_prints_link_and_sandbox_stored_same_bytes(
    tmp_path: Path, sandbox: str, config: Path, hermetic_env: dict[str, str]
) -> None:
    image = write_png(tmp_path / "shot.png", width=20, seed=1)
    done = run_cli(
        [
            "--config",
            str(config),
            "upload",
            "--title",
            "My shot",
            "--description",
            "desc here",
            str(image),
        ],
        hermetic_env,
    )
    assert done.returncode == 0, done.stderr
    link = done.stdout.decode().strip()
    assert link.startswith(f"{sandbox}/imgur/i/")  # the sandbox's own link, which it serves
    assert link.endswith(".png")
    assert done.stderr == b""
    image_id = link.rsplit("/", 1)[1].split(".")[0]
    stored = _uploads(sandbox)[image_id]
    assert stored["sha256"] == _sha(image.read_bytes())
    assert stored["size"] == image.stat().st_size
    assert stored["title"] == "My shot"
    assert stored["description"] == "desc here"
    log = [
        r
        for r in get_json(f"{sandbox}/_sandbox/requests")
        if r["method"] == "POST" and r["path"].endswith("/3/image")
    ]
    last = log[-1]
    assert last["auth_scheme"] == "Client-ID"
    assert last["auth_sha256"] == _sha(b"test-client")
    assert last["file_field"] == "image"
    assert last["file_name"] == "shot.png"


def test_batch_json_in_input_order_and_stdin(
    tmp_path: Path, sandbox: str, config: Path, hermetic_env: dict[str, str]
) -> None:
    files = [write_png(tmp_path / f"{n}.png", seed=n + 10) for n in range(3)]
    data = png_bytes(seed=99)
    done = run_cli(
        [
            "--config",
            str(config),
            "upload",
            "-f",
            "json",
            str(files[0]),
            "-",
            str(files[1]),
            str(files[2]),
        ],
        hermetic_env,
        stdin=data,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [r["path"] for r in records] == [str(files[0]), "-", str(files[1]), str(files[2])]
    assert all(r["status"] == "uploaded" and r["error"] is None for r in records)
    stored = _uploads(sandbox)
    expected = [files[0].read_bytes(), data, files[1].read_bytes(), files[2].read_bytes()]
    for record, content in zip(records, expected, strict=True):
        assert stored[record["id"]]["sha256"] == _sha(content)
        assert stored[record["id"]]["deletehash"] == record["delete_id"]


def test_bearer_token_from_environment(
    tmp_path: Path, sandbox: str, config: Path, hermetic_env: dict[str, str]
) -> None:
    image = write_png(tmp_path / "b.png", seed=5)
    env = {**hermetic_env, "UPLOADER_SB_ACCESS_TOKEN": "user-token-1"}
    done = run_cli(["--config", str(config), "-vv", "upload", "-f", "markdown", str(image)], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith(f"![b.png]({sandbox}/imgur/i/")
    last = get_json(f"{sandbox}/_sandbox/requests")[-1]
    assert last["auth_scheme"] == "Bearer"
    assert last["auth_sha256"] == _sha(b"user-token-1")
    assert b"user-token-1" not in done.stdout + done.stderr


def test_missing_config_exit_2_with_hint(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    image = write_png(tmp_path / "c.png")
    done = run_cli(["upload", str(image)], hermetic_env)
    assert done.returncode == 2
    err = done.stderr.decode()
    assert err.startswith("error: no configuration file at ")
    assert "hint: run `uploader config init`" in err
    assert "Traceback" not in err


def test_oversize_refused_by_server_is_exit_5(
    tmp_path: Path, sandbox: str, config: Path, hermetic_env: dict[str, str]
) -> None:
    image = write_sized_png(tmp_path / "big.png", 300_000)
    done = run_cli(["--config", str(config), "upload", str(image)], hermetic_env)
    assert done.returncode == 5
    err = done.stderr.decode()
    assert f"error: {image}: Imgur refused the file: file is over the size limit (HTTP 413)" in err
    assert "--max-dimension PX or --convert jpeg" in err  # what shrinks a picture
    assert "Traceback" not in err


def test_oversize_refused_locally_sends_nothing(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str]
) -> None:
    config = write_config(tmp_path / "c.toml", sandbox, extra="max_image_size = 1000\n")
    image = write_sized_png(tmp_path / "big.png", 5000)
    before = get_json(f"{sandbox}/_sandbox/stats")["requests"]
    done = run_cli(["--config", str(config), "upload", str(image)], hermetic_env)
    assert done.returncode == 2
    assert "is over Imgur's 1000 B image limit" in done.stderr.decode()
    assert get_json(f"{sandbox}/_sandbox/stats")["requests"] == before


def test_partial_batch_exit_6(
    tmp_path: Path, sandbox: str, config: Path, hermetic_env: dict[str, str]
) -> None:
    good = write_png(tmp_path / "good.png", seed=7)
    done = run_cli(
        ["--config", str(config), "upload", str(good), str(tmp_path / "gone.png")], hermetic_env
    )
    assert done.returncode == 6
    # One line per file in input order: the file that failed leaves its line empty.
    lines = done.stdout.decode().split("\n")
    assert len(lines) == 3
    assert lines[0].startswith(f"{sandbox}/imgur/i/")
    assert lines[1:] == ["", ""]
    assert f"error: {tmp_path / 'gone.png'}: no such file" in done.stderr.decode()


def test_config_show_masks_secrets(
    tmp_path: Path, config: Path, hermetic_env: dict[str, str]
) -> None:
    env = {**hermetic_env, "UPLOADER_SB_ACCESS_TOKEN": "very-secret-token-value"}
    done = run_cli(["--config", str(config), "config", "show"], env)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert "very-secret-token-value" not in out
    assert "test-client" not in out
    assert 'client_id = "****nt"' in out
    assert "access_token = '****ue' (from environment variable UPLOADER_SB_ACCESS_TOKEN)" in out
    overridden = run_cli(
        ["--config", str(config), "config", "show"],
        {**env, "UPLOADER_SB_CLIENT_ID": "env-client-id-99"},
    )
    out = overridden.stdout.decode()
    assert 'client_id = "****99"' in out  # the value in effect, not the file's
    assert "env-client-id-99" not in out


def test_config_init_and_path(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    done = run_cli(["config", "path"], hermetic_env)
    target = Path(hermetic_env["XDG_CONFIG_HOME"]) / "uploader" / "config.toml"
    assert done.stdout.decode().strip() == str(target)
    assert run_cli(["config", "init"], hermetic_env).returncode == 0
    assert target.read_text() == (Path(__file__).parent.parent / "config.example.toml").read_text()
    again = run_cli(["config", "init"], hermetic_env)
    assert again.returncode == 2
    assert "already exists" in again.stderr.decode()


def test_demo_runs_offline_and_exits_zero(hermetic_env: dict[str, str]) -> None:
    done = run_cli(["demo"], hermetic_env)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert re.search(r"uploaded: http://127\.0\.0\.1:\d+/imgur/i/\w{7}\.png\n", out)
    assert "(matches the file)" in out
    # The bucket lines are `uploader limits`' own (commands/limits.py: bucket_line).
    seen = r"; headers seen at \d\d:\d\d:\d\d \S+\n"
    assert re.search(
        r"\n  Imgur POST bucket \(per IP\): 1249/1250 left; "
        r"resets (?:tomorrow )?at \S+ \S+ \(in 60 min\)" + seen,
        out,
    ), out
    assert re.search(
        r"\n  Imgur client bucket \(per app, daily\): 12490/12500 left \(reserve 100\); "
        r"resets tomorrow at \S+ \S+ \(in 24.0 h\)" + seen,
        out,
    ), out


# The child reports its own peak RSS (VmHWM of its address space, which unlike ru_maxrss
# is not inherited from the forking parent) as it exits: no polling of /proc from outside,
# which could miss the peak of a short process.
PEAK_REPORTER = """
import os, sys
sys.argv[0] = "uploader"
from uploader.__main__ import main
try:
    main()
finally:
    with open("/proc/self/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM:"))
    with open(os.environ["PEAK_RSS_FILE"], "w") as out:
        out.write(peak.split()[1])
"""


def _peak_rss_of(args: list[str], env: dict[str, str], report: Path) -> tuple[int, bytes, int]:
    """Run `uploader ARGS`; return (its peak RSS in bytes, its stdout, its exit code)."""
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", PEAK_REPORTER, *args],
        capture_output=True,
        env={**os.environ, **env, "PEAK_RSS_FILE": str(report)},
        timeout=120,
        check=False,
    )
    return int(report.read_text()) * 1024, done.stdout, done.returncode


def test_large_file_is_streamed_not_read_into_memory(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    size = 120 * 1024 * 1024
    with sandbox_process(f"imgur_max_image_size={size + 1}") as base:
        config = write_config(tmp_path / "c.toml", base, extra=f"max_image_size = {size + 1}\n")
        image = write_sized_png(tmp_path / "huge.png", size)
        peak, out, code = _peak_rss_of(
            ["--config", str(config), "upload", "-f", "json", str(image)],
            hermetic_env,
            tmp_path / "peak",
        )
        assert code == 0
        # Python, httpx and click need ~40 MiB; reading the file whole would need 120 more.
        assert 0 < peak < 100 * 1024 * 1024
        record = json.loads(out)
        stored = _uploads(base)[record["id"]]
        assert stored["size"] == size
        digest = hashlib.sha256()
        with image.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        assert stored["sha256"] == digest.hexdigest()


def test_a_batch_does_not_hold_every_file_it_sent(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    # Each file up to 32 MiB is read whole once (the bytes hashed are the bytes sent);
    # once a file is done those bytes must go, or a folder of photos fills the memory.
    size, count = 6 * 1024 * 1024, 16
    images = [write_sized_png(tmp_path / f"p{n:02d}.png", size, seed=n) for n in range(count)]
    with sandbox_process() as sandbox:
        config = write_config(tmp_path / "c.toml", sandbox)
        for jobs in ("1", "3"):
            _peak_check(config, sandbox, images, jobs, hermetic_env, tmp_path / "peak")


def _peak_check(
    config: Path, sandbox: str, images: list[Path], jobs: str, env: dict[str, str], report: Path
) -> None:
    count = len(images)
    peak, out, code = _peak_rss_of(
        ["--config", str(config), "upload", "-j", jobs, "-f", "json", *map(str, images)],
        env,
        report,
    )
    assert code == 0
    records = [json.loads(line) for line in out.decode().splitlines()]
    assert [r["status"] for r in records] == ["uploaded"] * count
    stored = _uploads(sandbox)
    for image, record in zip(images, records, strict=True):
        assert stored[record["id"]]["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    # ~40 MiB of Python and libraries, a few files in flight; all 16 held: 136 MiB.
    assert 0 < peak < 85 * 1024 * 1024, (jobs, peak)
