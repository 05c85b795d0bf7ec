"""The selection flags every solving command shares, and their parsing: policies, properties, pages, modes."""

from __future__ import annotations

import argparse
from typing import Callable

from barcheck.cli.progress import add_run_arguments
from barcheck.cli.util import (UsageError)
from barcheck.scenario.file import MAX_BAR_BYTES
from properties.declared import MEASURE_ID, ROUND_TRIP_ID
from barcheck.engine.tracecheck import DEFAULT_DEPTH
from barcheck.engine.session import DEFAULT_RLIMIT, DEFAULT_SEED
from barcheck.inputs.textsafe import excerpt
from barcheck.run.userpolicy import (PolicyFileError, policy_file_of, resolve as resolve_policy_spec)
from barcheck.saved.witness_schema import MAX_DEVICES, MAX_MOVES
from model.events import ALL_EVENTS, KERNEL_EVENTS, EventKind
from model.pci import MIN_MEM_BAR_BYTES
from model.placement import ANY_FREE, PLACEMENTS
from model.policies import (is_plain, Policy, UnknownPolicy, catalogue, get_policy)
from model.units import PRESET_PAGE_SIZES, SizeError, parse_page_sizes, parse_size
from model.vma import VmaEventKind
from properties import RECORD_PROPERTIES, REGISTRY, Property, UnknownProperty, get_property
from properties.revoke import VMA_PROPERTIES
from properties.trace import TRACE_PROPERTIES

FORMATS = ("html", "json", "junit", "md", "sarif", "text")
EXIT_PROVED, EXIT_COUNTEREXAMPLE, EXIT_USAGE, EXIT_INCONCLUSIVE, EXIT_INTERNAL = 0, 1, 2, 3, 70
EXIT_INTERRUPTED = 130
SOLVER_UINT_MAX = 2**32 - 1
"""z3 takes random_seed and rlimit as unsigned 32-bit integers and silently wraps a larger value."""


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """What to check and how: the options `prove` and `matrix` share."""
    parser.add_argument("--policy", action="append", default=[], metavar="NAME",
                        help="a built-in policy, or a policy file PATH.py (its Python code runs); repeatable")
    parser.add_argument("--property", action="append", default=[], metavar="ID")
    parser.add_argument("--page-size", action="append", default=[], metavar="LIST",
                        help="comma-separated page sizes, e.g. 4K,16K,64K (default)")
    parser.add_argument("--seed", type=seed_value, default=DEFAULT_SEED)
    parser.add_argument("--rlimit", type=rlimit_value, default=DEFAULT_RLIMIT,
                        help="solver work budget per call (z3 resource units)")
    parser.add_argument("--mode", choices=("all", "pair", "trace"), default=None,
                        help="pair: single-probe and function checks; trace: properties over event traces; "
                             "all: both, and the MSI-X mappable-fraction measure.  Default: pair, or every kind "
                             "of a property named with --property, or for a policy file every check that reads "
                             "a rule the file overrides")
    parser.add_argument("--method", choices=("induction", "bmc"), default="induction",
                        help="trace proofs: unbounded by inductive invariant, or bounded to --depth")
    parser.add_argument("--depth", type=_depth, default=DEFAULT_DEPTH,
                        help="trace bound for bmc, and for the search after a failed induction")
    parser.add_argument("--devices", type=_devices, default=None,
                        help="device slots in trace proofs (default: 3 for placement, 2 for mapping properties)")
    parser.add_argument("--max-bar-size", type=_bar_size, default=None, metavar="SIZE",
                        help="mapping properties: only BARs up to SIZE, e.g. 1T (default: every size the hardware allows)")
    parser.add_argument("--no-unsafe-interrupts", action="store_true",
                        help="MSI-X properties: assume allow_unsafe_interrupts=0, vfio's default (it then refuses "
                             "platforms without interrupt remapping)")
    parser.add_argument("--placement", choices=PLACEMENTS, default=ANY_FREE,
                        help="hot-add placement: any free aligned slot (covers every allocator) or exact first fit")
    parser.add_argument("--events", default="kernel", metavar="LIST",
                        help="comma-separated events for trace proofs, or kernel (all but rescan) or all")
    add_run_arguments(parser, positive)


def select_events(text: str) -> tuple[tuple[EventKind, ...], tuple[VmaEventKind, ...]]:
    """Placement-model events and mapping-model events; kernel and all give every mapping event."""
    if text == "kernel":
        return KERNEL_EVENTS, tuple(VmaEventKind)
    if text == "all":
        return ALL_EVENTS, tuple(VmaEventKind)
    known = list(dict.fromkeys([kind.value for kind in EventKind] + [kind.value for kind in VmaEventKind]))
    chosen = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part not in known:
            raise UsageError(f"--events: unknown event {part!r} (known: {', '.join(known)}, kernel, all)")
        chosen.append(part)
    if not chosen:
        raise UsageError("--events: empty list")
    return (tuple(kind for kind in EventKind if kind.value in chosen),
            tuple(kind for kind in VmaEventKind if kind.value in chosen))


def _bar_size(text: str) -> int:
    try:
        size_bytes = parse_size(text)
    except SizeError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if size_bytes < MIN_MEM_BAR_BYTES or size_bytes & (size_bytes - 1) or size_bytes > MAX_BAR_BYTES:
        raise argparse.ArgumentTypeError(f"{excerpt(text)} is not a power of two from {MIN_MEM_BAR_BYTES} bytes "
                                         f"to 2^63 bytes, the largest BAR")
    return size_bytes


def _non_negative(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{excerpt(text)} is not a decimal integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{excerpt(text)} is negative")
    return value


def positive(text: str) -> int:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{excerpt(text)} is not positive")
    return value


def _at_most(maximum: int, why: str, parse: Callable[[str], int]) -> Callable[[str], int]:
    def parse_bounded(text: str) -> int:
        value = parse(text)
        if value > maximum:
            raise argparse.ArgumentTypeError(f"{excerpt(text)} is over {maximum} ({why})")
        return value
    return parse_bounded


seed_value = _at_most(SOLVER_UINT_MAX, "z3 takes a 32-bit seed", _non_negative)
rlimit_value = _at_most(SOLVER_UINT_MAX, "z3 takes a 32-bit work budget", positive)
_devices = _at_most(MAX_DEVICES, "the most device slots a saved counterexample holds", positive)
_depth = _at_most(MAX_MOVES, "the most steps a saved counterexample holds", positive)


def select_policies(names: list[str]) -> list[Policy]:
    try:
        chosen = [named_policy(name) for name in names] if names else catalogue()
    except UnknownPolicy as err:
        raise UsageError(f"--policy: {err}") from None
    return list({policy.name: policy for policy in chosen}.values())


def named_policy(spec: str) -> Policy:
    """A built-in policy by name, or the policy of a file (PATH.py, with optional +modifiers), loaded and checked."""
    try:
        return get_policy(resolve_policy_spec(spec))
    except (PolicyFileError, UnknownPolicy) as err:
        raise UsageError(f"--policy: {err}") from None


def require_plain(policy: Policy, where: str) -> None:
    if not is_plain(policy):
        raise UsageError(f"{where}: policy {policy.name!r} has PCI-core modifiers, which only the pair "
                         f"properties model (barcheck prove --mode pair); traces and scenario files place "
                         f"BARs at natural alignment")


def property_kinds(prop_id: str) -> set[str]:
    """The kinds of check a property id names: pair, function and trace."""
    kinds = set()
    if prop_id in REGISTRY:
        kinds.add("pair")
    if prop_id == ROUND_TRIP_ID or prop_id in RECORD_PROPERTIES:
        kinds.add("function")
    if prop_id == MEASURE_ID:
        kinds.add("measure")
    if prop_id in TRACE_PROPERTIES or prop_id in VMA_PROPERTIES:
        kinds.add("trace")
    return kinds


MODE_KINDS = {"pair": {"pair", "function", "measure"}, "trace": {"trace"},
              "all": {"pair", "function", "trace", "measure"}}


def all_property_ids() -> list[str]:
    return sorted(set(REGISTRY) | set(TRACE_PROPERTIES) | set(VMA_PROPERTIES) | set(RECORD_PROPERTIES)
                  | {ROUND_TRIP_ID, MEASURE_ID})


def effective_mode(args: argparse.Namespace, policies: list[Policy]) -> str:
    """The --mode given; else pair, widened to every kind for a policy file (the patch gate then
    chooses) or for a named property that has no pair kind."""
    if args.mode is not None:
        return args.mode
    if any(policy_file_of(p.name) for p in policies) and not args.property:
        return "all"
    if any(property_kinds(i) and not property_kinds(i) & MODE_KINDS["pair"] for i in args.property):
        return "all"
    return "pair"


def trace_ids(args: argparse.Namespace, ids: list[str]) -> list[str]:
    """The named properties whose trace kind runs: all of them under --mode trace or all, else only
    those that have no pair kind (a named property keeps its pair meaning without --mode)."""
    if args.mode_given:
        return ids
    return [i for i in ids if not property_kinds(i) & MODE_KINDS["pair"]]


def check_property_modes(ids: list[str], mode: str) -> None:
    for i in ids:
        kinds = property_kinds(i)
        if not kinds:
            known = ", ".join(all_property_ids())
            raise UsageError(f"--property: unknown property {i!r} (known: {known})")
        if not kinds & MODE_KINDS[mode]:
            wanted = "trace or all" if "trace" in kinds else "pair or all"
            raise UsageError(f"--property: {i} is a {'/'.join(sorted(kinds))} property, which --mode {mode} "
                             f"does not run (use --mode {wanted})")


def select_properties(ids: list[str]) -> list[Property]:
    """The pair properties among the ids (all when none given)."""
    try:
        return [get_property(i) for i in dict.fromkeys(ids) if i in REGISTRY] if ids else list(REGISTRY.values())
    except UnknownProperty as err:
        raise UsageError(f"--property: {err}") from None


def select_pages(texts: list[str]) -> list[int]:
    if not texts:
        return list(PRESET_PAGE_SIZES)
    pages: set[int] = set()
    for text in texts:
        try:
            pages.update(page.size_bytes for page in parse_page_sizes(text))
        except SizeError as err:
            raise UsageError(f"--page-size {text!r}: {err}") from None
    return sorted(pages)
