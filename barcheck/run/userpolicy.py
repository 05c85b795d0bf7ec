"""User policies: a Python file with one class that derives from a built-in policy and overrides rules.

`--policy path/my_patch.py` loads the file, validates the class against the
rules of the policy it derives from, runs the concrete-against-symbolic
differential check (barcheck/engine/policycheck.py) and registers the policy
under its `name`, so it resolves like a built-in one, modifiers included
(`my_patch.py+resource_alignment`).

Loading a policy file runs its Python code, with the user's rights: it is
trusted like the source tree.  Scenario files and machine dumps are data and
are never executed; only a `--policy` value on the command line loads code.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import hashlib
import inspect
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from barcheck.inputs.errors import UsageError
from barcheck.inputs.sourcefiles import is_users_file, line_in
from model.policies import BUILTIN, USER, VMMS, Policy, register_user_policy
from model.policies.alignment import MODIFIERS, PciCore
from model.policies.base import (PGOFF_PFN, PGOFF_REGION, POPULATE_AT_FAULT, POPULATE_AT_MMAP, REVOKE_MAPPING_RANGE,
                                 REVOKE_NONE, REVOKE_VMA_LIST)
from model.policies.composed import Configured
from model.vmm import Vmm

METADATA = ("name", "title", "kernel_ref", "revocation_ref", "msix_ref")
"""Class attributes that describe a policy; every other public attribute is a rule."""
ABSTRACT_RULES = ("probe", "mmap_window", "msix_mmap_ok", "msix_areas")
"""Rules `Policy` leaves unimplemented; the MSI-X ones only matter when `has_msix` is true."""
CHOICES = {"pgoff_holds": (PGOFF_PFN, PGOFF_REGION), "populates_at": (POPULATE_AT_MMAP, POPULATE_AT_FAULT),
           "revokes_by": (REVOKE_NONE, REVOKE_VMA_LIST, REVOKE_MAPPING_RANGE)}
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class PolicyFileError(Exception):
    """A policy file that cannot be used: one line naming the file and, where known, the line."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        super().__init__(path, line, message)
        self.path, self.line, self.message = path, line, message

    def __str__(self) -> str:
        from barcheck.inputs.textsafe import escape_control
        text = f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"
        return escape_control(text)


@dataclass(frozen=True, slots=True)
class PolicyFile:
    shown: str
    """The path as the user gave it (used in messages)."""
    path: str
    """The absolute path (what worker processes load)."""
    sha256: str
    policy: Policy
    class_line: int


LOADED: dict[str, PolicyFile] = {}
"""Loaded files by policy name, in this process."""
CHECKED: set[tuple[str, str]] = set()
"""(absolute path, sha256) of every file that passed the checks in this process."""


def split_spec(spec: str) -> tuple[str, str] | None:
    """(file, "+modifiers") when a --policy value names a policy file, else None."""
    match = re.fullmatch(r"(.+?\.py)((?:\+[^+]*)*)", spec, re.DOTALL)
    return (match.group(1), match.group(2)) if match else None


def load_policy_file(shown: str, *, check: bool = True, expect_sha256: str = "") -> PolicyFile:
    """Load, validate, check (unless `check` is false: a worker re-loading a checked file) and register."""
    path = Path(shown).expanduser().resolve()
    source = _read(shown, path)
    sha256 = hashlib.sha256(source.encode()).hexdigest()
    if expect_sha256 and sha256 != expect_sha256:
        raise PolicyFileError(shown, None, "the file changed while barcheck was running")
    for loaded in LOADED.values():
        if loaded.path == str(path) and loaded.sha256 == sha256:
            return loaded
    before = set(sys.modules)
    module = _execute(shown, path, source, sha256)
    IMPORTED.update(name for name in set(sys.modules) - before if _is_users(sys.modules[name]))
    cls = _choose_class(shown, module)
    tree = ast.parse(source)
    class_line = _class_line(tree, cls)
    for klass in reversed([k for k in cls.__mro__ if k.__module__ == module.__name__]):
        _validate_rules(shown, klass, _class_line(tree, klass), _attribute_lines(tree, klass.__name__))
    _validate(shown, cls, class_line, _attribute_lines(tree, cls.__name__))
    policy = _instantiate(shown, str(path), cls, class_line)
    loaded = PolicyFile(shown, str(path), sha256, policy, class_line)
    if check and (loaded.path, sha256) not in CHECKED:
        _run_checks(loaded)
        CHECKED.add((loaded.path, sha256))
    _register(loaded)
    return loaded


def _read(shown: str, path: Path) -> str:
    from barcheck.inputs.safe_read import InputFileError, read_regular_file
    try:
        data = read_regular_file(str(path))
    except InputFileError as err:
        raise PolicyFileError(shown, None, err.reason) from None
    except OSError as err:
        raise PolicyFileError(shown, None, f"cannot read: {err.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PolicyFileError(shown, None, f"not UTF-8 text (byte {err.start})") from None


def _execute(shown: str, path: Path, source: str, sha256: str) -> types.ModuleType:
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as err:
        raise PolicyFileError(shown, err.lineno, f"syntax error: {err.msg}") from None
    except (RecursionError, MemoryError):
        raise PolicyFileError(shown, None, "too deeply nested to compile") from None
    name = f"barcheck_user_policy_{sha256[:16]}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)  # noqa: S102 -- a policy file is trusted code (see the module docstring)
    except Exception as err:  # noqa: BLE001
        del sys.modules[name]
        raise PolicyFileError(shown, line_in(err, str(path)),
                              f"loading the file raised {type(err).__name__}: {err}") from None
    return module



def _choose_class(shown: str, module: types.ModuleType) -> type:
    own = [value for value in vars(module).values()
           if isinstance(value, type) and issubclass(value, Policy) and value.__module__ == module.__name__]
    chosen = vars(module).get("POLICY")
    if chosen is not None:
        if not (isinstance(chosen, type) and issubclass(chosen, Policy)):
            raise PolicyFileError(shown, None, "POLICY must be the policy class (POLICY = MyPatch)")
        return chosen
    leaves = [cls for cls in own if not any(other is not cls and issubclass(other, cls) for other in own)]
    if not leaves:
        raise PolicyFileError(shown, None, "defines no policy: write a class that derives from a built-in policy, "
                                           "e.g. `class MyPatch(Linux48):` (barcheck new-policy NAME writes one)")
    if len(leaves) > 1:
        names = ", ".join(sorted(cls.__name__ for cls in leaves))
        raise PolicyFileError(shown, None, f"defines several policies ({names}): say which with POLICY = ClassName")
    return leaves[0]


def _class_line(tree: ast.Module, cls: type) -> int:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            return node.lineno
    return 1


def _attribute_lines(tree: ast.Module, class_name: str) -> dict[str, int]:
    lines: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                targets = (item.targets if isinstance(item, ast.Assign)
                           else [item.target] if isinstance(item, (ast.AnnAssign, ast.AugAssign)) else [])
                for target in targets:
                    if isinstance(target, ast.Name):
                        lines.setdefault(target.id, item.lineno)
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines.setdefault(item.name, item.lineno)
    return lines


def rules_of(cls: type) -> dict[str, Any]:
    """Every rule (public method or class attribute) a policy class inherits from the built-in model."""
    rules: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or not klass.__module__.startswith("model."):
            continue
        for attr, value in vars(klass).items():
            if not attr.startswith("_") and attr not in METADATA:
                rules[attr] = value
    return rules


def _validate(shown: str, cls: type, class_line: int, lines: dict[str, int]) -> None:
    """The chosen class: a kernel policy with a name of its own and every abstract rule defined."""
    if issubclass(cls, Configured):
        raise PolicyFileError(shown, class_line, f"class {cls.__name__} derives from a configured policy: derive "
                                                 f"from a kernel policy and give modifiers on the command line "
                                                 f"(--policy {Path(shown).name}+resource_alignment)")
    if "name" not in vars(cls):
        raise PolicyFileError(shown, class_line, f"class {cls.__name__} does not set `name`: give the policy a "
                                                 f"name of its own, e.g. name = \"my-patch\"")
    _check_name(shown, lines.get("name", class_line), vars(cls)["name"])
    for rule in ABSTRACT_RULES:
        if rule.startswith("msix") and not getattr(cls, "has_msix", True):
            continue
        if getattr(cls, rule) is getattr(Policy, rule):
            raise PolicyFileError(shown, class_line, f"class {cls.__name__} does not define the rule `{rule}`: "
                                                     f"derive from a built-in policy that has it (e.g. Linux48), "
                                                     f"or define it")


def _validate_rules(shown: str, cls: type, class_line: int, lines: dict[str, int]) -> None:
    """Every public method and attribute a class of the file defines overrides a rule of the model."""
    for attr in ("title", "kernel_ref", "revocation_ref", "msix_ref"):
        if attr in vars(cls) and not isinstance(vars(cls)[attr], str):
            raise PolicyFileError(shown, lines.get(attr, class_line), f"`{attr}` must be a string")
    model_base = next(k for k in cls.__mro__ if k.__module__.startswith("model."))
    inherited = rules_of(model_base)
    for attr, value in vars(cls).items():
        if attr.startswith("_") and not attr.startswith("__") and _private_of(model_base, attr):
            raise PolicyFileError(shown, lines.get(attr, class_line),
                                  f"`{attr}` is a private method of {_private_of(model_base, attr)}: overriding it "
                                  f"changes the model behind your back; give your helper another name")
        if attr.startswith("_") or attr in METADATA:
            continue
        line = lines.get(attr, class_line)
        if attr not in inherited:
            raise PolicyFileError(shown, line, _not_a_rule(attr, model_base.__name__, inherited))
        _check_override(shown, line, attr, value, inherited[attr], model_base.__name__)


def _private_of(model_base: type, attr: str) -> str:
    """The built-in class that already defines the private name, or ""."""
    for klass in model_base.__mro__:
        if klass.__module__.startswith("model.") and attr in vars(klass):
            return klass.__name__
    return ""


def _check_name(shown: str, line: int, name: Any) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise PolicyFileError(shown, line, f"name {name!r} is not a policy name (letters, digits, '.', '_' "
                                           f"and '-', starting with a letter or digit)")
    if name in BUILTIN or name in VMMS or name in MODIFIERS:
        raise PolicyFileError(shown, line, f"name {name!r} is taken by a built-in policy or modifier: give the "
                                           f"patched policy a name of its own")


def _not_a_rule(attr: str, base_name: str, inherited: dict[str, Any]) -> str:
    near = difflib.get_close_matches(attr, sorted(inherited), n=1)
    hint = f"; did you mean `{near[0]}`?" if near else ""
    return (f"`{attr}` is not a rule of {base_name}{hint} (a helper's name must start with an underscore; "
            f"`barcheck new-policy --list-rules` lists the rules)")


def _check_override(shown: str, line: int, attr: str, value: Any, base_value: Any, base_name: str) -> None:
    if inspect.isfunction(base_value):
        if not inspect.isfunction(value):
            raise PolicyFileError(shown, line, f"`{attr}` is a rule method of {base_name}: define it with "
                                               f"def {attr}{inspect.signature(base_value)}")
        wanted, got = _parameters(base_value), _parameters(value)
        if wanted != got:
            raise PolicyFileError(shown, line, f"`{attr}({', '.join(got)})` does not match the rule "
                                               f"`{attr}({', '.join(wanted)})` of {base_name}")
        return
    if inspect.isfunction(value):
        raise PolicyFileError(shown, line, f"`{attr}` is a class attribute of {base_name}, not a method: "
                                           f"set it, e.g. {attr} = {base_value!r}")
    if attr in CHOICES and value not in CHOICES[attr]:
        raise PolicyFileError(shown, line, f"`{attr}` must be one of {', '.join(map(repr, CHOICES[attr]))}, "
                                           f"not {value!r}")
    expected = (Vmm,) if attr == "vmm" else (PciCore,) if attr == "pci_core" else (type(base_value),)
    if not isinstance(value, expected) or (expected == (int,) and isinstance(value, bool)):
        raise PolicyFileError(shown, line, f"`{attr}` must be a {expected[0].__name__}, not "
                                           f"{type(value).__name__} {value!r}")


def _parameters(func: Any) -> list[str]:
    return list(inspect.signature(func).parameters)


def _instantiate(shown: str, path: str, cls: type, class_line: int) -> Policy:
    try:
        policy = cls()
    except Exception as err:  # noqa: BLE001
        raise PolicyFileError(shown, line_in(err, path) or class_line,
                              f"{cls.__name__}() raised {type(err).__name__}: {err}") from None
    own = vars(cls)
    if "title" not in own:
        doc = inspect.getdoc(cls) or ""
        policy.title = doc.splitlines()[0] if doc else f"user policy {policy.name}"
    if "kernel_ref" not in own:
        policy.kernel_ref = f"user policy file {shown}"
    return policy


def _run_checks(loaded: PolicyFile) -> None:
    from barcheck.engine.policycheck import PolicyCheckError, check_policy
    try:
        check_policy(loaded.policy, loaded.path)
    except PolicyCheckError as err:
        raise PolicyFileError(loaded.shown, err.line, err.message) from None


def _register(loaded: PolicyFile) -> None:
    name = loaded.policy.name
    other = LOADED.get(name)
    if other is not None and other.sha256 != loaded.sha256:
        raise PolicyFileError(loaded.shown, loaded.class_line, f"policy name {name!r} is also defined by "
                                                               f"{other.shown}: give each policy its own name")
    LOADED[name] = loaded
    register_user_policy(loaded.policy)


IMPORTED: set[str] = set()
"""Modules policy files imported that are neither barcheck's, nor installed, nor the standard library's:
the user's helpers, dropped with the policies so that a second revision imports its own."""


def _is_users(module: types.ModuleType) -> bool:
    filename = getattr(module, "__file__", None)
    return isinstance(filename, str) and is_users_file(filename)



def forget_user_policies() -> None:
    """Unregister every loaded file and its helper modules (`barcheck diff` runs two revisions of one
    policy in turn)."""
    for name in LOADED:
        USER.pop(name, None)
    LOADED.clear()
    for name in IMPORTED:
        sys.modules.pop(name, None)
    IMPORTED.clear()


def loaded_files() -> tuple[tuple[str, str, str], ...]:
    """(shown path, absolute path, sha256) of every loaded file: what a worker process loads again."""
    return tuple((f.shown, f.path, f.sha256) for f in LOADED.values())


WORKER_ERRORS: list[str] = []
"""Why a worker could not load a file the parent checked (a pool initializer must not raise, or the
pool replaces the dead worker forever); the worker's jobs report it instead."""


def load_in_worker(files: tuple[tuple[str, str, str], ...]) -> None:
    """Pool initializer: register the parent's user policies (already checked there)."""
    for shown, path, sha256 in files:
        try:
            loaded = load_policy_file(path, check=False, expect_sha256=sha256)
        except PolicyFileError as err:
            WORKER_ERRORS.append(f"{shown}: {err.message}")
            continue
        LOADED[loaded.policy.name] = PolicyFile(shown, loaded.path, sha256, loaded.policy, loaded.class_line)


@contextlib.contextmanager
def watching_policy_files() -> Iterator[None]:
    """While proofs run: Python operator misuse on a solver term in any loaded policy file is a
    one-line usage error, even on a path the load-time check did not take."""
    if not LOADED:
        yield
        return
    from barcheck.engine.policycheck import Misuse, misuse_trap
    shown = {loaded.path: loaded.shown for loaded in LOADED.values()}
    try:
        with misuse_trap(set(shown)):
            yield
    except Misuse as err:
        raise UsageError(f"--policy: {shown.get(err.path, err.path)}:{err.line}: {err.message}") from None


def policy_file_of(policy_name: str) -> PolicyFile | None:
    """The loaded file a (possibly configured) policy name comes from."""
    return LOADED.get(policy_name.split("+")[0])


def resolve(spec: str) -> str:
    """The policy name a --policy value stands for, loading (and checking) a policy file it names."""
    parts = split_spec(spec)
    if parts is None:
        return spec
    path, modifiers = parts
    return load_policy_file(path).policy.name + modifiers
