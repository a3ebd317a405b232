"""`uploader serve` under attack: what a web page in the user's browser (or anything on
the network) could send to it. Each request is refused and nothing reaches the provider."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.e2e import get_json, run_cli, sandbox_process, write_config
from tests.support.images import WHOLE, png_bytes, write_png
from tests.support.serve import multipart, request, serve_process

SECRET = "s3cret-for-tests-only"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_process() as url:
        yield url


@pytest.fixture
def config(tmp_path: Path, sandbox: str) -> Path:
    return write_config(tmp_path / "config.toml", sandbox)


@pytest.fixture
def served(config: Path, hermetic_env: dict[str, str]) -> Iterator[str]:
    with serve_process(["--config", str(config), "serve", "--port", "0"], hermetic_env) as base:
        yield base


def _posts(sandbox: str) -> int:
    return sum(1 for r in get_json(f"{sandbox}/_sandbox/requests") if r["method"] == "POST")


def _host(base: str) -> dict[str, str]:
    return {"Host": base.removeprefix("http://")}


def _json(paths: list[str]) -> bytes:
    return json.dumps({"list": paths}).encode()


def _refused(
    served: str, sandbox: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str]:
    """Send it; check the answer is a refusal in PicGo's shape and nothing was uploaded."""
    before = _posts(sandbox)
    status, response_headers, answer = request(served, path, body, headers)
    assert answer["success"] is False
    assert "Access-Control-Allow-Origin" not in response_headers
    assert _posts(sandbox) == before
    return status, answer["message"]


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://127.0.0.1:8000", "app://obsidian.md.evil"]
)
def test_a_cross_origin_request_is_refused(
    served: str, sandbox: str, tmp_path: Path, origin: str
) -> None:
    image = write_png(tmp_path / "private.png", seed=201)
    headers = {**_host(served), "Content-Type": "application/json", "Origin": origin}
    status, message = _refused(served, sandbox, "/upload", _json([str(image)]), headers)
    assert status == 403
    assert f"requests from origin {origin!r} are refused" in message


def test_a_dns_rebinding_host_is_refused(served: str, sandbox: str, tmp_path: Path) -> None:
    image = write_png(tmp_path / "private.png", seed=202)
    port = served.rsplit(":", 1)[1]
    headers = {"Host": f"evil.example:{port}", "Content-Type": "application/json"}
    status, message = _refused(served, sandbox, "/upload", _json([str(image)]), headers)
    assert status == 403
    assert "is not this server" in message


@pytest.mark.parametrize(
    "kind", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"]
)
def test_simple_cross_site_bodies_are_refused(
    served: str, sandbox: str, tmp_path: Path, kind: str
) -> None:
    image = write_png(tmp_path / "private.png", seed=203)
    headers = {**_host(served), "Content-Type": kind}
    status, message = _refused(served, sandbox, "/upload", _json([str(image)]), headers)
    assert status == 415
    assert "is not accepted here" in message


@pytest.mark.parametrize(
    "name",
    ["notes.txt", "/dev/zero", "folder", "relative.png", "link.png", "clip.mp4", "paper.pdf"],
)
def test_only_regular_image_files_by_absolute_path(
    served: str, sandbox: str, tmp_path: Path, name: str
) -> None:
    (tmp_path / "notes.txt").write_text("secret notes\n" * 10)
    (tmp_path / "folder").mkdir()
    (tmp_path / "link.png").symlink_to(tmp_path / "notes.txt")  # a link to a non-image
    (tmp_path / "clip.mp4").write_bytes(WHOLE["mp4"])  # a video: not an editor's picture
    (tmp_path / "paper.pdf").write_bytes(WHOLE["pdf"])
    good = write_png(tmp_path / "good.png", seed=204)
    target = name if name.startswith("/") or name == "relative.png" else str(tmp_path / name)
    headers = {**_host(served), "Content-Type": "application/json"}
    # A good file with it: the request is refused as a whole, the good one not sent either.
    status, message = _refused(served, sandbox, "/upload", _json([str(good), target]), headers)
    assert status == 400
    assert message.startswith(f"{target}: ")
    if name.endswith((".mp4", ".pdf")):
        kind = "video/mp4" if name.endswith(".mp4") else "application/pdf"
        assert message == f"{target}: {kind} is not a picture (uploader serve sends images only)"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x.png",
        "https://localhost:8443/x.png",
        "https://[::1]/x.png",
        "https://10.1.2.3/x.png",
        "https://192.168.1.1/x.png",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:127.0.0.1]/x.png",
        "https://0x7f000001/x.png",
    ],
)
def test_links_to_local_addresses_are_not_fetched(served: str, sandbox: str, url: str) -> None:
    headers = {**_host(served), "Content-Type": "application/json"}
    status, message = _refused(served, sandbox, "/upload", _json([url]), headers)
    assert status == 400
    assert "a loopback, private, link-local or reserved address" in message


def test_plain_http_links_are_not_fetched(served: str, sandbox: str) -> None:
    headers = {**_host(served), "Content-Type": "application/json"}
    url = f"{sandbox}/imgur/i/abc.png"
    status, message = _refused(served, sandbox, "/upload", _json([url]), headers)
    assert status == 400
    assert message == f"{url}: only https:// links are fetched"


def test_a_2gb_body_is_refused_by_its_length(served: str, sandbox: str) -> None:
    body, kind = multipart("files", [("big.png", png_bytes(seed=205))])
    headers = {**_host(served), "Content-Type": kind, "Content-Length": str(2 << 30)}
    status, message = _refused(served, sandbox, "/upload", body, headers)
    assert status == 413
    # four of the largest pictures the profile takes (Imgur's 20 MiB) and 1 MiB of parts
    cap = 4 * (20 << 20) + (1 << 20)
    assert message == f"the body is {2 << 30} bytes, over the {cap} bytes accepted"


def test_a_body_without_length_is_refused(served: str, sandbox: str) -> None:
    body, kind = multipart("files", [("c.png", png_bytes(seed=206))])
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    headers = {**_host(served), "Content-Type": kind, "Transfer-Encoding": "chunked"}
    status, message = _refused(served, sandbox, "/upload", chunked, headers)
    assert status == 411
    assert message == "a body without Content-Length is not accepted"


def test_the_secret(
    config: Path, hermetic_env: dict[str, str], sandbox: str, tmp_path: Path
) -> None:
    image = write_png(tmp_path / "p.png", seed=207)
    env = {**hermetic_env, "UPLOADER_SERVE_SECRET": SECRET}
    with serve_process(["--config", str(config), "serve", "--port", "0"], env) as base:
        plain = {**_host(base), "Content-Type": "application/json"}
        for wrong in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Basic {SECRET}"},
            {"X-PicGo-Secret": SECRET[:-1]},
        ):
            status, message = _refused(base, sandbox, "/upload", _json([str(image)]), plain | wrong)
            assert (status, message) == (401, "Unauthorized")
        status, message = _refused(base, sandbox, "/upload?secret=nope", _json([]), plain)
        assert status == 401
        before = _posts(sandbox)
        for n, right in enumerate(
            ({"Authorization": f"Bearer {SECRET}"}, {"X-PicGo-Secret": SECRET}, {})
        ):
            fresh = write_png(tmp_path / f"q{n}.png", seed=210 + n)
            path = "/upload?secret=" + SECRET if not right else "/upload"
            status, _, answer = request(base, path, _json([str(fresh)]), plain | right)
            assert (status, answer["success"]) == (200, True), answer
        assert _posts(sandbox) == before + 3


def test_beyond_loopback_only_with_a_secret(config: Path, hermetic_env: dict[str, str]) -> None:
    done = run_cli(
        ["--config", str(config), "serve", "--host", "0.0.0.0", "--port", "0"],  # noqa: S104
        hermetic_env,
    )
    assert done.returncode == 2
    assert done.stderr.decode().startswith(
        "error: --host 0.0.0.0: serving beyond this machine needs a secret\n"
    )


def test_other_methods_and_endpoints_are_refused(served: str, sandbox: str) -> None:
    # An empty POST is the clipboard: no clipboard tool here, a refusal.
    assert _refused(served, sandbox, "/upload", b"", _host(served)) == (
        400,
        "no clipboard tool found",
    )
    _, _, answer = request(served, "/upload", b"", _host(served))
    assert answer["hint"].startswith("install wl-clipboard (Wayland), xclip (X11)")  # the CLI's
    status, _, answer = request(served, "/upload", b"", _host(served), method="GET")
    assert (status, answer["success"]) == (405, False)
    evil = {**_host(served), "Origin": "https://evil.example"}
    status, headers, answer = request(served, "/upload", b"", evil, method="OPTIONS")
    assert status == 403
    assert not any(h.lower().startswith("access-control-") for h in headers)
    assert request(served, "/anything", b"", _host(served))[0] == 404


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ("https://", "must not let in every page"),
        ("https://notes.example/", "'https://notes.example/' is not an origin"),
    ],
)
def test_an_allowed_origin_that_lets_in_every_page_or_none_stops_serve(
    tmp_path: Path, sandbox: str, hermetic_env: dict[str, str], entry: str, said: str
) -> None:
    """README: bad values are errors naming the file, line and key (exit 2), before the
    server listens; `https://` alone would let every web page upload the user's files."""
    config = write_config(
        tmp_path / "config.toml", sandbox, defaults=f'[serve]\nallowed_origins = ["{entry}"]\n'
    )
    done = run_cli(["--config", str(config), "serve", "--port", "0"], hermetic_env, timeout=30)
    assert done.returncode == 2, done.stderr
    assert done.stdout == b""  # never listened: no address printed
    lines = done.stderr.decode().splitlines()
    assert lines[0] == f"error: {config}, line 3: key 'serve.allowed_origins' {said}" + (
        " (scheme://host[:port]: no path, in lower case)" if entry != "https://" else ""
    )
    assert lines[1].startswith("hint: ")
