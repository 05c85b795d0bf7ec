"""Text from input files and paths, made safe to print on a terminal or in a one-line error.

`escape_control()` turns every character a terminal would act on instead of showing
(C0 and C1 controls, DEL, line and paragraph separators, bidirectional overrides) into a
visible `\\x1b` or `\\u202e` escape.  Ordinary printable text, accented letters and CJK
included, is left alone.  A backslash is not doubled, so escaping twice gives the same
text as escaping once and layers may each escape what they print.
"""

from __future__ import annotations

import re

_BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI_CONTROLS}]")
_UNSAFE_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029{_BIDI_CONTROLS}]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_control(text: str) -> str:
    """One printable line: every control character, newlines included, becomes `\\xNN` or `\\uNNNN`."""
    return _UNSAFE.sub(_escape, text)


def escape_control_lines(text: str) -> str:
    """Like escape_control(), but keeps `\\n` line breaks: for a multi-line report."""
    return _UNSAFE_BUT_NEWLINE.sub(_escape, text)


def excerpt(text: str, max_chars: int = 40) -> str:
    """A quoted, escaped and shortened piece of input for an error message: `'1234...' (5000 characters)`."""
    if len(text) <= max_chars:
        return f"'{escape_control(text)}'"
    return f"'{escape_control(text[:max_chars])}...' ({len(text)} characters)"
