"""What the trace and mapping engines share: the induction obligations, one query per clause.

A step or safety obligation is a list of named clauses that must follow from the literals
assumed.  They are asked one at a time, each with escalation to a fresh solver.  Asking
their conjunction first is slower here (measured: linux-4.8's inductive step went from 4 s
to 10 s), as one query over every clause is harder than the clauses apart.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from barcheck.engine.session import SAT, UNKNOWN, same_term
from model.ops import Ops

Clauses = Sequence[tuple[str, Any]]
CheckHard = Callable[..., tuple[Any, str]]


def first_failure(check_hard: CheckHard, ops: Ops, literals: Sequence[Any], clauses: Clauses, what: str,
                  known: dict | None = None) -> str:
    """"" when every clause follows from the literals; else why not, naming the first clause that fails.

    A clause whose term is one already assumed (`known`, by name) is skipped."""
    pending = [(name, flag) for name, flag in clauses
               if known is None or not same_term(known.get(name), flag)]
    for name, flag in pending:
        status, reason = check_hard(ops.negate(flag), *literals)
        if status == UNKNOWN:
            return f"unknown: {what} query for {name}: {reason}"
        if status == SAT:
            return f"{what} fails for invariant clause {name}"
    return ""
