"""The check a user policy passes before anything is proved about it.

1. Misuse trap.  While the policy's rules run on Z3 bit-vectors (here, and
   again in every proof: `barcheck.run.userpolicy.watching_policy_files`), Python's
   operators on words are intercepted when they are called from the policy
   file or from any other file that is not barcheck's own, installed (z3
   included) or the standard library's (a helper module the policy imports): `<`, `<=`, `>`, `>=`, `>>`, `/` and `%` are signed on bit-vectors;
   `+`, `-`, `*`, `<<`, `~` and unary minus do not wrap on the concrete side;
   `if`, `and`, `or`, `not` and `bool()` on a symbolic flag either raise or
   silently compare terms.  Each is reported at its file and line.
2. Differential check.  Every rule (probe, query, reprobe, mmap_window, the
   MSI-X rules, zap_end_pgoff) and every property evaluation runs on the same
   inputs with `ConcreteOps` and with `SymbolicOps`; the simplified terms must
   equal the integers.  The rules run once on free variables and each
   input is substituted into the terms.  Inputs: hand-picked placements around one page,
   seeded random ones, at 4K and 64K pages.
3. Side condition of the pair proofs.  Their pairwise argument needs the
   probe's answer to be anti-monotone in the parent's children (another
   resource, wherever it comes in the list, can only take mmappability away).
   The session proves this for the policy over all 64-bit inputs at every page
   size from 4K to 1G, or the policy is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import linecache
import random
import sys
from typing import Any, Iterator

import z3

from barcheck.engine.space import MMIO, grid_scenarios, random_scenarios
from barcheck.engine.encode import symbolic_scenario
from barcheck.engine.session import DEFAULT_SEED, Session
from barcheck.inputs.sourcefiles import is_users_file, line_in
from model.ops import ConcreteOps
from model.ops_z3 import SymbolicOps
from model.policies import Policy, ProbeRequest
from model.policies.base import may_map_alone
from model.ranges import Range
from model.resource_tree import Child
from model.scenario import FIELDS, FLAG_FIELDS, PairScenario, Shape
from model.units import size_name
from properties import REGISTRY
from properties.record import RECORD_PROPERTIES, RecordOptions
from properties.situation import later_request, situate

WIDTH_BITS = 64
PAGES_BYTES = (4096, 16384, 65536)
RANDOM_PAIRS = 40
RANDOM_RECORDS = 40
MONOTONE_RLIMIT = 50_000_000
MONOTONE_PAGES_BYTES = tuple(1 << shift for shift in range(12, 31))

SIGNED_ADVICE = "is a signed comparison on bit-vectors"
SHIFT_ADVICE = "is an arithmetic (sign-extending) shift on bit-vectors"
DIVIDE_ADVICE = "is a signed division on bit-vectors"
WRAP_ADVICE = "does not wrap at the word width on the concrete side"
TRAPPED = {
    "__lt__": ("<` or `>", SIGNED_ADVICE, "ops.ult or ops.ugt"),
    "__gt__": ("<` or `>", SIGNED_ADVICE, "ops.ult or ops.ugt"),
    "__le__": ("<=` or `>=", SIGNED_ADVICE, "ops.ule or ops.uge"),
    "__ge__": ("<=` or `>=", SIGNED_ADVICE, "ops.ule or ops.uge"),
    "__rshift__": (">>", SHIFT_ADVICE, "ops.lshr"), "__rrshift__": (">>", SHIFT_ADVICE, "ops.lshr"),
    "__truediv__": ("/", DIVIDE_ADVICE, "shifts by a power of two (ops.lshr)"),
    "__rtruediv__": ("/", DIVIDE_ADVICE, "shifts by a power of two (ops.lshr)"),
    "__div__": ("/", DIVIDE_ADVICE, "shifts by a power of two (ops.lshr)"),
    "__rdiv__": ("/", DIVIDE_ADVICE, "shifts by a power of two (ops.lshr)"),
    "__mod__": ("%", DIVIDE_ADVICE, "a mask (ops.bit_and with size - 1)"),
    "__rmod__": ("%", DIVIDE_ADVICE, "a mask (ops.bit_and with size - 1)"),
    "__add__": ("+", WRAP_ADVICE, "ops.add"), "__radd__": ("+", WRAP_ADVICE, "ops.add"),
    "__sub__": ("-", WRAP_ADVICE, "ops.sub"), "__rsub__": ("-", WRAP_ADVICE, "ops.sub"),
    "__mul__": ("*", WRAP_ADVICE, "ops.shl by a constant"), "__rmul__": ("*", WRAP_ADVICE, "ops.shl by a constant"),
    "__lshift__": ("<<", WRAP_ADVICE, "ops.shl"), "__rlshift__": ("<<", WRAP_ADVICE, "ops.shl"),
    "__neg__": ("unary -", WRAP_ADVICE, "ops.sub(ops.const(0), x)"),
    "__invert__": ("~", WRAP_ADVICE, "ops.bit_not"),
}
BRANCH_MESSAGE = ("Python `if`, `and`, `or`, `not`, `x if c else y` or bool() on a symbolic flag: the proof would "
                  "follow one branch, or compare terms instead of values; use ops.ite, ops.flag_ite, ops.all_of, "
                  "ops.any_of or ops.negate")


class PolicyCheckError(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(line, message)
        self.line, self.message = line, message


class Misuse(Exception):
    """Python operator misuse on a solver term, raised at the policy file's line."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(path, line, message)
        self.path, self.line, self.message = path, line, message


class _Watched:
    """The files whose Python operators on solver terms are misuse: the policy files, and any other
    file that is not barcheck's own, installed (z3 included) or the standard library's (a policy's
    helper module, `sourcefiles.is_users_file`).  Decisions are memoised per file name."""

    def __init__(self, paths: set[str]) -> None:
        self.paths = paths
        self.known: dict[str, bool] = {}

    def __call__(self, filename: str) -> bool:
        if filename not in self.known:
            self.known[filename] = filename in self.paths or is_users_file(filename)
        return self.known[filename]


@contextlib.contextmanager
def misuse_trap(paths: set[str]) -> Iterator[None]:
    """Make Python operators on bit-vectors raise when called from a watched file (`_Watched`)."""
    saved = {name: z3.BitVecRef.__dict__[name] for name in TRAPPED}
    saved_bool = z3.AstRef.__dict__["__bool__"]

    watched = _Watched(paths)

    def trapped(name: str, original: Any) -> Any:
        text, why, use = TRAPPED[name]

        def operator(self: Any, *args: Any) -> Any:
            caller = sys._getframe(1)
            if watched(caller.f_code.co_filename):
                raise Misuse(caller.f_code.co_filename, caller.f_lineno,
                             f"Python `{text}` on a bit-vector word {why}; use {use}{_quote(caller)}")
            return original(self, *args)
        return operator

    def branch(self: Any) -> bool:
        caller = sys._getframe(1)
        if watched(caller.f_code.co_filename):
            raise Misuse(caller.f_code.co_filename, caller.f_lineno, BRANCH_MESSAGE + _quote(caller))
        return saved_bool(self)

    try:
        for name, original in saved.items():
            setattr(z3.BitVecRef, name, trapped(name, original))
        z3.AstRef.__bool__ = branch
        yield
    finally:
        for name, original in saved.items():
            setattr(z3.BitVecRef, name, original)
        z3.AstRef.__bool__ = saved_bool


def _quote(frame: Any) -> str:
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return f" (in: {line})" if line else ""


def check_policy(policy: Policy, path: str) -> None:
    """Raise PolicyCheckError on misuse, an exception in a rule, a disagreement or a non-monotone probe."""
    ctx = z3.Context()
    try:
        with misuse_trap({path}):
            _differential(policy, ctx)
            _check_anti_monotone(policy, ctx)
    except Misuse as err:
        if err.path == path:
            raise PolicyCheckError(err.line, err.message) from None
        raise PolicyCheckError(None, f"{err.path}:{err.line}: {err.message}") from None
    except PolicyCheckError:
        raise
    except Exception as err:  # noqa: BLE001
        raise PolicyCheckError(line_in(err, path), f"a rule raised {type(err).__name__}: {err}") from None


# --- the differential check ---------------------------------------------------------------------

def _differential(policy: Policy, ctx: z3.Context) -> None:
    """The rules run once on free variables; each sample substitutes its values into the terms."""
    conc, sym = ConcreteOps(WIDTH_BITS), SymbolicOps(WIDTH_BITS, ctx)
    for page_bytes in PAGES_BYTES:
        free, _ = symbolic_scenario(Shape(), page_bytes, ctx)
        packed = _Packed(_pair_view(sym, free, policy), ctx)
        for sc in _pair_samples(page_bytes):
            packed.compare(f"at {_describe(sc)}", _pair_view(conc, sc, policy), _substitution(free, sc, ctx))
        for shift in range(12, 31):
            _check_zap(policy, shift)
        for prop in RECORD_PROPERTIES.values():
            if prop.needs_vmm != (policy.vmm is not None) or prop.applies(policy):
                continue
            record = _free_record(prop, ctx)
            packed = _Packed(_flatten(prop.evaluate(sym, record, policy, page_bytes, RecordOptions())), ctx)
            for values in _record_samples(prop, page_bytes):
                concrete = _flatten(prop.evaluate(conc, values, policy, page_bytes, RecordOptions()))
                packed.compare(f"in {prop.id} at {values}", concrete, _record_substitution(record, values, ctx))


class _Packed:
    """Every leaf term of a rule's results in one bit-vector, so one substitution grounds them all."""

    def __init__(self, tree: Any, ctx: z3.Context) -> None:
        self.leaves = _leaves(tree, "")
        self.ctx = ctx
        parts = [_as_bits(term, ctx) for _, term in self.leaves]
        self.widths = [part.size() for part in parts]
        self.term = z3.Concat(*parts) if len(parts) > 1 else parts[0]

    def compare(self, where: str, concrete_tree: Any, values: list) -> None:
        concrete = _leaves(concrete_tree, "")
        if [path for path, _ in concrete] != [path for path, _ in self.leaves]:
            raise PolicyCheckError(None, f"the rules return differently shaped results on integers and on "
                                         f"bit-vectors {where}")
        grounded = z3.simplify(z3.substitute(self.term, *values))
        if not z3.is_bv_value(grounded):
            raise PolicyCheckError(None, f"a rule's result depends on something other than its inputs {where}")
        packed, shift = grounded.as_long(), sum(self.widths)
        for (path, value), (_, term), width in zip(concrete, self.leaves, self.widths):
            shift -= width
            got: Any = (packed >> shift) & ((1 << width) - 1)
            if z3.is_bool(term) or isinstance(term, bool):
                got = bool(got)
            if got != value or isinstance(value, bool) != isinstance(got, bool):
                raise _mismatch(where, path, value, got)


def _leaves(tree: Any, path: str) -> list[tuple[str, Any]]:
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        return [leaf for f in dataclasses.fields(tree) for leaf in _leaves(getattr(tree, f.name), f"{path}.{f.name}")]
    if isinstance(tree, dict):
        return [leaf for key in tree for leaf in _leaves(tree[key], f"{path}.{key}" if path else key)]
    if isinstance(tree, (tuple, list)):
        return [leaf for i, item in enumerate(tree) for leaf in _leaves(item, f"{path}[{i}]")]
    return [(path, tree)]


def _as_bits(term: Any, ctx: z3.Context) -> z3.BitVecRef:
    one, zero = z3.BitVecVal(1, 1, ctx), z3.BitVecVal(0, 1, ctx)
    if isinstance(term, bool):
        return one if term else zero
    if isinstance(term, int):
        return z3.BitVecVal(term, WIDTH_BITS, ctx)
    if z3.is_bool(term):
        return z3.If(term, one, zero)
    if z3.is_bv(term):
        return term
    raise PolicyCheckError(None, f"a rule returned {type(term).__name__} {term!r}, which is neither a word nor a flag")


def _substitution(free: PairScenario, sc: PairScenario, ctx: z3.Context) -> list:
    pairs = []
    for name in FIELDS:
        variable, value = getattr(free, name), getattr(sc, name)
        if z3.is_const(variable) and not z3.is_bv_value(variable):
            pairs.append((variable, z3.BoolVal(value, ctx) if name in FLAG_FIELDS
                          else z3.BitVecVal(value, WIDTH_BITS, ctx)))
    return pairs


def _free_record(prop: Any, ctx: z3.Context) -> dict[str, Any]:
    words = {name: z3.BitVec(f"rec_{name}", WIDTH_BITS, ctx) for name in prop.words}
    return {**words, **{name: z3.Bool(f"rec_{name}", ctx) for name in prop.flags}}


def _record_substitution(record: dict[str, Any], values: dict[str, Any], ctx: z3.Context) -> list:
    return [(record[name], z3.BoolVal(value, ctx) if isinstance(value, bool) else z3.BitVecVal(value, WIDTH_BITS, ctx))
            for name, value in values.items()]


def _pair_samples(page_bytes: int) -> list[PairScenario]:
    return list(grid_scenarios(page_bytes)) + list(random_scenarios(page_bytes, RANDOM_PAIRS, page_bytes))


def _pair_view(ops: Any, sc: PairScenario, policy: Policy) -> dict[str, Any]:
    sit = situate(ops, sc, policy)
    view: dict[str, Any] = {"probe": sit.first, "mmap_window": sit.window, "resource": sit.bar,
                            "query": policy.query(ops, later_request(ops, sc, sit), sit.first),
                            "reprobe": policy.reprobe(ops, sit.request, sit.first),
                            "at_mmap": sit.mapped}
    for prop in REGISTRY.values():
        if prop.needs_vmm == (policy.vmm is not None):
            view[prop.id] = _flatten(prop.evaluate(ops, sc, policy, Shape()))
    return view


def _flatten(evaluation: Any) -> dict[str, Any]:
    out = {f"assumption {name}": value for name, value in evaluation.assumptions}
    out["antecedent"], out["holds"] = evaluation.antecedent, evaluation.holds
    out.update({f"fact {name}": value for name, value in getattr(evaluation, "facts", ())})
    return out


def _check_zap(policy: Policy, page_shift: int) -> None:
    end_pgoff = policy.zap_end_pgoff(page_shift)
    if not isinstance(end_pgoff, int) or isinstance(end_pgoff, bool) or not 0 <= end_pgoff < 1 << WIDTH_BITS:
        raise PolicyCheckError(None, f"zap_end_pgoff({page_shift}) returned {end_pgoff!r}: it must be an int "
                                     f"from 0 to 2**64 - 1 (a vm_pgoff)")


def _lift(sc: PairScenario, ops: SymbolicOps) -> PairScenario:
    return PairScenario(**{name: (z3.BoolVal(getattr(sc, name), ops.ctx) if name in FLAG_FIELDS
                                  else ops.const(getattr(sc, name))) for name in FIELDS})


def _lift_record(values: dict[str, Any], ops: SymbolicOps) -> dict[str, Any]:
    return {name: z3.BoolVal(value, ops.ctx) if isinstance(value, bool) else ops.const(value)
            for name, value in values.items()}


def _record_samples(prop: Any, page_bytes: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{prop.id}/{page_bytes}")
    top = (1 << WIDTH_BITS) - 1
    interesting = [0, 1, 4, 16, 0x800, page_bytes - 16, page_bytes, page_bytes + 16, 2 * page_bytes,
                   MMIO, MMIO + page_bytes, 1 << 63, top - 15, top]
    for _ in range(RANDOM_RECORDS):
        words = {name: (rng.choice(interesting) if rng.random() < 0.7 else rng.randrange(top + 1))
                 for name in prop.words}
        yield {**words, **{name: rng.random() < 0.5 for name in prop.flags}}


def _describe(sc: PairScenario) -> str:
    return (f"page {sc.page_bytes:#x}, BAR [{sc.bar_start:#x}, size {sc.bar_size:#x}], parent "
            f"[{sc.parent_first:#x}-{sc.parent_last:#x}], foreign [{sc.foreign_first:#x}-{sc.foreign_last:#x}]")


def _mismatch(where: str, path: str, concrete: Any, symbolic: Any) -> PolicyCheckError:
    def show(value: Any) -> str:
        return f"{value:#x}" if isinstance(value, int) and not isinstance(value, bool) else repr(value)
    return PolicyCheckError(None, f"the rules give different answers on integers and on bit-vectors {where}: "
                                  f"{path} is {show(concrete)} on integers but {show(symbolic)} on bit-vectors "
                                  f"(a word or flag computed without the ops interface, e.g. in a helper module)")


# --- the side condition of the pair proofs ------------------------------------------------------

def _check_anti_monotone(policy: Policy, ctx: z3.Context) -> None:
    """No extra child of the parent, inserted anywhere in the children, turns a refused BAR into an
    mmappable one, at every page size the command line accepts (4K to 1G)."""
    ops = SymbolicOps(WIDTH_BITS, ctx)
    for page_bytes in MONOTONE_PAGES_BYTES:
        sc, domain = symbolic_scenario(Shape(), page_bytes, ctx)
        sit = situate(ops, sc, policy)
        extra = Child(Range(z3.BitVec("extra_first", WIDTH_BITS, ctx), z3.BitVec("extra_last", WIDTH_BITS, ctx)),
                      z3.Bool("extra_present", ctx))
        children = sit.request.children
        for position in range(len(children) + 1):
            more = ProbeRequest(sit.request.page_bytes, sit.request.bar, sit.request.parent,
                                children[:position] + (extra,) + children[position:])
            session = Session(DEFAULT_SEED, MONOTONE_RLIMIT, ctx)
            session.add(*domain)
            session.add(may_map_alone(ops, policy, more), z3.Not(may_map_alone(ops, policy, sit.request)))
            status = session.check()
            if status == z3.unsat:
                continue
            what = ("another resource under the parent can make a refused BAR mmappable"
                    if status == z3.sat else f"the solver could not decide within {MONOTONE_RLIMIT} units whether "
                                             f"another resource can make a refused BAR mmappable")
            raise PolicyCheckError(None, f"at {size_name(page_bytes)} pages {what} (the extra resource at position "
                                         f"{position} of the parent's children); the pair proofs cover every number "
                                         f"and order of devices only for probes whose answer can only be taken away "
                                         f"by more resources, so barcheck will not check this policy")
