"""End to end (real processes): custom hosts from ShareX definitions against the sandbox's
``/custom`` hosts (issue 17, "Proof"). The definitions are written here in the shapes the
hosts publish (Chevereto's API v1 with ``X-API-Key``, Zipline's ``Authorization`` header
and ``{json:files[0].url}``, XBackBone's ``token`` argument with a DeletionURL holding the
token), plus a plain-text host read with ``{regex:}``."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.e2e import posts, run_cli, sandbox_process
from tests.support.images import write_png

KEY = "sandbox-custom-key"


def chevereto(base: str, key: str = KEY) -> dict[str, Any]:
    return {
        "Version": "16.0.4",
        "Name": "Chevereto",
        "DestinationType": "ImageUploader, FileUploader",
        "RequestMethod": "POST",
        "RequestURL": f"{base}/custom/chevereto/api/1/upload",
        "Headers": {"X-API-Key": key},
        "Body": "MultipartFormData",
        "FileFormName": "source",
        "URL": "{json:image.url}",
        "ThumbnailURL": "{json:image.thumb.url}",
        "DeletionURL": "{json:image.delete_url}",
        "ErrorMessage": "{json:error.message}",
    }


def zipline(base: str) -> dict[str, Any]:
    return {
        "Version": "14.1.0",
        "Name": "Zipline",
        "DestinationType": "ImageUploader, FileUploader",
        "RequestMethod": "POST",
        "RequestURL": f"{base}/custom/zipline/api/upload",
        "Headers": {"Authorization": KEY},
        "URL": "{json:files[0].url}",
        "Body": "MultipartFormData",
        "FileFormName": "file",
    }


def xbackbone(base: str) -> dict[str, Any]:
    # XBackBone still generates the ShareX 13 syntax ($json:url$), converted when read.
    return {
        "Version": "13.1.0",
        "Name": "XBackBone",
        "DestinationType": "ImageUploader, TextUploader, FileUploader",
        "RequestMethod": "POST",
        "RequestURL": f"{base}/custom/xbackbone/upload",
        "Body": "MultipartFormData",
        "Arguments": {"token": KEY},
        "FileFormName": "upload",
        "URL": "$json:url$",
        "ThumbnailURL": "$json:url$/raw",
        "DeletionURL": "$json:url$/delete/" + KEY,
    }


def text_host(base: str) -> dict[str, Any]:
    return {
        "Version": "17.0.0",
        "Name": "Text host",
        "DestinationType": "ImageUploader",
        "RequestURL": f"{base}/custom/text/upload",
        "Body": "MultipartFormData",
        "FileFormName": "file",
        "Arguments": {"secret": KEY},
        # ShareX escapes with '\\' in templates: '\\\\S' is the regex's '\\S'.
        "URL": "{regex:File uploaded: (\\\\S+)|1}",
        "DeletionURL": "{regex:Delete: (\\\\S+)|1}",
    }


def _write(path: Path, definition: dict[str, Any] | str) -> Path:
    path.write_text(definition if isinstance(definition, str) else json.dumps(definition))
    return path


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback only
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def _records(stdout: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


def _files_with(root: Path, secret: str) -> list[Path]:
    """Every file under ``root`` holding ``secret`` (the credential store excepted)."""
    return [
        p
        for p in root.rglob("*")
        if p.is_file() and p.name != "credentials.toml" and secret.encode() in p.read_bytes()
    ]


HOSTS = {
    "chev": (chevereto, True, True),
    "zip": (zipline, False, False),
    "xbb": (xbackbone, True, True),
    "text": (text_host, False, True),
}


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_import_upload_and_delete_through_each_host(
    tmp_path: Path, hermetic_env: dict[str, str], name: str
) -> None:
    make, has_thumb, deletable = HOSTS[name]
    config = tmp_path / "conf" / "config.toml"
    image = write_png(tmp_path / "shot.png", seed=7)
    with sandbox_process() as base:
        sxcu = _write(tmp_path / f"{name}.sxcu", make(base))
        imported = run_cli(
            ["--config", str(config), "config", "import-sxcu", str(sxcu), "--name", name],
            hermetic_env,
        )
        assert imported.returncode == 0, imported.stderr
        assert f"uploader --config {config} upload -p {name} shot.png".encode() in (imported.stderr)
        done = run_cli(
            ["--config", str(config), "upload", "-p", name, "-f", "json", str(image)],
            hermetic_env,
        )
        assert done.returncode == 0, done.stderr
        (record,) = _records(done.stdout)
        assert record["status"] == "uploaded"
        status, served = _get(record["url"] if name != "xbb" else record["url"] + "/raw")
        assert (status, served) == (200, image.read_bytes())
        if has_thumb:
            assert record["thumbnail"].startswith(base)
            assert _get(record["thumbnail"])[0] == 200
        else:
            assert "thumbnail" not in record
        for output in (imported.stdout, imported.stderr, done.stdout, done.stderr):
            assert KEY.encode() not in output
        assert _files_with(Path(hermetic_env["HOME"]), KEY) == []
        assert _files_with(config.parent, KEY) == []
        assert len(posts(base, "/upload")) == 1
        deleted = run_cli(["--config", str(config), "delete", str(image), "-p", name], hermetic_env)
        assert KEY.encode() not in deleted.stdout + deleted.stderr
        if deletable:
            assert deleted.returncode == 0, deleted.stderr
            assert record["delete_id"].startswith(base)
            assert _get(record["url"])[0] == 404
            history = run_cli(["history", "--json"], hermetic_env)
            assert [r["status"] for r in _records(history.stdout)] == ["deleted"]
        else:
            assert record["delete_id"] is None
            assert deleted.returncode == 2
            assert b"has no DeletionURL" in deleted.stderr
            assert _get(record["url"])[0] == 200


def test_delete_by_the_printed_link_uses_the_recorded_deletion_url(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    config = tmp_path / "config.toml"
    image = write_png(tmp_path / "shot.png", seed=8)
    with sandbox_process() as base:
        sxcu = _write(tmp_path / "x.sxcu", xbackbone(base))
        run_cli(["--config", str(config), "config", "import-sxcu", str(sxcu)], hermetic_env)
        done = run_cli(
            ["--config", str(config), "upload", "-p", "xbackbone", str(image)], hermetic_env
        )
        link = done.stdout.decode().strip()
        assert link.startswith(base)
        deleted = run_cli(
            ["--config", str(config), "delete", link, "-p", "xbackbone"], hermetic_env
        )
        assert deleted.returncode == 0, deleted.stderr
        assert _get(link + "/raw")[0] == 404


def test_delete_by_sha256_prefix_through_the_history(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    config = tmp_path / "config.toml"
    image = write_png(tmp_path / "shot.png", seed=9)
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    with sandbox_process() as base:
        sxcu = _write(tmp_path / "c.sxcu", chevereto(base))
        run_cli(["--config", str(config), "config", "import-sxcu", str(sxcu)], hermetic_env)
        done = run_cli(
            ["--config", str(config), "upload", "-p", "chevereto", str(image)], hermetic_env
        )
        link = done.stdout.decode().strip()
        assert _get(link)[0] == 200
        deleted = run_cli(
            ["--config", str(config), "delete", digest[:12], "-p", "chevereto"], hermetic_env
        )
        assert deleted.returncode == 0, deleted.stderr
        assert _get(link)[0] == 404
        again = run_cli(
            ["--config", str(config), "delete", digest[:12], "-p", "chevereto"], hermetic_env
        )
    assert again.returncode == 2
    assert b"deleted already" in again.stderr


# -- malformed definitions --------------------------------------------------------------------

BROKEN = {
    "not-json": ('{"Name": "x", "RequestURL": ', "not JSON"),
    "unclosed": (None, ": URL: "),
    "no-file-field": (None, ": FileFormName: "),
}


def _broken(name: str, base: str) -> dict[str, Any] | str:
    text, _ = BROKEN[name]
    if text is not None:
        return text
    definition = chevereto(base)
    if name == "unclosed":
        definition["URL"] = "{json:image.url"
    else:
        del definition["FileFormName"]
    return definition


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_malformed_definition_is_one_line_at_import_and_as_sxcu_path(
    tmp_path: Path, hermetic_env: dict[str, str], name: str
) -> None:
    config = tmp_path / "config.toml"
    image = write_png(tmp_path / "shot.png")
    with sandbox_process() as base:
        sxcu = _write(tmp_path / "bad.sxcu", _broken(name, base))
        imported = run_cli(
            ["--config", str(config), "config", "import-sxcu", str(sxcu)], hermetic_env
        )
        config.write_text('[providers.bad]\nkind = "custom"\nsxcu = "bad.sxcu"\n')
        used = run_cli(["--config", str(config), "upload", "-p", "bad", str(image)], hermetic_env)
        sent = posts(base)
    message = BROKEN[name][1]
    for done in (imported, used):
        assert done.returncode == 2, done.stderr
        first, *rest = done.stderr.decode().splitlines()
        assert first.startswith(f"error: {sxcu}"), first
        assert message in first
        assert all(line.startswith("hint: ") for line in rest)
        assert b"Traceback" not in done.stderr
        assert done.stdout == b""
    assert sent == []


def test_a_json_path_the_answer_lacks_fails_the_upload_naming_file_and_key(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    config = tmp_path / "config.toml"
    image = write_png(tmp_path / "shot.png")
    with sandbox_process() as base:
        definition = dict(chevereto(base), URL="{json:image.permalink}")
        _write(tmp_path / "lacks.sxcu", definition)
        config.write_text(
            '[providers.c]\nkind = "custom"\nsxcu = "lacks.sxcu"\n',
        )
        done = run_cli(
            ["--config", str(config), "upload", "-p", "c", "-f", "json", str(image)],
            {**hermetic_env, "UPLOADER_C_X_API_KEY": KEY},
        )
    assert done.returncode == 5
    errors = [line for line in done.stderr.decode().splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert f"{tmp_path / 'lacks.sxcu'}: URL: " in errors[0]
    # No listing to look in: the hint sends the user to the host, not to a sign-in.
    assert "hint: look for it on the host before sending it again" in done.stderr.decode()
    (record,) = _records(done.stdout)
    assert record["status"] == "failed"
    assert record["url"] is None
    assert record["ambiguous"] is True  # the host answered 2xx: it may hold the file


@pytest.mark.parametrize(
    ("url", "code", "status"),
    [
        ("{responseurl}", 0, "uploaded"),  # where ShareX lands after the redirect
        ("{header:Location}", 0, "uploaded"),  # ShareX 13's ResponseType LocationHeader
        ("{json:image.url}", 5, "failed"),  # no JSON in a redirect: may exist, not "refused"
    ],
)
def test_chevereto_format_redirect_is_read_from_the_redirect_itself(
    tmp_path: Path, hermetic_env: dict[str, str], url: str, code: int, status: str
) -> None:
    config = tmp_path / "config.toml"
    image = write_png(tmp_path / "shot.png", seed=11)
    with sandbox_process() as base:
        definition = dict(chevereto(base), URL=url, Arguments={"format": "redirect"})
        definition.pop("ThumbnailURL")
        definition.pop("DeletionURL")
        sxcu = _write(tmp_path / "r.sxcu", definition)
        run_cli(["--config", str(config), "config", "import-sxcu", str(sxcu)], hermetic_env)
        done = run_cli(
            ["--config", str(config), "upload", "-p", "chevereto", "-f", "json", str(image)],
            hermetic_env,
        )
        sent = posts(base, "/upload")
        (record,) = _records(done.stdout)
        page = _get(record["url"])[0] if record["url"] else None
        again = run_cli(
            ["--config", str(config), "upload", "-p", "chevereto", "--skip-existing", str(image)],
            hermetic_env,
        )
        resent = posts(base, "/upload")
    assert done.returncode == code, done.stderr
    assert [r["status"] for r in sent] == [302]
    assert record["status"] == status
    if code == 0:
        assert record["url"].startswith(f"{base}/custom/chevereto/image/")
        assert page == 200
        assert again.returncode == 0  # the history has it: nothing sent again
    else:
        assert record["ambiguous"] is True
        assert "HTTP 302" not in done.stderr.decode()  # never "refused the upload"
        assert again.returncode == 5  # it may exist: not re-sent silently
    assert len(resent) == 1
    assert KEY.encode() not in done.stdout + done.stderr


# -- rate limits ------------------------------------------------------------------------------


def _profile(tmp_path: Path, base: str, env: dict[str, str]) -> Path:
    """Chevereto's definition imported as profile ``h``."""
    tmp_path.mkdir(exist_ok=True)
    config = tmp_path / "config.toml"
    sxcu = _write(tmp_path / "host.sxcu", chevereto(base))
    done = run_cli(
        ["--config", str(config), "config", "import-sxcu", str(sxcu), "--name", "h"], env
    )
    assert done.returncode == 0, done.stderr
    return config


def _statuses(base: str) -> list[int]:
    """The statuses the sandbox answered the custom uploads with, in order."""
    return [r["status"] for r in posts(base, "/upload")]


def test_a_429_with_retry_after_is_refused_or_waited_out_with_no_extra_send(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    images = [str(write_png(tmp_path / f"{n}.png", seed=n)) for n in range(2)]
    # No rate-limit headers: the client learns of the budget from the 429 alone.
    host = ("custom_limit=1", "custom_headers=none", "custom_retry_after=seconds")
    with sandbox_process(*host, "custom_window=600") as base:
        config = _profile(tmp_path, base, hermetic_env)
        first = run_cli(["--config", str(config), "upload", "-p", "h", images[0]], hermetic_env)
        failed = run_cli(
            ["--config", str(config), "upload", "-p", "h", "--on-limit", "fail", images[1]],
            hermetic_env,
        )
        # The next run remembers the 429's Retry-After (600 s, over --max-wait): not sent.
        held = run_cli(
            ["--config", str(config), "upload", "-p", "h", "--max-wait", "5", images[1]],
            hermetic_env,
        )
        statuses = _statuses(base)
    assert first.returncode == 0, first.stderr
    assert failed.returncode == 4, failed.stderr
    assert held.returncode == 4, held.stderr
    assert statuses == [200, 429]  # refused once, never sent again
    with sandbox_process(*host, "custom_window=3") as base:
        config = _profile(tmp_path / "again", base, hermetic_env)
        both = run_cli(["--config", str(config), "upload", "-p", "h", *images], hermetic_env)
        statuses = _statuses(base)
    assert both.returncode == 0, both.stderr
    # Sent together, one is refused (unless the 3 s window passed between them) and sent
    # again once, after the wait its Retry-After gave.
    assert statuses in ([200, 429, 200], [200, 200])


def test_remaining_zero_makes_the_next_upload_wait_for_the_reset(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    images = [str(write_png(tmp_path / f"{n}.png", seed=n)) for n in range(2)]
    with sandbox_process("custom_limit=1", "custom_window=600") as base:
        config = _profile(tmp_path, base, hermetic_env)
        first = run_cli(["--config", str(config), "upload", "-p", "h", images[0]], hermetic_env)
        refused = run_cli(
            ["--config", str(config), "upload", "-p", "h", "--on-limit", "fail", images[1]],
            hermetic_env,
        )
        held = run_cli(
            ["--config", str(config), "upload", "-p", "h", "--max-wait", "5", images[1]],
            hermetic_env,
        )
        limits = run_cli(["--config", str(config), "limits", "h"], hermetic_env)
        statuses = _statuses(base)
    assert first.returncode == 0, first.stderr
    assert refused.returncode == 4, refused.stderr
    assert held.returncode == 4, held.stderr  # the reset is 600 s away: over --max-wait
    assert statuses == [200]  # the limiter refused before sending, both times
    assert b"requests to 127.0.0.1:" in limits.stdout
    assert b"0 of 1 left" in limits.stdout or b"0/1" in limits.stdout, limits.stdout
    with sandbox_process("custom_limit=1", "custom_window=2") as base:
        config = _profile(tmp_path / "again", base, hermetic_env)
        first = run_cli(["--config", str(config), "upload", "-p", "h", images[0]], hermetic_env)
        second = run_cli(["--config", str(config), "upload", "-p", "h", images[1]], hermetic_env)
        statuses = _statuses(base)
    assert first.returncode == second.returncode == 0, second.stderr
    assert statuses == [200, 200]  # the second waited for the reset: no 429 was needed
