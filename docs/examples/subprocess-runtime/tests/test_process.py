"""Collecting a command's output: UTF-8 across chunk boundaries, and the bound."""

from __future__ import annotations

from subprocess_runtime.process import BoundedText


def test_a_character_split_across_chunks_is_decoded_whole():
    text = BoundedText(10)
    text.feed("é".encode()[:1])
    text.feed("é".encode()[1:], final=True)
    assert (text.text(), text.truncated) == ("é", False)


def test_invalid_utf8_becomes_replacement_characters():
    text = BoundedText(10)
    text.feed(b"ok\xff", final=True)
    assert text.text() == "ok\ufffd"


def test_text_beyond_the_limit_is_dropped_and_flagged():
    text = BoundedText(3)
    text.feed(b"abcdef")
    text.feed(b"more", final=True)
    assert (text.text(), text.truncated) == ("abc", True)


def test_exactly_the_limit_is_not_truncation():
    text = BoundedText(3)
    text.feed(b"abc", final=True)
    assert (text.text(), text.truncated) == ("abc", False)
