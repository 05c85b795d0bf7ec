"""Which source files decide a verdict, and their digest (report.json's `meta.inputs_sha256`, the cache key)."""

from __future__ import annotations

import hashlib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INPUT_FOLDERS = ("model", "properties", "barcheck/engine")
"""The layers that decide a verdict: the semantics, the properties and the engine.  The CLI,
renderers, scenarios, host dumps, saved counterexamples, conformance and selftest sit above them."""


def inputs_digest(root: Path = PROJECT_ROOT) -> str:
    """SHA-256 over the path and bytes of every source file that can change report.json."""
    digest = hashlib.sha256()
    for folder in INPUT_FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
