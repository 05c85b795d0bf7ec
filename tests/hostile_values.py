"""Hypothesis strategies for hostile input: mutate a valid document (a parsed scenario or saved
counterexample) at a few paths, with values of every class the loaders must refuse cleanly.

The classes: wrong types, integers past Python's 4,300-digit limit, 2^64 and more, negative and
zero values, tiny widths and granules, malformed hex, control characters, nesting 200 deep, unknown
keys and missing keys.  A document is a tree of dicts and lists; `mutated()` draws paths from it
(inner nodes too, so whole tables can be replaced or dropped) and edits a copy.
"""

from __future__ import annotations

from typing import Any, Iterator

from hypothesis import strategies as st

HUGE_DIGITS = 5000
"""Past sys.get_int_max_str_digits() (4300 by default)."""
HUGE = "\0huge-integer\0"
"""Stands for a 5000-digit JSON integer: json.dumps cannot write one, so `to_json_text` splices it in."""
DELETE = object()
ADD_KEY = object()
DEEP = object()

CONTROL_TEXTS = ["\x1b[2J\x1b[H", "a\nb", "line\rNOT ISOLATED", "\x9b31m", "\u202eevil", "\x00", "\x7f", "tab\there"]
HEX_TEXTS = ["0x0", "0x1", "0x2", "0x3", "0x8", "0x10", "0x40", "0x1000", "0x3000", "0xfe001800",
             "0xffffffffffffffff", "0x10000000000000000", "0x" + "f" * HUGE_DIGITS, "-0x1", "-0x1000", "0X10",
             "0x_1", "0x1 ", " 0x1", "0x", "fe000000", "0xg", "0x00000000000000000001000"]
SIZE_TEXTS = ["0", "1", "3", "15", "16", "256", "3K", "4K", "64K", "1G", "2G", "4G", "16E", "1T",
              "0x8000000000000000", "0x10000000000000000", "18446744073709551616", "9223372036854775808",
              "9" * HUGE_DIGITS, "-4K", "4K..1G", "1..2", "any", "unassigned", ""]
WORDS = ["linux-4.8", "linux-6.10", "linux-4.8+enhanced_allocation", "nope", "mem32", "mem64", "io", "rom",
         "isolation.window", "revoke.complete", "pair", "trace", "vma", "record", "round-trip", "function",
         "any-free", "first-fit", "open", "mmap", "munmap", "rescan", "counterexample", "proved",
         "barcheck.witness/1", "barcheck.witness/2", "0000:01:01.0", "pci0000:00", "x" * 300]


def integers() -> st.SearchStrategy:
    edges = [0, 1, -1, 2, 4, 8, 16, 64, 4096, 2**31, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**64 + 1,
             -(2**63), 2**128, 10**30]
    return st.one_of(st.sampled_from(edges), st.integers(min_value=-(2**70), max_value=2**70))


def scalars(huge: Any) -> st.SearchStrategy:
    return st.one_of(
        integers(), st.just(huge), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(HEX_TEXTS), st.sampled_from(SIZE_TEXTS), st.sampled_from(WORDS),
        st.sampled_from(CONTROL_TEXTS), st.text(max_size=8),
    )


def values(huge: Any, with_null: bool) -> st.SearchStrategy:
    """Any hostile value: a scalar, a small container of scalars, or an edit marker."""
    base = scalars(huge)
    if with_null:
        base = st.one_of(base, st.none())
    containers = st.one_of(st.lists(base, max_size=3), st.dictionaries(st.sampled_from(["a", "kind", "x"]), base,
                                                                        max_size=2))
    return st.one_of(base, containers, st.sampled_from([DELETE, ADD_KEY, DEEP]))


def paths(root: Any, max_depth: int = 12) -> Iterator[tuple]:
    """Every path in the tree down to `max_depth`, inner nodes included (the root excluded), in document order."""
    todo = [(root, ())]
    while todo:
        node, prefix = todo.pop()
        if prefix:
            yield prefix
        if len(prefix) >= max_depth:
            continue
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        todo += reversed([(child, prefix + (key,)) for key, child in children])


def deep(depth: int, leaf: Any = 0) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


def apply(root: Any, path: tuple, value: Any) -> None:
    node = root
    for key in path[:-1]:
        node = node[key]
    last = path[-1]
    if value is DELETE:
        del node[last]
    elif value is ADD_KEY:
        target = node[last]
        if isinstance(target, dict):
            target["unknown_key"] = 1
        else:
            node[last] = {"unknown_key": target}
    elif value is DEEP:
        node[last] = deep(200)
    else:
        node[last] = value


def tree_copy(node: Any) -> Any:
    """A deep copy of a tree of dicts and lists (several times faster than copy.deepcopy)."""
    if isinstance(node, dict):
        return {key: tree_copy(child) for key, child in node.items()}
    if isinstance(node, list):
        return [tree_copy(child) for child in node]
    return node


_PATHS: dict[tuple[int, tuple], tuple[list[tuple], list[tuple]]] = {}


def _pools(document: Any, focus: tuple) -> tuple[list[tuple], list[tuple]]:
    key = (id(document), focus)
    if key not in _PATHS:
        every = list(paths(document))
        _PATHS[key] = (every, [p for p in every if p[:len(focus)] == focus and len(p) > len(focus)])
    return _PATHS[key]


def mutated(data: st.DataObject, document: Any, value_strategy: st.SearchStrategy, focus: tuple = (),
            edits: int = 3, by_key: dict[str, st.SearchStrategy] | None = None) -> Any:
    """A copy of `document` (a long-lived seed) with 1 to `edits` edits, at paths under `focus` half of the time.

    Paths are those of the seed; one that an earlier edit removed is skipped.  `by_key` gives plausible
    values for a field name (a size, an event name): half of the edits of such a field draw from it,
    so that inputs get past the first check and reach the deeper ones.
    """
    doc = tree_copy(document)
    every, focused = _pools(document, focus)
    for _ in range(data.draw(st.integers(1, edits))):
        pool = focused if focused and data.draw(st.booleans()) else every
        path = data.draw(st.sampled_from(pool))
        plausible = (by_key or {}).get(path[-1]) if isinstance(path[-1], str) else None
        strategy = plausible if plausible is not None and data.draw(st.booleans()) else value_strategy
        value = data.draw(strategy)
        try:
            apply(doc, path, value)
        except (KeyError, IndexError, TypeError):
            continue
    return doc


def to_json_text(doc: Any) -> str:
    """JSON text of a mutated document; HUGE becomes a 5000-digit integer, DEEP nesting is kept."""
    import json
    import sys
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        text = json.dumps(doc)
    finally:
        sys.setrecursionlimit(limit)
    return text.replace(json.dumps(HUGE), "9" * HUGE_DIGITS)
