"""A saved counterexample as a pytest regression test that replays it on the concrete semantics."""

from __future__ import annotations

import json
import re
from typing import Any

from barcheck.report.pages import label

EXPECTATIONS = ("holds", "violates")


def pytest_function_name(result: dict[str, Any]) -> str:
    return "test_" + re.sub(r"[^A-Za-z0-9_]", "_", result["id"]).strip("_").lower()


def pytest_source(result: dict[str, Any], expect: str, origin: str) -> str:
    """`expect="holds"` guards a fix (fails while the bug is there); `"violates"` pins a known bug."""
    if expect not in EXPECTATIONS:
        raise ValueError(f"expect must be one of {EXPECTATIONS}")
    witness = json.dumps(result["replay"], indent=1, sort_keys=True)
    wanted = "holds" if expect == "holds" else "violates"
    message = ("still violates" if expect == "holds" else "no longer violates")
    summary = _docstring_safe(f"{label(result)}: {result['explanation']}")
    return f'''"""Regression test exported by `barcheck export-test` from {_docstring_safe(origin)}.

{summary}

It replays the saved inputs on the concrete semantics of the current policy
code and expects the property to {"hold (the bug stays fixed)" if expect == "holds" else "stay violated (a known bug the model must keep reproducing)"}.
"""

import json

from barcheck.witness import replay_witness

WITNESS = json.loads({witness!r})
LABEL = {label(result)!r}


def {pytest_function_name(result)}():
    outcome = replay_witness(WITNESS)
    assert outcome.status != "invalid", f"the saved inputs break an assumption: {{outcome.detail}}"
    assert outcome.status == {wanted!r}, f"{{LABEL}} {message}: {{outcome.detail}}"
'''


def _docstring_safe(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
