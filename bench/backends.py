"""Benchmark: z3 against other bit-vector solvers on barcheck's own decision queries.

Usage: python3 bench/backends.py [--page-size 65536] [--limit N]
Needs `pip install bitwuzla cvc5` for the other back ends; a missing one is reported and skipped.

Every pair check of the catalogue at one page size is exported as the SMT-LIB
text of its two decision queries (vacuity, then violation) exactly as
--verdicts-only asks z3: the domain, every assumption and the goal asserted
outright.  Each solver parses the same text in-process and answers it once; the
answers must agree.  Printed: per-solver total and median seconds, the number of
queries where each is fastest, and the ratio to z3.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import z3

from barcheck.engine.encode import symbolic_scenario
from model.ops_z3 import SymbolicOps
from model.policies import catalogue, get_policy
from model.scenario import Shape
from properties import REGISTRY


def queries(page_bytes: int, limit: int | None) -> list[tuple[str, str]]:
    out = []
    for prop_id in sorted(REGISTRY):
        prop = REGISTRY[prop_id]
        policies = [get_policy("qemu-subpage")] if prop.needs_vmm else catalogue()
        for policy in policies:
            shape, ctx = Shape(), z3.Context()
            ops = SymbolicOps(shape.width, ctx)
            scenario, domain = symbolic_scenario(shape, page_bytes, ctx)
            ev = prop.evaluate(ops, scenario, policy, shape)
            for goal_name, goal in (("vacuity", ev.antecedent), ("violation", ops.negate(ev.holds))):
                solver = z3.SolverFor("QF_BV", ctx=ctx)
                solver.add(*domain, *(condition for _, condition in ev.assumptions), goal)
                out.append((f"{prop_id} {policy.name} {goal_name}", "(set-logic QF_BV)\n" + solver.to_smt2()))
    return out[:limit] if limit else out


def run_z3(text: str) -> str:
    solver = z3.SolverFor("QF_BV")
    solver.set("random_seed", 0)
    solver.add(z3.parse_smt2_string(text))
    return str(solver.check())


def run_bitwuzla(text: str) -> str:
    import bitwuzla
    manager, options = bitwuzla.TermManager(), bitwuzla.Options()
    parser = bitwuzla.Parser(manager, options)
    parser.parse(text.replace("(check-sat)", ""), True, False)
    return str(parser.bitwuzla().check_sat())


def run_cvc5(text: str) -> str:
    import cvc5
    manager = cvc5.TermManager()
    solver = cvc5.Solver(manager)
    parser = cvc5.InputParser(solver)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, text, "query")
    symbols = parser.getSymbolManager()
    answer = ""
    while True:
        command = parser.nextCommand()
        if command.isNull():
            return answer
        answer = command.invoke(solver, symbols).strip() or answer


BACKENDS = {"z3": run_z3, "bitwuzla": run_bitwuzla, "cvc5": run_cvc5}


def available() -> dict:
    found = {"z3": run_z3}
    for name in ("bitwuzla", "cvc5"):
        try:
            __import__(name)
        except ImportError:
            print(f"{name}: not installed (pip install {name}); skipped")
            continue
        found[name] = BACKENDS[name]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page-size", type=int, default=65536)
    parser.add_argument("--limit", type=int, default=None, help="only the first N queries")
    args = parser.parse_args()
    backends = available()
    texts = queries(args.page_size, args.limit)
    seconds = {name: [] for name in backends}
    for label, text in texts:
        answers = {}
        for name, solve in backends.items():
            started = time.perf_counter()
            answers[name] = solve(text)
            seconds[name].append(time.perf_counter() - started)
        if len(set(answers.values())) != 1:
            print(f"DISAGREEMENT on {label}: {answers}")
            return 1
    print(f"{len(texts)} decision queries (pair catalogue, {args.page_size}-byte pages)")
    print(f"{'solver':10} {'total s':>9} {'median s':>9} {'max s':>8} {'fastest on':>11} {'total vs z3':>12}")
    for name, spent in seconds.items():
        fastest = sum(1 for i in range(len(texts)) if min(s[i] for s in seconds.values()) == spent[i])
        print(f"{name:10} {sum(spent):9.2f} {statistics.median(spent):9.3f} {max(spent):8.2f} {fastest:11} "
              f"{sum(seconds['z3']) / sum(spent):11.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
