"""Reading and checking ShareX ``.sxcu`` definitions (uploader/providers/sxcu.py).

The three host definitions are written here from the shapes their projects document
(Chevereto's API v1 page, Zipline's and XBackBone's generated ShareX configs), not copied.
"""

from __future__ import annotations

import datetime
import json
import random
from pathlib import Path
from typing import Any

import pytest

from uploader.errors import ConfigError, ExitCode
from uploader.providers.sxcu import CustomSpec, SxcuError, load_sxcu, parse_sxcu

SECRET = "sk-live-9f8e7d6c5b4a"

CHEVERETO: dict[str, Any] = {
    "Version": "16.0.4",
    "Name": "Chevereto",
    "DestinationType": "ImageUploader, FileUploader",
    "RequestMethod": "POST",
    "RequestURL": "https://chevereto.example/api/1/upload",
    "Headers": {"X-API-Key": SECRET},
    "Body": "MultipartFormData",
    "Arguments": {"format": "json", "expiration": "PT5M"},
    "FileFormName": "source",
    "URL": "{json:image.url}",
    "ThumbnailURL": "{json:image.thumb.url}",
    "DeletionURL": "{json:image.delete_url}",
    "ErrorMessage": "{json:error.message}",
}
ZIPLINE: dict[str, Any] = {
    "Version": "15.0.0",
    "Name": "Zipline",
    "DestinationType": "ImageUploader, TextUploader, FileUploader",
    "RequestMethod": "POST",
    "RequestURL": "https://zipline.example/api/upload",
    "Headers": {"Authorization": SECRET, "Format": "random", "Embed": "true"},
    "Body": "MultipartFormData",
    "FileFormName": "file",
    "URL": "{json:files[0].url}",
}
XBACKBONE: dict[str, Any] = {
    "Version": "13.1.0",
    "DestinationType": "ImageUploader, TextUploader, FileUploader",
    "RequestMethod": "POST",
    "RequestURL": "https://xbackbone.example/upload",
    "Body": "MultipartFormData",
    "Arguments": {"token": SECRET},
    "FileFormName": "upload",
    "URL": "$json:url$",
    "ThumbnailURL": "$json:url$/raw",
    "DeletionURL": "$json:url$/delete/$json:token$",
}


H = "host.sxcu: "
CARRY = "cannot carry a file; use MultipartFormData (with FileFormName) or Binary"
NO_FIELD = "FileFormName: missing; Body MultipartFormData needs the file's field name"
ASKS = "asks for input at upload time; cron has no one to ask"
KNOWN = (
    "unknown type (known: ImageUploader, TextUploader, FileUploader, URLShortener,"
    " URLSharingService)"
)
DQ = "Expecting property name enclosed in double quotes)"
NEWER = "is newer than ShareX 19, the newest format known (read as that)"
USERINFO = "holds a user name or password (user:password@); use Headers"


def spec(raw: dict[str, Any], **changes: Any) -> CustomSpec:
    data = {**raw, **changes}
    for key in [k for k, v in data.items() if v is DROP]:
        del data[key]
    return parse_sxcu(data, "host.sxcu")


DROP = object()


def fails(raw: dict[str, Any], **changes: Any) -> str:
    with pytest.raises(SxcuError) as info:
        spec(raw, **changes)
    message = str(info.value)
    assert SECRET not in message
    assert "\n" not in message
    return message


def test_chevereto_definition() -> None:
    s = spec(CHEVERETO)
    assert s == CustomSpec(
        source="host.sxcu",
        name="Chevereto",
        version="16.0.4",
        destination_types=("ImageUploader", "FileUploader"),
        method="POST",
        request_url="https://chevereto.example/api/1/upload",
        headers=(("X-API-Key", SECRET),),
        body="MultipartFormData",
        arguments=(("format", "json"), ("expiration", "PT5M")),
        file_form_name="source",
        url="{json:image.url}",
        thumbnail_url="{json:image.thumb.url}",
        deletion_url="{json:image.delete_url}",
        error_message="{json:error.message}",
    )


def test_zipline_definition() -> None:
    s = spec(ZIPLINE)
    assert s.destination_types == ("ImageUploader", "TextUploader", "FileUploader")
    assert s.headers == (("Authorization", SECRET), ("Format", "random"), ("Embed", "true"))
    assert (s.file_form_name, s.url, s.thumbnail_url, s.deletion_url) == (
        "file",
        "{json:files[0].url}",
        None,
        None,
    )
    assert s.notices == ()


def test_xbackbone_definition_in_the_old_syntax_is_converted_with_a_notice() -> None:
    s = spec(XBACKBONE)
    assert s.name == "xbackbone.example"  # no Name: the host, as ShareX shows it
    assert s.url == "{json:url}"
    assert s.thumbnail_url == "{json:url}/raw"
    assert s.deletion_url == "{json:url}/delete/{json:token}"
    assert s.arguments == (("token", SECRET),)
    assert s.notices == (
        H + "written for ShareX 13.7.1 or older ($...$ syntax); converted as ShareX does",
    )


# -- defaults and value types -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"RequestMethod": DROP}, "method", "POST"),
        ({"RequestMethod": "put"}, "method", "PUT"),
        ({"RequestMethod": "Patch"}, "method", "PATCH"),
        ({"Body": DROP}, "body", "MultipartFormData"),
        ({"Body": "binary", "FileFormName": DROP}, "body", "Binary"),
        ({"Body": "Binary"}, "file_form_name", None),
        ({"DestinationType": "FileUploader"}, "destination_types", ("FileUploader",)),
        ({"DestinationType": "imageuploader"}, "destination_types", ("ImageUploader",)),
        (
            {"DestinationType": ["URLShortener", "ImageUploader"]},
            "destination_types",
            ("URLShortener", "ImageUploader"),
        ),
        (
            {"DestinationType": "ImageUploader,ImageUploader"},
            "destination_types",
            ("ImageUploader",),
        ),
        ({"Name": DROP}, "name", "chevereto.example"),
        ({"Name": "  "}, "name", "chevereto.example"),
        ({"Version": DROP}, "version", None),
        ({"URL": ""}, "url", None),
        ({"URL": None}, "url", None),
        ({"ThumbnailURL": DROP}, "thumbnail_url", None),
        (
            {"Headers": {"X-N": 5, "X-B": True, "X-F": 1.5}},
            "headers",
            (("X-N", "5"), ("X-B", "True"), ("X-F", "1.5")),
        ),
        ({"Arguments": {"n": 2.0, "f": False}}, "arguments", (("n", "2"), ("f", "False"))),
        ({"Parameters": {"a": "1"}}, "parameters", (("a", "1"),)),
        ({"Headers": None}, "headers", ()),
        ({"Data": '{"a": "{filename}"}'}, "data", '{"a": "{filename}"}'),
        (
            {"Data": "x"},
            "notices",
            (
                H + "Data: sent only with a JSON or XML Body, never with"
                " MultipartFormData (ignored)",
            ),
        ),
        ({"Data": " "}, "notices", ()),
        ({"Body": "Binary"}, "notices", (H + "Arguments: not sent with Body Binary (ignored)",)),
        ({"Body": "Binary", "Arguments": {}}, "notices", ()),
    ],
)
def test_defaults_and_values(changes: dict[str, Any], field: str, expected: object) -> None:
    assert getattr(spec(CHEVERETO, **changes), field) == expected


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"Headers": {"X-API-Key": None}}, H + "Headers.X-API-Key: must be a string, not null"),
        (
            {"Headers": {"X-API-Key": [SECRET]}},
            H + "Headers.X-API-Key: must be a string, not a list",
        ),
        ({"Arguments": {"k": {"v": SECRET}}}, H + "Arguments.k: must be a string, not an object"),
        ({"Parameters": {"k": None}}, H + "Parameters.k: must be a string, not null"),
        ({"Headers": [SECRET]}, H + "Headers: must be an object of names to strings"),
        ({"Arguments": SECRET}, H + "Arguments: must be an object of names to strings"),
        ({"Headers": {"": SECRET}}, H + "Headers: a name is empty"),
        (
            {"Headers": {"X Key": SECRET}},
            H + "Headers: a header name holds a character HTTP forbids",
        ),
        (
            {"Headers": {"X-K": SECRET + "\r\nX-Evil: 1"}},
            H + "Headers.X-K: the value holds a line break",
        ),
        ({"URL": ["{json:a}"]}, H + "URL: must be a string, not a list"),
        ({"RequestURL": {"u": 1}}, H + "RequestURL: must be a string, not an object"),
        ({"URL": datetime.date(2026, 1, 2)}, H + "URL: must be a string, not a date"),
        ({"FileFormName": ["source"]}, H + "FileFormName: must be a string, not a list"),
        (
            {"RequestMethod": "FETCH"},
            H + "RequestMethod: must be one of GET, POST, PUT, PATCH, DELETE",
        ),
        (
            {"Body": "Form"},
            H + "Body: must be one of None, MultipartFormData, FormURLEncoded, JSON, XML, Binary",
        ),
    ],
)
def test_wrong_types_name_the_key_and_never_the_value(
    changes: dict[str, Any], message: str
) -> None:
    assert fails(CHEVERETO, **changes) == message


def test_errors_are_config_errors_exit_2() -> None:
    with pytest.raises(ConfigError) as info:
        spec(CHEVERETO, RequestURL=DROP)
    assert info.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("key", "right"),
    [
        ("requesturl", "RequestURL"),
        ("url", "URL"),
        ("FILEFORMNAME", "FileFormName"),
        ("headers", "Headers"),
        ("Deletionurl", "DeletionURL"),
        ("requesttype", "RequestType"),
    ],
)
def test_a_key_in_another_case_names_the_right_spelling(key: str, right: str) -> None:
    assert fails(CHEVERETO, **{key: "x"}) == (H + f"{key}: spelled wrong: ShareX writes {right!r}")


def test_unknown_keys_are_each_a_notice() -> None:
    s = spec(CHEVERETO, Foo=1, Bar={"a": SECRET})
    assert s.notices == (
        H + "unknown key 'Foo' (ignored)",
        H + "unknown key 'Bar' (ignored)",
    )


@pytest.mark.parametrize(
    ("version", "notice"),
    [
        ("20.0.0", H + "Version: 20.0.0 " + NEWER),
        ("99", H + "Version: 99 " + NEWER),
        ("banana", H + "Version: not a version number (read as current)"),
        ("1.2.3.4.5", H + "Version: not a version number (read as current)"),
        (19.1, None),
        ("19.0.2", None),
        ("13.7.2", None),
        ("14", None),
    ],
)
def test_version_notices(version: object, notice: str | None) -> None:
    s = spec(CHEVERETO, Version=version)
    assert s.notices == ((notice,) if notice else ())


# -- DestinationType, Body, FileFormName ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("TextUploader", "this definition uploads no images or files (only TextUploader)"),
        (
            "URLShortener, URLSharingService",
            "this definition uploads no images or files (only URLShortener, URLSharingService)",
        ),
        ("None", "this definition uploads no images or files (only None)"),
        ("", KNOWN),
        ("ImageUploader, Video", KNOWN),
        (5, "must be a comma-separated string of types"),
        ({"a": 1}, "must be a comma-separated string of types"),
    ],
)
def test_destination_must_include_images_or_files(value: object, message: str) -> None:
    assert fails(CHEVERETO, DestinationType=value).startswith(H + f"DestinationType: {message}")


def test_a_definition_without_destination_serves_images_and_files_with_a_notice() -> None:
    raw = {k: v for k, v in CHEVERETO.items() if k != "DestinationType"}
    spec = parse_sxcu(raw, "c.sxcu")
    assert spec.destination_types == ("ImageUploader", "FileUploader")
    assert "c.sxcu: DestinationType: missing; read as ImageUploader, FileUploader" in spec.notices


def test_text_only_refusal_says_what_is_needed() -> None:
    assert fails(CHEVERETO, DestinationType="TextUploader").endswith(
        "; uploader needs ImageUploader or FileUploader"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"FileFormName": DROP}, H + "" + NO_FIELD),
        ({"FileFormName": "  "}, H + "" + NO_FIELD),
        ({"FileFormName": None}, H + "" + NO_FIELD),
        ({"Body": "FormURLEncoded"}, H + "Body: FormURLEncoded " + CARRY),
        ({"Body": "JSON", "Data": "{}"}, H + "Body: JSON " + CARRY),
        ({"Body": "xml"}, H + "Body: XML " + CARRY),
        ({"Body": "None"}, H + "Body: None " + CARRY),
        ({"Body": DROP, "FileFormName": DROP}, H + "Body: None " + CARRY),
    ],
)
def test_the_body_must_carry_the_file(changes: dict[str, Any], message: str) -> None:
    assert fails(CHEVERETO, **changes) == message


# -- RequestURL ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params", "expected_url", "expected_params"),
    [
        (
            "https://h.example/up?format=json&key=abc",
            None,
            "https://h.example/up",
            (("format", "json"), ("key", "abc")),
        ),
        (
            "https://h.example/up?b=2&a=1",
            {"c": "3"},
            "https://h.example/up",
            (("c", "3"), ("b", "2"), ("a", "1")),
        ),
        ("https://h.example/up?a=query", {"a": "param"}, "https://h.example/up", (("a", "param"),)),
        (
            "https://h.example/up?name=a%20b+c&flag",
            None,
            "https://h.example/up",
            (("name", "a b c"), ("flag", "")),
        ),
        (
            "https://h.example/up?n={random:a?b|c&d}",
            None,
            "https://h.example/up",
            (("n", "{random:a?b|c&d}"),),
        ),
        ("HTTP://h.example:8080/up", None, "http://h.example:8080/up", ()),
        (
            "https://{random:a.example|b.example}/up",
            None,
            "https://{random:a.example|b.example}/up",
            (),
        ),
        ("  https://h.example/  ", None, "https://h.example/", ()),
    ],
)
def test_a_query_string_moves_into_parameters(
    url: str, params: dict[str, str] | None, expected_url: str, expected_params: tuple[Any, ...]
) -> None:
    s = spec(CHEVERETO, RequestURL=url, Parameters=params)
    assert (s.request_url, s.parameters) == (expected_url, expected_params)


def test_a_query_name_already_in_parameters_is_a_notice_and_the_parameter_wins() -> None:
    s = spec(CHEVERETO, RequestURL="https://h.example/up?key=" + SECRET, Parameters={"key": "p"})
    assert s.parameters == (("key", "p"),)
    assert s.notices == (
        H + "RequestURL: query parameter 'key' also in Parameters or given twice;"
        " the first is kept",
    )
    assert SECRET not in s.notices[0]


def test_a_url_without_scheme_gets_https_as_sharex_does() -> None:
    s = spec(CHEVERETO, RequestURL="h.example/api/upload")
    assert s.request_url == "https://h.example/api/upload"
    assert s.notices == (H + "RequestURL: no scheme; https:// assumed (as ShareX)",)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "missing (the URL to send the file to)"),
        ("   ", "missing (the URL to send the file to)"),
        (None, "missing (the URL to send the file to)"),
        ("ftp://h.example/up", "must be an http:// or https:// URL"),
        ("file:///etc/passwd", "must be an http:// or https:// URL"),
        ("https:///up", "has no host"),
        ("https://:80/up", "has no host"),
        ("https://?a=1", "has no host"),
        (f"https://user:{SECRET}@h.example/up", USERINFO),
        ("https://user@h.example/up", USERINFO),
        (
            "https://h.example/{json:a}",
            "{json} at 19 reads the answer, which a request value cannot",
        ),
        ("https://h.example/{filename", "unclosed '{' at 19"),
    ],
)
def test_request_url_errors_name_the_key(url: str | None, message: str) -> None:
    assert fails(CHEVERETO, RequestURL=url) == H + f"RequestURL: {message}"


# -- templates in every value ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"URL": "{json:image.url"}, H + "URL: unclosed '{' at 1"),
        ({"ThumbnailURL": "https://t/{json:a"}, H + "ThumbnailURL: unclosed '{' at 11"),
        ({"DeletionURL": "{foo}"}, H + "DeletionURL: an unknown function at 1"),
        ({"ErrorMessage": "a}"}, H + "ErrorMessage: unmatched '}' at 2"),
        ({"Headers": {"X-API-Key": "{" + SECRET}}, H + "Headers.X-API-Key: unclosed '{' at 1"),
        (
            {"Headers": {"X-API-Key": "{" + SECRET + "}"}},
            H + "Headers.X-API-Key: an unknown function at 1",
        ),
        ({"Arguments": {"title": "{json:a}"}}, H + "Arguments.title: {json} at 1 reads the answer"),
        ({"Parameters": {"p": "{response}"}}, H + "Parameters.p: {response} at 1 reads the answer"),
        (
            {"RequestURL": "https://h.example/up?q={header:x}"},
            H + "RequestURL: {header} at 24 reads the answer",
        ),
        ({"URL": "{secret:k}"}, H + "URL: {secret} at 1: an answer value is shown and stored"),
        ({"Arguments": {"title": "{prompt:Title}"}}, H + "Arguments.title: {prompt} at 1 " + ASKS),
        ({"Headers": {"X-A": "{inputbox}"}}, H + "Headers.X-A: {inputbox} at 1 " + ASKS),
        (
            {"RequestURL": "https://{select:a.example|b.example}/"},
            H + "RequestURL: {select} at 9 " + ASKS,
        ),
        ({"URL": "{outputbox:{response}}"}, H + "URL: {outputbox} at 1 " + ASKS),
        ({"URL": "{output:x}"}, H + "URL: {output} at 1 " + ASKS),
    ],
)
def test_template_errors_name_source_and_key_never_the_value(
    changes: dict[str, Any], message: str
) -> None:
    assert fails(CHEVERETO, **changes).startswith(message)


def test_valid_request_templates_pass() -> None:
    s = spec(
        CHEVERETO,
        Headers={"Authorization": "Basic {base64:u:{secret:pw}}"},
        Arguments={"name": "{filename}", "host": "{random:a|b}", "in": "{input}"},
    )
    assert s.headers == (("Authorization", "Basic {base64:u:{secret:pw}}"),)


# -- old files ----------------------------------------------------------------------------------

OLD: dict[str, Any] = {
    "Name": "Old host",
    "DestinationType": "ImageUploader",
    "RequestType": "POST",
    "RequestURL": "https://old.example/upload.php",
    "FileFormName": "file",
    "Arguments": {"key": SECRET},
    "RegexList": ['href="(.+?)"', "id=(\\d+)"],
    "ResponseType": "Text",
    "URL": "$regex:1|1$",
    "ThumbnailURL": "$regex:2,1$",
    "DeletionURL": "https://old.example/del/$regex:2$ \\$5 {x|y}",
}


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({}, "url", '{regex:href="(.+?)"|1}'),
        ({}, "thumbnail_url", "{regex:id=(\\\\d+)|1}"),
        ({}, "deletion_url", "https://old.example/del/{regex:id=(\\\\d+)} $5 \\{x\\|y\\}"),
        ({}, "body", "MultipartFormData"),
        ({"RequestType": "GET", "Body": "Binary"}, "method", "GET"),
        ({"RequestType": "GET", "RequestMethod": "PUT", "Body": "Binary"}, "method", "PUT"),
        ({"RequestType": "PUT", "Body": "Binary"}, "body", "Binary"),
        ({"ResponseType": "RedirectionURL", "URL": DROP}, "url", "{responseurl}"),
        ({"ResponseType": "RedirectionURL", "URL": "$response$?x"}, "url", "{responseurl}?x"),
        ({"ResponseType": "LocationHeader", "URL": DROP}, "url", "{header:Location}"),
        ({"ResponseType": "LocationHeader", "URL": "$response$"}, "url", "{header:Location}"),
        ({"Version": "12.3.1"}, "url", '{regex:href="(.+?)"|1}'),
        (
            {"Version": "13.7.1", "RequestType": DROP, "ResponseType": DROP},
            "url",
            '{regex:href="(.+?)"|1}',
        ),
        (
            {
                "Version": "13.7.2",
                "RequestType": DROP,
                "ResponseType": DROP,
                "RegexList": DROP,
                "URL": "{json:a}",
                "ThumbnailURL": DROP,
                "DeletionURL": DROP,
            },
            "url",
            "{json:a}",
        ),
        (
            {
                "RequestType": DROP,
                "ResponseType": DROP,
                "RegexList": DROP,
                "URL": "$json:files[0].url$",
                "ThumbnailURL": "$header:X-Thumb$",
                "DeletionURL": DROP,
            },
            "thumbnail_url",
            "{header:X-Thumb}",
        ),
        (
            {"Headers": {"Authorization": "Basic $base64:u:p$"}},
            "headers",
            (("Authorization", "Basic {base64:u:p}"),),
        ),
        (
            {"RequestURL": "https://$random:a.example|b.example$/up"},
            "request_url",
            "https://{random:a.example|b.example}/up",
        ),
        ({"Data": "$filename$ $INPUT$"}, "data", "{filename} {input}"),
    ],
)
def test_old_files_are_converted_as_sharex_does(
    changes: dict[str, Any], field: str, expected: object
) -> None:
    assert getattr(spec(OLD, **changes), field) == expected


def test_old_get_definition_sends_its_arguments_as_parameters() -> None:
    s = spec(OLD, RequestType="GET", Body="Binary")
    assert (s.arguments, s.parameters) == ((("key", SECRET),), ())
    with pytest.raises(SxcuError, match=r"^host\.sxcu: Body: None cannot carry a file"):
        spec(OLD, RequestType="GET")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"URL": "$regex:3|1$"},
            H + "URL: $regex:3$ refers to RegexList entry 3, which the file lacks",
        ),
        ({"URL": "$regex:x$"}, H + "URL: an old $regex:N$ reference without an entry number"),
        (
            {"RegexList": DROP},
            H + "URL: $regex:1$ refers to RegexList entry 1, which the file lacks",
        ),
        ({"URL": "$json:a"}, H + "URL: an unclosed '$' (old syntax)"),
        ({"URL": "$nope:a$"}, H + "URL: an unknown function in old $...$ syntax"),
        ({"Arguments": {"k": "$" + SECRET}}, H + "Arguments.k: an unclosed '$' (old syntax)"),
        ({"ResponseType": "Headers"}, H + "ResponseType: Headers cannot be converted"),
        (
            {"ResponseType": "Weird"},
            H + "ResponseType: must be Text, RedirectionURL or LocationHeader",
        ),
        ({"RegexList": "a"}, H + "RegexList: must be a list of strings"),
        ({"URL": "$prompt:Title$"}, H + "URL: {prompt} at 1 asks for input at upload time"),
        ({"Arguments": {"d": "$select:a|b$"}}, H + "Arguments.d: {select} at 1 asks for input"),
    ],
)
def test_what_an_old_file_cannot_convert_is_refused(changes: dict[str, Any], message: str) -> None:
    assert fails(OLD, **changes).startswith(message)


def test_old_keys_in_a_current_file_are_a_notice() -> None:
    s = spec(CHEVERETO, RequestType="GET")
    assert s.method == "POST"
    assert s.notices == (
        H + "old keys (RequestType, ResponseType, RegexList) ignored for this Version",
    )


def test_dollar_text_in_a_current_file_is_literal() -> None:
    s = spec(CHEVERETO, URL="{json:image.url}?p=$json:x$")
    assert s.url == "{json:image.url}?p=$json:x$"
    assert s.notices == ()


# -- files --------------------------------------------------------------------------------------


def write(tmp_path: Path, data: bytes, name: str = "host.sxcu") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_load_reads_a_file_with_or_without_bom(tmp_path: Path) -> None:
    body = json.dumps(ZIPLINE).encode()
    for data in (body, b"\xef\xbb\xbf" + body):
        path = write(tmp_path, data, "zip line.sxcu")
        s = load_sxcu(path)
        assert s.source == str(path)
        assert s.url == "{json:files[0].url}"


@pytest.mark.parametrize(
    "text",
    [
        # Newtonsoft, ShareX's reader, ignores comments and trailing commas by default:
        # hand-edited files that ShareX imports are read the same.
        '// Zipline\n{"Name": "Zipline", /* the host */ "RequestURL": "https://z.example/u",'
        ' "FileFormName": "file", "Headers": {"Authorization": "k",},\n}\n// end',
        '{\r\n "Name": "Zipline", // a name\r\n "RequestURL": "https://z.example/u",\r\n'
        ' "FileFormName": "file", "Headers": {"Authorization": "k" , } , }',
        '/**/{"Name":"Zipline","RequestURL":"https://z.example/u","FileFormName":"file",'
        '"Headers":{"Authorization":"k"},"DestinationType":["ImageUploader",],}',
    ],
)
def test_load_reads_comments_and_trailing_commas_as_sharex_does(tmp_path: Path, text: str) -> None:
    s = load_sxcu(write(tmp_path, b"\xef\xbb\xbf" + text.encode()))
    assert (s.name, s.request_url, s.file_form_name) == ("Zipline", "https://z.example/u", "file")
    assert s.headers == (("Authorization", "k"),)


def test_comment_and_comma_look_alikes_inside_strings_are_kept(tmp_path: Path) -> None:
    raw = dict(ZIPLINE, URL="{json:files[0].url}//,", Arguments={"a": "/* x */", "b": ",]"})
    text = json.dumps(raw) + " // trailing"
    s = load_sxcu(write(tmp_path, text.encode()))
    assert s.url == "{json:files[0].url}//,"
    assert s.arguments == (("a", "/* x */"), ("b", ",]"))


def test_load_names_a_nameless_definition_after_the_file(tmp_path: Path) -> None:
    raw = {k: v for k, v in ZIPLINE.items() if k != "Name"}
    assert load_sxcu(write(tmp_path, json.dumps(raw).encode(), "my-host.sxcu")).name == "my-host"


def test_load_keeps_numbers_as_written(tmp_path: Path) -> None:
    raw = dict(CHEVERETO, Headers={"X-N": 1.50, "X-I": 10**30})
    text = json.dumps(raw).replace("1.5", "1.50")
    s = load_sxcu(write(tmp_path, text.encode()))
    assert s.headers == (("X-N", "1.50"), ("X-I", str(10**30)))


def test_load_reads_a_huge_number_as_written(tmp_path: Path) -> None:
    digits = "9" * 5000  # past Python's int-from-text limit: kept as text, never converted
    text = json.dumps(dict(CHEVERETO, Arguments={"n": 0})).replace('"n": 0', '"n": ' + digits)
    assert load_sxcu(write(tmp_path, text.encode())).arguments == (("n", digits),)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not JSON (line 1 column 1: Expecting value)"),
        (b'{\n  "URL": "a"\n  "Name": "b"}', "not JSON (line 3 column 3: Expecting ',' delimiter)"),
        # ShareX's leniency (comments, a trailing comma) does not hide the real error,
        # and a position still points into the file as written.
        (b'// c\n{"URL": "a",,\n}', "not JSON (line 3 column 1: " + DQ),
        (
            b'{"URL": "a", /* c */\n  "Name" "b",}',
            "not JSON (line 2 column 10: Expecting ':' delimiter)",
        ),
        (b'{"URL": "a" /* never ends\n}', "not JSON (line 1: a /* comment never ends)"),
        (b"<xml/>", "not JSON (line 1 column 1: Expecting value)"),
        (b"[1, 2]", "not a JSON object (an .sxcu file is one {...} object)"),
        (b'"text"', "not a JSON object (an .sxcu file is one {...} object)"),
        (b"null", "not a JSON object (an .sxcu file is one {...} object)"),
        (b'{"URL": "\xff"}', "not UTF-8 text (bad byte at offset 9)"),
        (b'{"a": NaN}', "not JSON (NaN and Infinity are not JSON numbers)"),
        (b'{"a": -Infinity}', "not JSON (NaN and Infinity are not JSON numbers)"),
        (b"[" * 200_000 + b"]" * 200_000, "not JSON (nested too deep)"),
        (b'{"URL": "a", "URL": "b"}', "key 'URL' appears twice"),
        (b'{"Headers": {"K": "' + SECRET.encode() + b'", "K": "x"}}', "key 'K' appears twice"),
    ],
)
def test_load_refuses_what_is_not_one_json_object(
    tmp_path: Path, data: bytes, message: str
) -> None:
    path = write(tmp_path, data)
    with pytest.raises(SxcuError) as info:
        load_sxcu(path)
    assert str(info.value) == f"{path}: {message}"
    assert SECRET not in str(info.value)


def test_load_refuses_a_file_too_big(tmp_path: Path) -> None:
    path = write(tmp_path, b" " * ((4 << 20) + 1))
    with pytest.raises(SxcuError, match=r": larger than 4 MiB; not an \.sxcu file$"):
        load_sxcu(path)
    assert load_sxcu(write(tmp_path, json.dumps(CHEVERETO).encode().ljust(4 << 20))).url


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing", "No such file or directory"),
        ("directory", "Is a directory"),
        ("under a file", "Not a directory"),
    ],
)
def test_load_says_why_a_file_cannot_be_read(tmp_path: Path, kind: str, reason: str) -> None:
    path = tmp_path / "host.sxcu"
    if kind == "directory":
        path.mkdir()
    elif kind == "under a file":
        (tmp_path / "plain").write_text("{}")
        path = tmp_path / "plain" / "host.sxcu"
    with pytest.raises(SxcuError) as info:
        load_sxcu(path)
    assert str(info.value) == f"{path}: cannot be read ({reason})"


def test_the_malformed_files_of_the_issue_each_give_one_line_naming_file_and_key(
    tmp_path: Path,
) -> None:
    cases = {
        "notjson.sxcu": (b"{nope", "not JSON (line 1 column 2: "),
        "brace.sxcu": (
            json.dumps(dict(CHEVERETO, URL="{json:image.url")).encode(),
            "URL: unclosed '{' at 1",
        ),
        "nofield.sxcu": (
            json.dumps({k: v for k, v in CHEVERETO.items() if k != "FileFormName"}).encode(),
            "" + NO_FIELD,
        ),
    }
    for name, (data, message) in cases.items():
        path = write(tmp_path, data, name)
        with pytest.raises(SxcuError) as info:
            load_sxcu(path)
        assert str(info.value).startswith(f"{path}: {message}")
        assert "\n" not in str(info.value)


def test_hostile_files_give_an_sxcu_error_or_a_spec_never_anything_else(tmp_path: Path) -> None:
    rng = random.Random(1717)
    good = json.dumps(CHEVERETO).encode()
    path = tmp_path / "fuzz.sxcu"
    for _ in range(1500):  # bounded
        choice = rng.random()
        if choice < 0.3:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
        elif choice < 0.8:
            mutated = bytearray(good)
            for _ in range(rng.randrange(1, 6)):
                mutated[rng.randrange(len(mutated))] = rng.choice(b'{}[]":,\\$|0aZ \xff')
            data = bytes(mutated)
        else:
            raw = dict(CHEVERETO)
            key = rng.choice([*CHEVERETO, "Parameters", "Data", "RegexList", "RequestType"])
            raw[key] = rng.choice(
                [None, 1, 1e308, True, [], {}, {"a": []}, "", "$", "{", "$regex:9$", "x" * 999]
            )
            data = json.dumps(raw).encode()
        path.write_bytes(data)
        try:
            s = load_sxcu(path)
        except SxcuError as exc:
            message = str(exc)
        else:
            message = ""
            assert isinstance(s, CustomSpec)
            assert all(SECRET not in n for n in s.notices)
        assert "\n" not in message
        assert SECRET not in message


def test_load_refuses_a_fifo_without_waiting_for_a_writer(tmp_path: Path) -> None:
    import os

    path = tmp_path / "host.sxcu"
    os.mkfifo(path)
    with pytest.raises(SxcuError) as info:
        load_sxcu(path)
    assert str(info.value) == f"{path}: cannot be read (not a regular file)"
