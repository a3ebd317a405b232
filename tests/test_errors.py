"""The error tree: wrapping never changes the original error."""

from __future__ import annotations

from uploader.errors import ExitCode, NetworkError, RateLimitError, SkippedError, UploaderError


def test_rephrased_is_a_new_error_of_the_same_class_chained_to_the_old() -> None:
    original = NetworkError("connection refused by 127.0.0.1:9", hint="start it", sent=False)
    new = original.rephrased("abc (profile imgur): connection refused by 127.0.0.1:9")
    assert type(new) is NetworkError
    assert str(new) == new.message == "abc (profile imgur): connection refused by 127.0.0.1:9"
    assert new.args == ("abc (profile imgur): connection refused by 127.0.0.1:9",)
    assert new.sent is False
    assert new.hint == "start it"
    assert new.__cause__ is original
    assert original.message == str(original) == "connection refused by 127.0.0.1:9"
    assert original.__cause__ is None


def test_rephrased_sets_the_hint_and_named_fields_only_on_the_copy() -> None:
    original = RateLimitError("HTTP 429", from_server=True, bucket="post")
    new = original.rephrased("HTTP 429; the next try is allowed soon", hint="wait", reset_at=5.0)
    assert (new.hint, new.reset_at, new.bucket, new.from_server) == ("wait", 5.0, "post", True)
    assert (original.hint, original.reset_at) == (None, None)
    assert new.exit_code == ExitCode.RATE_LIMITED


def test_a_skipped_file_exits_with_its_cause_code() -> None:
    cause: UploaderError = RateLimitError("budget spent")
    skipped = SkippedError("not sent: budget spent", hint=None, exit_code=cause.exit_code)
    assert skipped.exit_code == ExitCode.RATE_LIMITED
