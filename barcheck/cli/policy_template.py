"""`barcheck new-policy NAME`: a commented policy file to start a patch's model from, and the rule list."""

from __future__ import annotations

import inspect
import re
from typing import Any

from barcheck.run.userpolicy import rules_of
from model.policies import BUILTIN, Policy


def class_name(policy_name: str) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", policy_name) if w]
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Patched"
    return name if name[0].isalpha() else f"Patch{name}"


def rule_lines(base: Policy) -> list[str]:
    """Per rule: `def rule(signature)` and the first line of its docstring, or `attribute = value`."""
    methods, attributes = [], []
    for rule, value in sorted(rules_of(type(base)).items()):
        if inspect.isfunction(value):
            doc = (inspect.getdoc(getattr(type(base), rule)) or "").splitlines()
            methods.append(f"def {rule}{_signature(getattr(type(base), rule))}")
            if doc:
                methods.append(f"    {doc[0]}")
        else:
            attributes.append(f"{rule} = {getattr(base, rule)!r}")
    return methods + attributes


def _signature(func: Any) -> str:
    return str(inspect.signature(func)).replace("'", "")


def render_template(policy_name: str, base_name: str) -> str:
    base = BUILTIN[base_name]
    base_cls = type(base)
    rules = "\n".join(f"    #   {line}" for line in rule_lines(base))
    return TEMPLATE.format(name=policy_name, cls=class_name(policy_name), base_cls=base_cls.__name__,
                           base_module=base_cls.__module__, base_name=base_name, rules=rules)


TEMPLATE = '''"""{name}: what my patch changes in vfio-pci, as a barcheck policy.

Check it:   barcheck prove --policy {name}.py
Compare:    barcheck diff --policy {base_name} --policy {name}.py

The class derives from the built-in policy `{base_name}` and overrides the
rules the patch changes; every other rule stays the kernel's.  Rules are
written once against `ops` and run both on integers and on Z3 bit-vectors, so:

- compute on words only with ops: ops.add, ops.sub, ops.bit_and, ops.lshr,
  ops.ult/ule/ugt/uge (never Python's +, -, <, >>, / or %);
- combine flags with ops.all_of, ops.any_of, ops.negate, and choose with
  ops.ite / ops.flag_ite (never Python's if, and, or, not on a flag);
- name helper methods with a leading underscore: any other name must be a
  rule of the base policy (a typo is reported, not silently ignored).

barcheck checks all of this when it loads the file: it runs every rule on
integers and on bit-vectors and compares the answers.  Loading this file
runs its Python code, so only load files you trust.
"""

from model.ops import Flag, Ops, Word  # noqa: F401
from model.pci import Bar  # noqa: F401
from model.policies.base import ProbeOutcome, ProbeRequest  # noqa: F401
from model.ranges import Range, align_down, align_up, is_aligned, span  # noqa: F401
from model.resource_tree import Child, request_resource  # noqa: F401
from {base_module} import {base_cls}


class {cls}({base_cls}):
    """{name}: one line saying what the patch changes (it is the policy's title in reports)."""

    name = "{name}"
    kernel_ref = "the patch: subject, lore link or commit id, and the functions it changes"

    # The rules of {base_name} you may override (barcheck new-policy --list-rules --base NAME):
{rules}
    #
    # Example: a patch that releases the sub-page reservation on VFIO_DEVICE_RESET.
    # releases_dummy_at_reset = True
    #
    # Example: a patch that also reserves the page of a sub-page BAR that does not start on a
    # page boundary (it drops the `!(res->start & ~PAGE_MASK)` test).
    # def may_reserve(self, ops: Ops, bar: Bar, page_bytes: Word) -> Flag:
    #     return ops.true()
'''
