"""Imgur's answers read as the real service may send them (reference 1.2, 1.4, 1.5): any
value missing, null, a string for a number, huge, negative or not a URL is never a crash
and never a misreport; a 200 that says "stored" without a usable link is ambiguous, never
re-sent."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cli import clock as fake_clock
from tests.support.cli import invoke, json_lines, lines
from tests.support.e2e import write_config
from tests.support.images import write_png
from tests.support.providers import config_of, imgur_toml
from uploader.auth.credentials import store_for
from uploader.auth.flows import save_imgur_tokens
from uploader.commands.runtime import Runtime
from uploader.errors import AuthError, ExitCode
from uploader.models import BucketUpdate
from uploader.providers.base import ProviderContext
from uploader.providers.imgur import ImgurProvider
from uploader.providers.imgur_media import listed_of
from uploader.ratelimit.headers import imgur_updates, retry_after_seconds

LINK = "https://i.imgur.com/AbCdEf1.png"
NO_FIGURES = {"data": {}, "success": True, "status": 200}  # /3/credits, nothing known


def _j(text: str) -> bytes:
    """``text`` with ``@L`` standing for the image link, as bytes."""
    return text.replace("@L", LINK).encode()


def _serve(body: bytes, seen: list[httpx.Request], status: int = 200) -> Runtime:
    """A runtime whose Imgur answers every call but /3/credits with ``body`` (raw JSON)."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/3/credits"):
            return httpx.Response(200, json=NO_FIGURES)
        request.read()
        seen.append(request)
        return httpx.Response(
            status, content=body, headers={"Content-Type": "application/json; charset=utf-8"}
        )

    time = fake_clock()  # every wait (retries, backoff) exact, none slept for real
    return Runtime(transport=httpx.MockTransport(answer), clock=time, sleep=time.sleep)


def _image_answer(fields: str) -> bytes:
    """A lookup answer whose image object is ``{"id": ..., "link": ..., <fields>}``."""
    head = '{"data": {"id": "AbCdEf1", "link": "@L", '
    return _j(head + fields + '}, "success": true, "status": 200}')


def _info(tmp_path: Path, body: bytes, *args: str) -> tuple[int, str, str]:
    config = str(write_config(tmp_path / "c.toml", "http://127.0.0.1:9", client_id="cid-1"))
    done = invoke(["--config", config, "info", "AbCdEf1", *args], runtime=_serve(body, []))
    return done.exit_code, done.stdout, done.stderr


# -- datetime: epoch seconds (reference 1.4), read whatever comes ----------------------------


@pytest.mark.parametrize(
    "raw",
    ["1e20", "1" + "0" * 30, "1" + "0" * 400, "-1e15", "-1", "true", '"soon"', "[1]", "null"],
)
def test_an_absurd_datetime_is_no_date_not_a_crash(tmp_path: Path, raw: str) -> None:
    code, out, err = _info(tmp_path, _image_answer(f'"datetime": {raw}'), "--json")
    assert (code, err) == (0, "")
    record = json.loads(out)
    assert record["created_at"] is None
    assert (record["id"], record["url"]) == ("AbCdEf1", LINK)
    code, out, err = _info(tmp_path, _image_answer(f'"datetime": {raw}'))
    assert (code, err) == (0, "")
    assert not any(line.startswith("created_at") for line in lines(out))


@pytest.mark.parametrize("raw", ["1700000000", "1700000000.0", '"1700000000"'])
def test_a_datetime_as_a_string_or_float_is_read(tmp_path: Path, raw: str) -> None:
    code, out, _ = _info(tmp_path, _image_answer(f'"datetime": {raw}'), "--json")
    assert code == 0
    assert datetime.fromisoformat(json.loads(out)["created_at"]).timestamp() == 1700000000


# -- counts: size, width, height, views -----------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1234", 1234),
        ('"1234"', 1234),
        ("1234.0", 1234),
        ("true", None),
        ("-3", None),
        ("12.5", None),
        ('"12 kB"', None),
        ("{}", None),
        ("1e400", None),
    ],
)
def test_the_size_is_a_count_or_nothing(tmp_path: Path, raw: str, expected: int | None) -> None:
    code, out, _ = _info(tmp_path, _image_answer(f'"size": {raw}'), "--json")
    assert code == 0
    assert json.loads(out)["size"] == expected


def test_width_height_and_views_stay_integers_whatever_their_json_type(tmp_path: Path) -> None:
    fields = '"width": "8", "height": 6.0, "views": -1, "name": {"x": 1}, "type": false'
    code, out, _ = _info(tmp_path, _image_answer(fields), "--json")
    assert code == 0
    record = json.loads(out)
    assert (record["width"], record["height"]) == (8, 6)
    assert type(record["width"]) is int
    assert type(record["height"]) is int
    assert "views" not in record  # a negative count says nothing
    assert "name" not in record  # an object is not a name
    assert record["type"] is None  # false is not a MIME type


def test_a_null_id_is_not_shown_as_the_text_none(tmp_path: Path) -> None:
    body = b'{"data": {"id": null, "link": "%s"}, "success": true, "status": 200}' % LINK.encode()
    code, out, _ = _info(tmp_path, body, "--json")
    assert code == 0
    assert json.loads(out)["id"] == "AbCdEf1"  # the id asked for, not "None"
    code, out, _ = _info(tmp_path, body)
    assert lines(out)[0] == "id: AbCdEf1"


def test_a_listing_with_absurd_values_neither_crashes_nor_invents_fields() -> None:
    item = {
        "id": "AbCdEf1",
        "link": LINK,
        "datetime": 10**400,
        "size": "120",
        "width": True,
        "height": -4,
    }
    listed = listed_of(item)
    assert listed is not None
    assert (listed.created_at, listed.size, listed.width, listed.height) == (
        None,
        120,
        None,
        None,
    )
    assert listed_of({**item, "link": 5}) is None  # no usable link: not a listed upload
    assert listed_of({**item, "id": None}) is None
    assert listed_of({**item, "datetime": "1700000000"}).created_at == 1700000000.0  # type: ignore[union-attr]


def test_the_listing_command_survives_a_huge_datetime(tmp_path: Path) -> None:
    huge = "1" + "0" * 400
    body = _j('{"data": [{"id": "AbCdEf1", "link": "@L", "datetime": ' + huge + "}], ")
    body += b'"success": true, "status": 200}'
    config = str(write_config(tmp_path / "c.toml", "http://127.0.0.1:9", client_id="cid-1"))
    env = {"UPLOADER_SB_ACCESS_TOKEN": "im-token"}
    done = invoke(["--config", config, "list", "--json"], env=env, runtime=_serve(body, []))
    assert done.exit_code == 0, done.stderr
    (row,) = json_lines(done.stdout)
    assert (row["id"], row["url"], row["created_at"]) == ("AbCdEf1", LINK, None)


# -- an upload's 200 that cannot be read: ambiguous, sent once -------------------------------


def _upload(
    tmp_path: Path, body: bytes, status: int = 200
) -> tuple[int, dict[str, Any], list[httpx.Request]]:
    config = str(write_config(tmp_path / "c.toml", "http://127.0.0.1:9", client_id="cid-1"))
    image = str(write_png(tmp_path / "a.png"))
    seen: list[httpx.Request] = []
    runtime = _serve(body, seen, status)
    done = invoke(["--config", config, "upload", "-f", "json", image], runtime=runtime)
    (record,) = json_lines(done.stdout)
    return done.exit_code, record, seen


@pytest.mark.parametrize(
    "link",
    ["12345", '{"a": 1}', '"javascript:alert(1)"', '"@L\\nfoo"', '""', "null", '"i.imgur.com/x"'],
)
def test_a_stored_upload_without_a_usable_link_is_ambiguous_and_not_resent(
    tmp_path: Path, link: str
) -> None:
    head = '{"data": {"id": "AbCdEf1", "deletehash": "hdYnH1gKz9YTHfS", "link": '
    body = _j(head + link + '}, "success": true, "status": 200}')
    code, record, seen = _upload(tmp_path, body)
    assert code == ExitCode.PROVIDER
    assert (record["status"], record["ambiguous"], record["url"]) == ("failed", True, None)
    assert "Imgur reported success but sent" in record["error"]
    assert "may or may not exist" in record["error"]
    assert len(seen) == 1  # never sent again


@pytest.mark.parametrize(
    "envelope",
    [
        '{"data": {"id": "AbCdEf1", "link": "@L"}, "success": "true", "status": 200}',
        '{"data": {"id": "AbCdEf1", "link": "@L"}, "status": 200}',
        '{"id": "AbCdEf1", "link": "@L"}',
        '[{"data": {"id": "AbCdEf1", "link": "@L"}, "success": true}]',
    ],
)
def test_a_200_outside_imgurs_envelope_is_ambiguous_not_called_non_json(
    tmp_path: Path, envelope: str
) -> None:
    code, record, seen = _upload(tmp_path, _j(envelope))
    assert code == ExitCode.PROVIDER
    assert (record["status"], record["ambiguous"]) == ("failed", True)
    assert "JSON that is not one of its answers" in record["error"]
    assert "body that is not JSON" not in record["error"]
    assert len(seen) == 1


def test_a_200_carrying_an_imgur_error_is_that_error(tmp_path: Path) -> None:
    body = b'{"data": {"error": "File type invalid (1)", "request": "/3/image", "method": "POST"}, '
    body += b'"success": false, "status": 400}'
    code, record, seen = _upload(tmp_path, body)
    assert code == ExitCode.PROVIDER
    assert (record["status"], record["ambiguous"]) == ("failed", False)
    assert record["error"] == "Imgur refused the file type: File type invalid (1) (HTTP 200)"
    assert len(seen) == 1


# -- delete: the Basic model's data must be true (reference 1.5) -----------------------------


@pytest.mark.parametrize(("data", "code"), [("true", 0), ("false", ExitCode.PROVIDER)])
def test_a_delete_answered_data_false_did_not_delete(tmp_path: Path, data: str, code: int) -> None:
    body = b'{"data": %s, "success": true, "status": 200}' % data.encode()
    config = str(write_config(tmp_path / "c.toml", "http://127.0.0.1:9", client_id="cid-1"))
    seen: list[httpx.Request] = []
    done = invoke(["--config", config, "delete", "hdYnH1gKz9YTHfS"], runtime=_serve(body, seen))
    assert done.exit_code == code
    assert [r.method for r in seen] == ["DELETE"]
    if code:
        assert lines(done.stderr)[0] == (
            "error: hdYnH1gKz9YTHfS (profile sb): Imgur did not delete image "
            'hdYnH1gKz9YTHfS: it answered "data": false (HTTP 200)'
        )
    else:
        assert "deleted Imgur image hdYnH1gKz9YTHfS" in done.stderr


# -- error bodies with absurd codes and messages (reference 1.2 #1-#4) ------------------------


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            400,
            '{"data": {"error": {"code": 1e400, "message": "x", "type": "ImgurException"}}, '
            '"success": false, "status": 400}',
            "Imgur refused the upload: x (HTTP 400)",
        ),
        (
            400,
            '{"data": {"error": {"code": true, "message": ["a"], "type": "ImgurException"}}, '
            '"success": false, "status": 400}',
            "Imgur refused the upload: no message (HTTP 400)",
        ),
        (
            400,
            '{"data": {"error": null, "request": "/3/image"}, "success": false, "status": 400}',
            "Imgur refused the upload: no message (HTTP 400)",
        ),
        (
            400,
            '{"data": {"error": "x"}, "success": false, "status": -1e400}',
            "Imgur refused the upload: x (HTTP 400)",
        ),
        (
            413,
            '{"id": "x", "code": 1e400, "detail": null, "status": "Request Entity Too Large"}',
            "Imgur refused the file: no message (HTTP 413)",
        ),
        (
            400,
            '{"data": {"error": {"code": 1002, "message": null}}, "success": false, "status": 400}',
            "Imgur refused the file: no message (HTTP 400)",
        ),
    ],
)
def test_absurd_codes_and_messages_in_error_bodies_are_read_not_crashed_on(
    tmp_path: Path, status: int, body: str, error: str
) -> None:
    code, record, seen = _upload(tmp_path, body.encode(), status)
    assert code == ExitCode.PROVIDER
    assert (record["status"], record["error"]) == ("failed", error)
    assert len(seen) == 1


# -- rate-limit headers: only plain ASCII numbers are numbers (reference 1.10) -----------------


@pytest.mark.parametrize(
    "odd", ["\u0661\u0662\u0663", "1_0", "\uff13\uff16\uff10\uff10", "0x10", "1e400"]
)
def test_a_header_number_in_another_script_or_spelling_is_not_read(odd: str) -> None:
    now = 1_000_000.0
    headers = {
        "X-RateLimit-UserLimit": odd,
        "X-RateLimit-UserRemaining": odd,
        "X-RateLimit-UserReset": odd,
        "X-Post-Rate-Limit-Limit": "1250",
        "X-Post-Rate-Limit-Remaining": odd,
        "X-Post-Rate-Limit-Reset": odd,
    }
    assert imgur_updates(headers, now) == [BucketUpdate("post", 1250, None, None)]
    assert retry_after_seconds(odd, now) is None


@pytest.mark.parametrize(
    ("raw", "value"), [(" 500 ", 500), ("+500", 500), ("500.0", 500), ("5e2", 500)]
)
def test_plain_header_numbers_still_read(raw: str, value: int) -> None:
    headers = {"X-RateLimit-UserLimit": raw, "X-RateLimit-UserRemaining": raw}
    assert imgur_updates(headers, 0.0) == [BucketUpdate("user", value, value, None)]


def test_a_string_datetime_in_another_script_is_no_date(tmp_path: Path) -> None:
    code, out, _ = _info(tmp_path, _image_answer('"datetime": "1_700_000_000"'), "--json")
    assert code == 0
    assert json.loads(out)["created_at"] is None
    code, out, _ = _info(tmp_path, _image_answer('"datetime": "\\u0661\\u0667\\u0660"'), "--json")
    assert json.loads(out)["created_at"] is None


# -- 5xx on an upload: retried, except a gateway's timeout (the file may be stored) ----------


@pytest.mark.parametrize("status", [504, 524])
def test_a_gateway_timeout_on_an_upload_is_ambiguous_and_not_resent(
    tmp_path: Path, status: int
) -> None:
    page = b"<html><head><title>504 Gateway Time-out</title></head></html>"
    code, record, seen = _upload(tmp_path, page, status)
    assert code == ExitCode.PROVIDER
    assert (record["status"], record["ambiguous"], record["url"]) == ("failed", True, None)
    assert (
        f"Imgur's gateway stopped waiting for the upload's answer (HTTP {status}"
        in (record["error"])
    )
    assert len(seen) == 1


def test_a_503_outage_page_on_an_upload_is_still_retried(tmp_path: Path) -> None:
    page = b"<html><head><title>503 client read error</title></head></html>"
    code, record, seen = _upload(tmp_path, page, 503)
    assert code == ExitCode.PROVIDER
    assert (record["status"], record["ambiguous"]) == ("failed", False)
    assert len(seen) > 1  # nothing was stored: the Varnish page says the body was not read


# -- token answers (reference 1.9): a token is a string; expires_in a number of seconds ------


def _refreshing(
    tmp_path: Path, env: dict[str, str], fresh: dict[str, Any], seen: list[str]
) -> ImgurProvider:
    """A signed-in provider (stored token "old-token", refreshable) whose server rejects
    the old token once and answers the refresh with ``fresh``."""
    store_for(env).update(
        "im",
        access_token="old-token",
        refresh_token="refresh-1",
        expires_at=1_000_000.0 + 86400,
        account_username="someone",
    )
    env["UPLOADER_IM_CLIENT_SECRET"] = "app-secret"

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.path} {request.headers.get('authorization', '')}")
        if request.url.path == "/imgur/oauth2/token":
            return httpx.Response(200, json=fresh)
        if request.headers["authorization"] == "Bearer old-token":
            error = {"error": "Unauthorized", "request": "/3/image/AbCdEf1", "method": "GET"}
            return httpx.Response(403, json={"data": error, "success": False, "status": 403})
        image = {"id": "AbCdEf1", "link": LINK}
        return httpx.Response(200, json={"data": image, "success": True, "status": 200})

    profile = config_of(imgur_toml("http://127.0.0.1:1/imgur"), tmp_path).profile("im")
    credential = ImgurProvider.resolve_credential(profile, env)
    http = httpx.Client(transport=httpx.MockTransport(handler))
    context = ProviderContext(profile, credential, http, clock=lambda: 1_000_000.0, env=env)
    return ImgurProvider(context)


@pytest.mark.parametrize("token", [12345, {"a": 1}, ["t"], True, ""])
def test_a_refresh_answer_whose_token_is_not_text_is_no_token(
    tmp_path: Path, hermetic_env: dict[str, str], token: object
) -> None:
    seen: list[str] = []
    provider = _refreshing(tmp_path, hermetic_env, {"access_token": token}, seen)
    with pytest.raises(AuthError) as raised:
        provider.info("AbCdEf1")
    assert raised.value.exit_code == ExitCode.AUTH
    assert raised.value.message.startswith("Imgur refused to refresh the access token")
    # Never sent as a token, never stored as one.
    assert seen == ["/imgur/3/image/AbCdEf1 Bearer old-token", "/imgur/oauth2/token "]
    assert store_for(hermetic_env).get("im")["access_token"] == "old-token"


@pytest.mark.parametrize(
    ("expires_in", "expires_at"),
    [
        (3600, 1_003_600.0),
        ("3600", 1_003_600.0),
        (315360000, 1_000_000.0 + 315360000),
        (True, None),
        ("soon", None),
        (-5, None),
        ("nan", None),
        ("1e400", None),
        (None, None),
        ("3_600", None),  # float() takes it; no server means it
        ("\uff13\uff16\uff10\uff10", None),  # full-width digits
    ],
)
def test_a_refresh_answer_expiry_is_seconds_or_unknown(
    tmp_path: Path, hermetic_env: dict[str, str], expires_in: object, expires_at: float | None
) -> None:
    seen: list[str] = []
    fresh = {"access_token": "new-token", "refresh_token": 7, "expires_in": expires_in}
    provider = _refreshing(tmp_path, hermetic_env, fresh, seen)
    assert provider.info("AbCdEf1").id == "AbCdEf1"
    assert seen[-1] == "/imgur/3/image/AbCdEf1 Bearer new-token"
    stored = store_for(hermetic_env).get("im")
    assert stored.get("expires_at") == expires_at
    assert stored["refresh_token"] == "refresh-1"  # 7 is not a refresh token: kept the old


@pytest.mark.parametrize(
    ("tokens", "saved"),
    [
        ({"access_token": "a1", "expires_in": "2419200"}, ("a1", None, 1_000_000.0 + 2419200)),
        ({"access_token": "a1", "refresh_token": "r1", "expires_in": "x"}, ("a1", "r1", None)),
        ({"access_token": "a1", "refresh_token": 5, "expires_in": "-1"}, ("a1", None, None)),
    ],
)
def test_a_sign_in_answer_is_saved_only_as_what_it_truly_says(
    tokens: dict[str, Any], saved: tuple[Any, ...]
) -> None:
    calls: list[dict[str, Any]] = []
    save_imgur_tokens(lambda **fields: calls.append(fields), tokens, 1_000_000.0)
    (fields,) = calls
    assert (fields["access_token"], fields["refresh_token"], fields["expires_at"]) == saved


@pytest.mark.parametrize(
    "token", [None, 5, {"a": 1}, "", "tok\nX-Evil: 1", "tok en", "t\u00f6ken", "tok\x00"]
)
def test_a_sign_in_answer_without_a_text_token_saves_nothing(token: object) -> None:
    calls: list[dict[str, Any]] = []
    with pytest.raises(AuthError, match=r"^Imgur.s sign-in answer has no access token$"):
        save_imgur_tokens(lambda **f: calls.append(f), {"access_token": token}, 0.0)
    assert calls == []


@pytest.mark.parametrize("data", ["null", "{}", '"none"', "true"])
def test_a_listing_without_its_list_is_an_error_not_no_uploads(tmp_path: Path, data: str) -> None:
    body = ('{"data": %s, "success": true, "status": 200}' % data).encode()  # noqa: UP031
    config = str(write_config(tmp_path / "c.toml", "http://127.0.0.1:9", client_id="cid-1"))
    env = {"UPLOADER_SB_ACCESS_TOKEN": "im-token"}
    done = invoke(["--config", config, "list"], env=env, runtime=_serve(body, []))
    assert done.exit_code == ExitCode.PROVIDER
    assert done.stdout == ""
    assert lines(done.stderr)[0].endswith("Imgur's listing answer has no list")
