"""What a transition system supplies to the one procedure (engine/procedure.py), and its unrolled traces."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import z3

from barcheck.engine.induction import Clauses
from barcheck.engine.session import Session
from model.ops import Ops

SELECTOR_BITS = 16
INDUCTION, BMC = "induction", "bmc"


class Step(Protocol):
    enabled: Any
    after: Any


class Instance(Protocol):
    """One session's view of a transition system and of the property checked on it."""

    @property
    def session(self) -> Session: ...
    @property
    def ops(self) -> Ops: ...
    @property
    def events(self) -> Sequence[Any]: ...
    @property
    def boot_contradiction(self) -> str:
        """The vacuity reason when no boot state exists."""

    def fresh_state(self, tag: str, constants: Any = None) -> Any: ...
    def fresh_choice(self, tag: str) -> Any: ...
    def constants(self, state: Any) -> Clauses: ...
    def boot(self, state: Any) -> Clauses: ...
    def invariant(self, state: Any) -> Clauses: ...
    def successors(self, state: Any, choice: Any, placement: str) -> Sequence[Step]: ...
    def link(self, selected: Any, step: Step, after: Any) -> Any:
        """The unrolled next state is `after` of `step` when the step is the one selected."""
    def state_props(self, state: Any) -> Clauses: ...
    def step_props(self, before: Any, event: Any, after: Any) -> Clauses: ...
    def has_step_props(self) -> bool: ...
    def antecedent(self, state: Any) -> Any | None: ...
    def describe(self, event: Any) -> str: ...
    def canonical_plan(self, trace: Unrolling, model_now: Callable[[], z3.ModelRef]) -> Iterator[Preference]: ...
    def replay(self, trace: Unrolling, model: z3.ModelRef, placement: str) -> Any: ...


class Problem(Protocol):
    """One check: a property, a policy, a system and its settings."""

    @property
    def prop_id(self) -> str: ...
    @property
    def policy_name(self) -> str: ...
    @property
    def page_bytes(self) -> int: ...
    @property
    def method(self) -> str: ...
    @property
    def depth(self) -> int: ...
    @property
    def placement(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def rlimit(self) -> int: ...

    def open(self, family: bool = False) -> Instance:
        """A fresh instance; with `family`, its page size is symbolic and may be any of `family_key`'s."""
    def family_key(self) -> tuple | None:
        """The memo key of the init and step proof shared by several page sizes, or None when this
        problem's page size is proved on its own."""
    def has_antecedent(self) -> bool: ...
    def witness_placement(self) -> str:
        """The placement a witness for the antecedent is searched with."""
    def inductive_key(self) -> tuple: ...
    def scope(self) -> dict[str, Any]: ...
    def assumption_names(self) -> list[str]: ...


class ProblemFields:
    """The `Problem` members every system reads the same way from its property, policy and settings."""

    prop: Any
    policy: Any
    settings: Any
    st: Any
    page_bytes: int

    @property
    def prop_id(self) -> str:
        return self.prop.id

    @property
    def policy_name(self) -> str:
        return self.policy.name

    @property
    def method(self) -> str:
        return self.settings.method

    @property
    def depth(self) -> int:
        return self.settings.depth

    @property
    def seed(self) -> int:
        return self.settings.seed

    @property
    def rlimit(self) -> int:
        return self.settings.rlimit

    def has_antecedent(self) -> bool:
        return self.prop.antecedent is not None

    def scope_head(self) -> dict[str, Any]:
        """The scope entries every system states first, in this order."""
        s = self.settings
        return {"bounded": s.method == BMC, "method": s.method, "width_bits": s.width,
                "page_size": self.page_bytes, "devices": [device.name for device in self.st.devices]}

    def quantified(self, over: str) -> str:
        """The scope sentence: every trace (of any length, or up to the depth bound) over `over`."""
        if self.settings.method == INDUCTION:
            return "every trace of any length" + over
        return f"every trace of up to {self.settings.depth} events" + over


@dataclass(frozen=True)
class Pull:
    """Move `term` as close to `target` as the constraints allow, and keep it there."""

    term: Any
    target: int


@dataclass(frozen=True)
class Prefer:
    """Keep `condition` when some model satisfies it."""

    condition: Any


@dataclass(frozen=True)
class Together:
    """Preferences asked at once, with the result of applying them one by one.

    When all of them can hold together, each one would hold when applied in turn, so all are kept
    with one query.  Otherwise each half is applied the same way, the first half first, down to
    single preferences.  Either way the constraints kept are the one-by-one result."""

    parts: tuple[Pull | Prefer, ...]


Preference = Pull | Prefer | Together


def _value(model: z3.ModelRef, term: Any) -> int:
    return model.eval(term, model_completion=True).as_long()


@dataclass
class Unrolling:
    """The symbolic states of a trace so far, the event selected at each step, and its successors."""

    instance: Instance
    placement: str
    states: list[Any]
    selectors: list = field(default_factory=list)
    choices: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    """Per unrolled step: the successor of every event from the state before it."""

    @property
    def events(self) -> Sequence[Any]:
        return self.instance.events

    def extend(self) -> None:
        inst, i = self.instance, len(self.selectors)
        sel = z3.BitVec(f"e{i}.event", SELECTOR_BITS, inst.session.ctx)
        inst.session.add(z3.ULT(sel, len(self.events)))
        choice = inst.fresh_choice(f"e{i}")
        nxt = inst.fresh_state(f"s{i + 1}", constants=self.states[-1])
        steps = inst.successors(self.states[-1], choice, self.placement)
        for k, step in enumerate(steps):
            inst.session.add(inst.link(sel == k, step, nxt))
        self.states.append(nxt)
        self.selectors.append(sel)
        self.choices.append(choice)
        self.steps.append(steps)

    def picked(self, model: z3.ModelRef) -> list[Any]:
        return [self.events[_value(model, sel)] for sel in self.selectors]
