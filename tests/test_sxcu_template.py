"""The ShareX template syntax (uploader/providers/sxcu_template.py, sxcu_answer.py).

Semantics checked against ShareX's ShareXSyntaxParser and CustomUploaderFunction* (read, not
copied): ``\\`` makes any next character literal, names are case-insensitive, arguments are
rendered first, ``{json:}`` has ``$.`` implied and casts booleans to ``True``/``False``.
"""

from __future__ import annotations

import contextlib
import json
import random

import pytest

from uploader.errors import ExitCode
from uploader.providers.sxcu_template import (
    Answer,
    TemplateContext,
    TemplateError,
    TemplateSyntaxError,
    check_template,
    render,
)

CHEVERETO = json.dumps(
    {
        "status_code": 200,
        "image": {
            "url": "https://img.example/i/a.png",
            "thumb": {"url": "https://img.example/t/a.png"},
            "delete_url": "https://img.example/d/a/xyz",
            "size": 1234,
            "ratio": 1.5,
            "whole": 2.0,
            "nsfw": False,
            "public": True,
            "tags": ["a", "b"],
            "meta": {"k": "v"},
            "nothing": None,
            "dot.key": "dotted",
        },
        "files": [{"url": "https://f/0"}, {"url": "https://f/1"}],
    }
)
XML = (
    '<?xml version="1.0"?><files><file id="7" kind="png"><url>https://x/1</url>'
    '<name>a<b>c</b>d</name></file><file id="8"><url>https://x/2</url></file></files>'
)
HEADERS = {"Location": "https://loc/1", "X-Delete": "https://del/1"}


def ctx(text: str = CHEVERETO, **kw: object) -> TemplateContext:
    answer = Answer(text=text, headers=HEADERS, url="https://final.example/up")
    return TemplateContext(answer=answer, filename="shot 1.png", **kw)  # type: ignore[arg-type]


def r(template: str, context: TemplateContext | None = None, key: str = "URL") -> str:
    return render(template, context or ctx(), source="h.sxcu", key=key)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{json:image.url}", "https://img.example/i/a.png"),
        ("{json:$.image.url}", "https://img.example/i/a.png"),
        ("{json:$image.url}", "https://img.example/i/a.png"),
        ("{json:image.thumb.url}", "https://img.example/t/a.png"),
        ("{json:files[1].url}", "https://f/1"),
        ("{json:files[0].url}", "https://f/0"),
        ("{json:image['dot.key']}", "dotted"),
        ('{json:image["url"]}', "https://img.example/i/a.png"),
        ("{json:['image'].size}", "1234"),
        ("{json:image.ratio}", "1.5"),
        ("{json:image.whole}", "2"),
        ("{json:image.nsfw}", "False"),
        ("{json:image.public}", "True"),
        ("{json:image.tags}", '["a","b"]'),
        ("{json:image.meta}", '{"k":"v"}'),
        ("{json:image.tags[1]}", "b"),
        ("{JSON:image.url}", "https://img.example/i/a.png"),
        ('{json:\\{"a":\\{"b":"c"\\}\\}|a.b}', "c"),
        ("{json:{response}|image.url}", "https://img.example/i/a.png"),
        ("{json:{json:image.meta}|k}", "v"),
    ],
)
def test_json_paths_render_as_sharex(template: str, expected: str) -> None:
    assert r(template) == expected


@pytest.mark.parametrize("path", ["[1].url", "$[1].url", "$.[1].url", "$..[1].url"])
def test_a_json_path_may_start_with_an_index(path: str) -> None:
    answer = '[{"url": "u0"}, {"url": "u1"}]'
    if path.startswith("$.."):
        with pytest.raises(TemplateError, match="recursive descent"):
            r("{json:" + path + "}", ctx(answer))
    else:
        assert r("{json:" + path + "}", ctx(answer)) == "u1"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{json:image.nope}", "h.sxcu: URL: the answer has no json path 'image.nope'"),
        ("{json:files[2].url}", "h.sxcu: URL: the answer has no json path 'files[2].url'"),
        ("{json:image.url.x}", "h.sxcu: URL: the answer has no json path 'image.url.x'"),
        ("{json:image[0]}", "h.sxcu: URL: the answer has no json path 'image[0]'"),
        ("{json:files.url}", "h.sxcu: URL: the answer has no json path 'files.url'"),
        ("{json:image.nothing}", "h.sxcu: URL: the answer's json path 'image.nothing' is null"),
        ("{json:Image.url}", "h.sxcu: URL: the answer has no json path 'Image.url'"),
    ],
)
def test_a_missing_json_path_is_a_template_error_naming_source_key_and_path(
    template: str, message: str
) -> None:
    with pytest.raises(TemplateError) as info:
        r(template)
    assert str(info.value) == message
    assert info.value.key == "URL"
    assert info.value.exit_code == ExitCode.PROVIDER


@pytest.mark.parametrize("key", ["URL", "ThumbnailURL", "DeletionURL"])
def test_template_error_carries_the_key_so_the_caller_can_choose(key: str) -> None:
    with pytest.raises(TemplateError) as info:
        r("{json:image.missing}", key=key)
    assert info.value.key == key
    assert str(info.value).startswith(f"h.sxcu: {key}: ")


@pytest.mark.parametrize("text", ["not json", "<a/>", "", "{", '{"a": NaN}', "[" * 100_000])
def test_an_answer_that_is_not_json_is_a_template_error(text: str) -> None:
    with pytest.raises(TemplateError, match=r"^h\.sxcu: URL: the answer is not JSON$"):
        r("{json:a}", ctx(text))


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{xml:/files/file[1]/url}", "https://x/1"),
        ("{xml:/files/file[2]/url}", "https://x/2"),
        ("{xml:files/file[2]/url}", "https://x/2"),
        ("{xml://url}", "https://x/1"),
        ("{xml://file[@id='8']/url}", "https://x/2"),
        ("{xml:/files/file/@kind}", "png"),
        ("{xml:/files/file[2]/@id}", "8"),
        ("{xml:/files/file/name}", "acd"),
        ("{xml:/files/file/name/text()}", "a"),
        ("{xml:/files/file[last()]/url}", "https://x/2"),
        ("{xml:{response}|//file[2]/url}", "https://x/2"),
    ],
)
def test_xpath_selects_the_first_node_value(template: str, expected: str) -> None:
    assert r(template, ctx(XML)) == expected


@pytest.mark.parametrize(
    ("template", "text", "message"),
    [
        ("{xml:/files/nope}", XML, "the answer has no xml node '/files/nope'"),
        ("{xml:/files/file/@nope}", XML, "the answer has no xml node '/files/file/@nope'"),
        ("{xml:/other/file}", XML, "the answer has no xml node '/other/file'"),
        ("{xml:/a}", "not xml", "the answer is not XML"),
        ("{xml:/a}", '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', "the answer's XML declares a DTD"),
    ],
)
def test_xml_misses_are_template_errors(template: str, text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        r(template, ctx(text))
    assert str(info.value).startswith(f"h.sxcu: URL: {message}")


REGEX_ANSWER = 'ok <a href="https://r/1.png">x</a> id=42 <a href="https://r/2.png">'


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{regex:https://[^"]+}', "https://r/1.png"),
        ('{regex:href="(.+?)"|1}', "https://r/1.png"),
        ('{regex:href="(?<url>.+?)"|url}', "https://r/1.png"),
        ("{regex:href=\"(?'url'.+?)\"|url}", "https://r/1.png"),
        ('{regex:href="(?P<u>[^"]+)"|u}', "https://r/1.png"),
        ("{regex:id=(\\\\d+)|1}", "42"),
        ("{regex:id=(?<n>\\\\d)\\\\k<n>?|n}", "4"),
        ('{regex:(?<=href=").+?(?=")}', "https://r/1.png"),
        ("{regex:abc-12-x|(\\\\d+)|1}", "12"),
        ("{regex:{response}|id=(\\\\d+)|1}", "42"),
        ('{regex:href="(.+?)"|0}', 'href="https://r/1.png"'),
    ],
)
def test_regex_forms(template: str, expected: str) -> None:
    assert r(template, ctx(REGEX_ANSWER)) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{regex:zzz}", "the answer has no match for the regex"),
        ("{regex:(a)|(b)|2}", "{regex} at 1: the regex has no group 2"),
        ("{regex:(x)?ok|1}", "the regex group '1' took no part in the match"),
    ],
)
def test_regex_misses_are_template_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        r(template, ctx(REGEX_ANSWER))
    assert str(info.value) == f"h.sxcu: URL: {message}"


def test_regex_input_is_capped() -> None:
    with pytest.raises(TemplateError, match="longer than 1 MiB"):
        r("{regex:a}", ctx("b" * (1 << 20) + "a"))
    assert r("{regex:a}", ctx("b" * ((1 << 20) - 1) + "a")) == "a"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{response}", CHEVERETO),
        ("{responseurl}", "https://final.example/up"),
        ("{header:Location}", "https://loc/1"),
        ("{header:location}", "https://loc/1"),
        ("{header:X-DELETE}", "https://del/1"),
        ("{Header: location }", "https://loc/1"),
        ("{filename}", "shot%201.png"),
        ("{input}", ""),
        ("{base64:user:pass}", "dXNlcjpwYXNz"),
        ("{base64:}", ""),
        ("a\\{b\\}c\\|d\\\\e\\:f", "a{b}c|d\\e:f"),
        ("{random:only|only}", "only"),
        ("https://{header:location}?", "https://https://loc/1?"),
    ],
)
def test_answer_side_functions(template: str, expected: str) -> None:
    assert r(template) == expected


def test_a_missing_header_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match=r"^h\.sxcu: URL: the answer has no header 'X-Nope'$"):
        r("{header:X-Nope}")


@pytest.mark.parametrize(
    ("key", "encode", "expected"),
    [
        ("RequestURL", "auto", "a%20b%2Fc%22.png"),
        ("Headers.X-Name", "auto", 'a b/c".png'),
        ("Arguments.name", "auto", 'a b/c".png'),
        ("Data", "json", 'a b/c\\".png'),
        ("Data", "xml", "a b/c&quot;.png"),
        ("RequestURL", "none", 'a b/c".png'),
    ],
)
def test_filename_is_encoded_as_sharex_encodes_it(key: str, encode: str, expected: str) -> None:
    context = TemplateContext(filename='a b/c".png')
    assert render("{filename}", context, source="s", key=key, encode=encode) == expected


def test_random_picks_through_the_context_and_defaults_to_real_randomness() -> None:
    picks = [
        render(
            "{random:a|b|c}", TemplateContext(random=lambda n, i=i: i), source="s", key="RequestURL"
        )
        for i in range(4)
    ]
    assert picks == ["a", "b", "c", "a"]
    random.seed(1)
    seen = {render("{random:a|b|c}", TemplateContext(), source="s", key="X") for _ in range(60)}
    assert seen == {"a", "b", "c"}


def test_secret_reads_the_store_and_a_missing_one_names_the_key() -> None:
    store = {"host-key": "s3cr3t"}
    context = TemplateContext(secret=store.get)
    assert render("Bearer {secret:host-key}", context, source="s", key="Headers.X") == (
        "Bearer s3cr3t"
    )
    with pytest.raises(TemplateError) as info:
        render("{secret:other}", context, source="s", key="Headers.X")
    assert str(info.value) == "s: Headers.X: no secret 'other' in the credential store"
    assert info.value.key == "Headers.X"
    with pytest.raises(TemplateError, match=r"^s: Headers\.Y: \{secret:k\} has no credential"):
        render("{secret:k}", TemplateContext(), source="s", key="Headers.Y")


def test_answer_function_rendered_without_an_answer_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match=r"^s: RequestURL: \{json\} reads the answer"):
        render("{json:a}", TemplateContext(), source="s", key="RequestURL")


# -- check_template ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "answer_side", "message"),
    [
        ("{json:image.url", True, "unclosed '{' at 1"),
        ("https://x/{filename", False, "unclosed '{' at 11"),
        ("{json:{response}|a", True, "unclosed '{' at 1"),
        ("{json:{response|a}", True, "a function name cannot hold '|' (at 16)"),
        ("{json", True, "unclosed '{' at 1"),
        ("ab}", True, "unmatched '}' at 3 (write \\} for a literal })"),
        ("a|b", True, "'|' outside a function at 2 (write \\| for a literal |)"),
        ("x\\", True, "a lone '\\' at 2, the end (write \\\\ for a backslash)"),
        ("{}", True, "an empty function name at 1"),
        ("{ :a}", True, "an empty function name at 1"),
        ("{a{b}}", True, "a function name cannot hold '{' (at 3)"),
        ("{foo}", True, "an unknown function at 1"),
        ("x{Bearer abc}", False, "an unknown function at 2"),
        ("{prompt}", False, "{prompt} at 1 asks for input at upload time; cron has no one to ask"),
        ("{inputbox:t|d}", False, "{inputbox} at 1 asks for input at upload time"),
        ("{select:a|b}", False, "{select} at 1 asks for input at upload time"),
        ("{outputbox:x}", True, "{outputbox} at 1 asks for input at upload time"),
        ("{output:x}", True, "{output} at 1 asks for input at upload time"),
        ("{json:image.url}", False, "{json} at 1 reads the answer, which a request value cannot"),
        ("{response}", False, "{response} at 1 reads the answer"),
        ("{header:X}", False, "{header} at 1 reads the answer"),
        ("{regex:a}", False, "{regex} at 1 reads the answer"),
        ("{xml:/a}", False, "{xml} at 1 reads the answer"),
        ("{responseurl}", False, "{responseurl} at 1 reads the answer"),
        ("{secret:k}", True, "{secret} at 1: an answer value is shown and stored, never a secret"),
        ("{json}", True, "{json} at 1 needs at least 1 argument(s)"),
        ("{json:a|b|c}", True, "{json} at 1 takes at most 2 argument(s)"),
        ("{random:a}", False, "{random} at 1 needs at least 2 argument(s)"),
        ("{filename:x}", False, "{filename} at 1 takes no arguments"),
        ("{base64}", False, "{base64} at 1 needs at least 1 argument(s)"),
        ("{json:}", True, "{json} at 1: an empty json path"),
        ("{json:a..b}", True, "{json} at 1: '..' (recursive descent) is not supported"),
        ("{json:a[*]}", True, "{json} at 1: only [N] and ['name'] are supported"),
        ("{json:a[-1]}", True, "{json} at 1: negative indexes are not supported"),
        ("{json:a[0}", True, "{json} at 1: an unclosed '[' in a json path"),
        ("{xml:}", True, "{xml} at 1: an empty xpath"),
        ("{xml:/a[}", True, "{xml} at 1: an xpath ElementTree cannot evaluate"),
        ("{regex:}", True, "{regex} at 1: an empty regex"),
        ("{regex:(}", True, "{regex} at 1: an invalid regex"),
        ("{regex:(a+)+b}", True, "{regex} at 1: a regex with a nested quantifier"),
        ("{regex:(x*)*}", True, "{regex} at 1: a regex with a nested quantifier"),
        ("{regex:((a+)b)*}", True, "{regex} at 1: a regex with a nested quantifier"),
        ("{regex:(a)|2}", True, "{regex} at 1: the regex has no group 2"),
        ("{regex:(a)|name}", True, "{regex} at 1: the regex has no group 'name'"),
        ("{header: }", True, "{header} at 1: an empty name"),
        ("{base64:" * 40 + "}" * 40, False, "templates nested more than 16 deep"),
    ],
)
def test_check_refuses_what_can_never_render(
    template: str, answer_side: bool, message: str
) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        check_template(template, answer_side=answer_side)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("template", "answer_side"),
    [
        ("https://host/upload", False),
        ("https://{random:a.example|b.example}/up", False),
        ("Basic {base64:user:{secret:pw}}", False),
        ("{filename}", False),
        ("{input}", False),
        ("{json:files[0].url}", True),
        ("{json:{response}|a}", True),
        ("{json:a[{random:0|1}]}", True),
        ("{regex:{response}|x(\\\\d)|1}", True),
        ("{regex:(?<u>a)|u}", True),
        ("{xml:/a/b[@c='d']}", True),
        ("{header:Location}", True),
        ("{FileName}", False),
        ("", True),
        ("plain: text with : colons", True),
    ],
)
def test_check_accepts_valid_templates(template: str, answer_side: bool) -> None:
    check_template(template, answer_side=answer_side)


def test_an_unknown_function_name_is_never_quoted() -> None:
    # the text between braces may be a key pasted where a template was expected
    with pytest.raises(TemplateSyntaxError) as info:
        check_template("Bearer {sk-live-12345}", answer_side=False)
    assert "sk-live" not in str(info.value)


@pytest.mark.parametrize(
    "template", ["{regex:(a)|sk-live-1}", "{json:sk-live-1[*]}", "{xml:sk-live-1[}"]
)
def test_a_request_value_is_refused_for_its_side_before_its_arguments_are_quoted(
    template: str,
) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        check_template("Bearer " + template, answer_side=False)
    assert "reads the answer, which a request value cannot" in str(info.value)
    assert "sk-live" not in str(info.value)


def test_render_of_an_unchecked_broken_template_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match=r"^s: URL: unclosed '\{' at 1$"):
        render("{json:a", ctx(), source="s", key="URL")


def test_the_rendered_value_is_capped() -> None:
    big = TemplateContext(answer=Answer("x" * (1 << 20), {}, ""))
    with pytest.raises(TemplateError, match="longer than 8 MiB"):
        render("{response}" * 9, big, source="s", key="URL")


# -- hostile input: nothing but the two template errors, ever ----------------------------------

_PIECES = [
    "{", "}", "|", ":", "\\", "json", "xml", "regex", "header", "random", "base64",
    "response", "responseurl", "filename", "input", "secret", "prompt", "a", ".", "[",
    "]", "0", "-1", "'", '"', "$", "(", ")", "+", "*", "?", "/", "@", "<", ">", "é", "\x00",
]  # fmt: skip
_ANSWERS = [
    CHEVERETO, XML, REGEX_ANSWER, "", "null", "[]", '{"a": [1, {"b": null}]}', "<a b='1'/>",
    "\x00\xff", "{" * 5000, "<a>" * 3000, '"str"', "1e999", "{\"a\": 1, \"a\": 2}",
]  # fmt: skip


def test_random_templates_against_random_answers_raise_only_template_errors() -> None:
    rng = random.Random(17)
    for _ in range(4000):  # bounded
        template = "".join(rng.choice(_PIECES) for _ in range(rng.randrange(1, 14)))
        side = rng.random() < 0.5
        with contextlib.suppress(TemplateSyntaxError):
            check_template(template, answer_side=side)
        answer = Answer(rng.choice(_ANSWERS), {"A": "1"}, "https://u")
        context = TemplateContext(answer=answer, secret=lambda name: None, random=rng.randrange)
        with contextlib.suppress(TemplateError):
            render(template, context, source="s", key="URL")
