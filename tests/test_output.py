"""Output formats: exact lines for each format."""

from __future__ import annotations

import json

import pytest

from uploader.models import UploadResult
from uploader.output import render

OK = UploadResult(
    path="shots/a [1].png",
    provider="imgur",
    status="uploaded",
    id="AbCdEf1",
    url="https://i.imgur.com/AbCdEf1.png",
    delete_id="hdYnH1gKz9YTHfS",
    extra=(("type", "image/png"),),
)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("url", "https://i.imgur.com/AbCdEf1.png"),
        ("markdown", "![a \\[1\\].png](https://i.imgur.com/AbCdEf1.png)"),
        ("html", '<img src="https://i.imgur.com/AbCdEf1.png" alt="a [1].png">'),
        ("bbcode", "[img]https://i.imgur.com/AbCdEf1.png[/img]"),
    ],
)
def test_text_formats(fmt: str, expected: str) -> None:
    assert render(OK, fmt) == expected


def test_title_is_used_as_alt_text_and_escaped() -> None:
    assert render(OK, "html", title='a "b" <c>') == (
        '<img src="https://i.imgur.com/AbCdEf1.png" alt="a &quot;b&quot; &lt;c&gt;">'
    )


def test_json_has_the_documented_keys() -> None:
    record = json.loads(render(OK, "json") or "")
    assert record == {
        "path": "shots/a [1].png",
        "provider": "imgur",
        "status": "uploaded",
        "id": "AbCdEf1",
        "url": "https://i.imgur.com/AbCdEf1.png",
        "delete_id": "hdYnH1gKz9YTHfS",
        "error": None,
        "ambiguous": False,
        "type": "image/png",
    }


def test_failed_result_prints_nothing_in_text_formats_but_json_line() -> None:
    failed = UploadResult(path="x.png", provider="imgur", status="failed", error="boom")
    assert render(failed, "url") is None
    record = json.loads(render(failed, "json") or "")
    assert record["status"] == "failed"
    assert record["error"] == "boom"
    assert record["url"] is None
    assert record["ambiguous"] is False
    lost = UploadResult(path="x.png", provider="imgur", status="failed", ambiguous=True)
    assert json.loads(render(lost, "json") or "")["ambiguous"] is True


def test_batch_report_keeps_one_line_per_file_and_sums_up_the_skipped() -> None:
    import io

    from uploader.errors import ProviderError
    from uploader.output import BatchReport, Console

    out, err = io.StringIO(), io.StringIO()
    report = BatchReport(Console(out, err), "url", title=None, batch=True)
    report.emit(OK, None)
    failed = UploadResult(path="b.png", provider="imgur", status="failed", error="boom")
    report.emit(failed, ProviderError("boom", hint="try later"))
    for name in ("c.png", "d.png"):
        skipped = UploadResult(
            path=name, provider="imgur", status="skipped", error="not sent: boom"
        )
        report.emit(skipped, ProviderError("not sent: boom"))
    report.finish()
    assert out.getvalue().split("\n") == ["https://i.imgur.com/AbCdEf1.png", "", "", "", ""]
    assert err.getvalue().splitlines() == [
        "error: b.png: boom",
        "hint: try later",
        "error: 2 files were not sent: boom",
    ]
    assert report.copied == ["https://i.imgur.com/AbCdEf1.png"]


@pytest.mark.parametrize(
    ("codes", "folded"),
    [
        ([], 0),
        ([0, 0], 0),
        ([0, 5], 6),
        ([0, 2], 6),
        ([5, 5], 5),
        ([2, 5], 5),  # nothing uploaded: the provider's failure, not the missing file
        ([2, 2], 2),
        ([2, 3, 5], 3),
    ],
)
def test_exit_codes_of_a_batch(codes: list[int], folded: int) -> None:
    from uploader.commands.upload import fold_exit_codes
    from uploader.errors import ExitCode

    assert fold_exit_codes([ExitCode(code) for code in codes]) == folded
