"""Check z3's incremental answers during a pair antecedent witness, against a fresh solver.

Usage: python3 scripts/incremental_answers.py [--quick UNITS] [--keep-cancelled] [--property ID] [--policy NAME]
                                             [--page-size BYTES]

Runs `pair_witness` (the self-test's coverage step) with a quick work limit of UNITS on every
escalating check (the engine itself stops quick checks by a conflict limit, which cancels nothing),
and after every escalating check that answers sat on the incremental solver it:
- evaluates every assertion and assumption in the returned model;
- asks a fresh solver the same assertions and assumptions.
Prints each check whose model breaks an assertion, with the fresh solver's answer, and exits 1
when there was one.

A session replaces its incremental solver after a cancelled check (engine/session.py).
`--keep-cancelled` turns that off, to show why: on the defaults, at 100,000 units, the cancelled
incremental solver then answers sat where a fresh solver answers unsat (with z3 5.4.0; at 500,000
units it does not).  Without the flag no answer should be contradicted at any budget.
"""

from __future__ import annotations

import argparse
import sys

import z3

import barcheck.engine.session as session_module
from barcheck.engine.harness_witness import pair_witness
from barcheck.engine.settings import RunSettings
from barcheck.engine.verdict import EncodingMismatch
from model.policies import get_policy
from properties import REGISTRY


def watch_escalating_checks(found: list[str]) -> None:
    """Wrap `Escalating.check` so every incremental sat answer is checked."""
    original = session_module.Escalating.check
    count = [0]

    def check(self, *assumptions):
        fresh_before = self.session.fresh_work
        result = original(self, *assumptions)
        count[0] += 1
        if result != z3.sat or self.session.fresh_work != fresh_before:
            return result
        every = list(self.session._solver.assertions()) + list(assumptions)
        model = self.model()
        broken = [a for a in every if not z3.is_true(model.eval(a, model_completion=True))]
        if broken:
            fresh = z3.SolverFor("QF_BV", ctx=self.session.ctx)
            fresh.add(*every)
            found.append(f"check {count[0]}: sat with a model that breaks "
                         f"{len(broken)} assertion(s); a fresh solver says {fresh.check()}; assumptions "
                         f"{[str(a) for a in assumptions]}")
        return result
    session_module.Escalating.check = check


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", type=int, default=100_000, help="escalation budget in work units")
    parser.add_argument("--property", default="alignment.preserved-across-realloc")
    parser.add_argument("--policy", default="linux-4.8+resource_alignment")
    parser.add_argument("--page-size", type=int, default=65536)
    parser.add_argument("--keep-cancelled", action="store_true",
                        help="keep asking an incremental solver after it was cancelled (the unsafe old way)")
    args = parser.parse_args()
    session_module.QUICK_RLIMIT = args.quick
    session_module.QUICK_CONFLICTS = 0
    if args.keep_cancelled:
        session_module.Session._rebuild = lambda self: None  # type: ignore[method-assign]
    found: list[str] = []
    watch_escalating_checks(found)
    try:
        witness = pair_witness(REGISTRY[args.property], get_policy(args.policy), args.page_size,
                               RunSettings().pair())
        outcome = f"witness {witness.status}"
    except EncodingMismatch as error:
        outcome = f"replay refused the witness: {error}"
    for line in found:
        print(line)
    print(f"{args.property} under {args.policy} at {args.page_size:#x}, budget {args.quick}: {outcome}; "
          f"{len(found)} incremental answer(s) contradicted")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
