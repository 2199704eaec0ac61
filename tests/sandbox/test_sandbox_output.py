"""The head-and-tail output budget."""

from codeyard.sandbox.output import OutputBuffer


def test_output_within_the_budget_is_kept_whole() -> None:
    buffer = OutputBuffer(10)
    for chunk in (b"abc", b"defg", b"hij"):
        buffer.feed(chunk)

    assert (buffer.truncated, buffer.text()) == (False, "abcdefghij")


def test_output_over_the_budget_keeps_head_and_tail_across_chunks() -> None:
    buffer = OutputBuffer(6)
    for chunk in (b"ab", b"cdef", b"ghijk", b"lm"):
        buffer.feed(chunk)

    assert buffer.truncated
    assert buffer.text() == "abc\n[... 7 bytes truncated ...]\nklm"


def test_invalid_utf8_is_replaced_not_raised() -> None:
    buffer = OutputBuffer(100)
    buffer.feed(b"ok \xff\xfe done")

    assert buffer.text() == "ok \ufffd\ufffd done"
