"""A saved counterexample as a pytest regression test that replays it on the concrete semantics."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from barcheck.render.pages import label
from barcheck.inputs.textsafe import escape_control

EXPECTATIONS = ("holds", "violates")
MAX_NAME_CHARS = 150
"""Test names are file names (`<name>.py`): with this cap they stay far below NAME_MAX (255 bytes)."""


def pytest_function_name(result: dict[str, Any]) -> str:
    """`test_<id>` in identifier characters, at most MAX_NAME_CHARS; a longer id is cut and keeps a digest."""
    name = "test_" + re.sub(r"[^A-Za-z0-9_]", "_", result["id"]).strip("_").lower()
    if len(name) <= MAX_NAME_CHARS:
        return name
    digest = hashlib.sha256(result["id"].encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{name[:MAX_NAME_CHARS - len(digest) - 1]}_{digest}"


def pytest_source(result: dict[str, Any], expect: str, origin: str, name: str | None = None) -> str:
    """`expect="holds"` guards a fix (fails while the bug is there); `"violates"` pins a known bug.

    The summary in the docstring is `result["explanation"]`: give the replayed sentence, not a file's.
    """
    if expect not in EXPECTATIONS:
        raise ValueError(f"expect must be one of {EXPECTATIONS}")
    name = name or pytest_function_name(result)
    witness = json.dumps(result["replay"], indent=1, sort_keys=True)
    wanted = "holds" if expect == "holds" else "violates"
    message = ("still violates" if expect == "holds" else "no longer violates")
    summary = _docstring_safe(f"{label(result)}: {result['explanation']}")
    return f'''"""Regression test exported by `barcheck export-test` from {_docstring_safe(escape_control(origin))}.

{summary}

It replays the saved inputs on the concrete semantics of the current policy
code and expects the property to {"hold (the bug stays fixed)" if expect == "holds" else "stay violated (a known bug the model must keep reproducing)"}.
"""

import json

from barcheck.engine.witness import replay_witness

WITNESS = json.loads({witness!r})
LABEL = {label(result)!r}


def {name}():
    outcome = replay_witness(WITNESS)
    assert outcome.status != "invalid", f"the saved inputs break an assumption: {{outcome.detail}}"
    assert outcome.status == {wanted!r}, f"{{LABEL}} {message}: {{outcome.detail}}"
'''


def _docstring_safe(text: str) -> str:
    return escape_control(text).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
