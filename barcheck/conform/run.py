"""One conformance run per scenario: boot, observe, compare; several boots in parallel."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from barcheck.conform.assets import AssetError, Kernel, build_agent, kernel_files
from barcheck.conform.compare import Comparison, compare
from barcheck.conform.machines import Machine
from barcheck.conform.observe import ObservationError, parse
from barcheck.conform.plan import Plan
from barcheck.conform.qemu import boot, qemu_version
from barcheck.conform.setup import missing_tools
from model.pci import ScenarioError
from model.policies import Policy

AGREE, DISAGREE, MISMATCH, ERROR, SKIPPED = "AGREE", "DISAGREE", "MISMATCH", "ERROR", "SKIPPED"
VERDICTS = (AGREE, DISAGREE, MISMATCH, ERROR, SKIPPED)


@dataclass
class ConformResult:
    plan: Plan
    policy: str
    verdict: str
    reason: str = ""
    kernel: str = ""
    qemu: str = ""
    comparison: Comparison | None = None
    seconds: float = 0.0
    console: list[str] = field(default_factory=list)

    @property
    def machine(self) -> Machine:
        return self.plan.machine


def prepare(machines: list[Machine]) -> dict[str, Kernel | str]:
    """Per arch: the kernel, or why this machine's scenarios are skipped."""
    ready: dict[str, Kernel | str] = {}
    for machine in machines:
        missing = missing_tools(machine)
        if missing:
            ready[machine.arch] = (f"{', '.join(missing)} not installed; run `barcheck conform --setup` "
                                   f"(apt-get: {' '.join(machine.apt_packages)})")
            continue
        try:
            ready[machine.arch] = kernel_files(machine)
            build_agent(machine)
        except AssetError as exc:
            ready[machine.arch] = str(exc)
    return ready


def run_all(plans: list[tuple[Plan, Policy]], jobs: int, timeout_s: float | None,
            progress: Callable[[ConformResult], None]) -> list[ConformResult]:
    machines = list({plan.machine.arch: plan.machine for plan, _ in plans}.values())
    ready = prepare(machines)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(_one, plan, policy, ready[plan.machine.arch], timeout_s, progress)
                   for plan, policy in plans]
        return [f.result() for f in futures]


def _one(plan: Plan, policy: Policy, kernel: Kernel | str, timeout_s: float | None,
         progress: Callable[[ConformResult], None]) -> ConformResult:
    result = ConformResult(plan, policy.name, SKIPPED, qemu=qemu_version(plan.machine.qemu_binary))
    if isinstance(kernel, str):
        result.reason = kernel
        progress(result)
        return result
    result.kernel = f"{plan.machine.kernel.package} {plan.machine.kernel.version}"
    started = time.monotonic()
    try:
        _boot_and_compare(result, plan, policy, kernel, timeout_s or plan.machine.boot_timeout_s)
    except AssetError as exc:
        result.verdict, result.reason = SKIPPED, str(exc)
    except (ObservationError, ScenarioError) as exc:
        result.verdict, result.reason = ERROR, str(exc)
    result.seconds = time.monotonic() - started
    progress(result)
    return result


def _boot_and_compare(result: ConformResult, plan: Plan, policy: Policy, kernel: Kernel, timeout_s: float) -> None:
    booted = boot(plan, kernel, timeout_s)
    result.console = booted.lines
    obs = parse(booted.lines)
    if booted.timed_out:
        result.verdict, result.reason = ERROR, f"the guest did not finish within {timeout_s:.0f} s"
    elif not obs.kernel:
        result.verdict, result.reason = ERROR, f"the agent never started (QEMU exit code {booted.exit_code})"
    if obs.page_bytes and obs.page_bytes != plan.machine.page_bytes:
        raise ObservationError(f"the guest runs with {obs.page_bytes} byte pages, not {plan.machine.page_bytes}")
    failed_modules = sorted(name for name, rc in obs.modules.items() if rc)
    if failed_modules:
        raise ObservationError(f"the guest could not load {', '.join(failed_modules)}")
    if not obs.kernel:
        return
    result.kernel += f" ({obs.kernel})"
    result.comparison = compare(plan.spec, policy, plan.machine.page_bytes, obs)
    result.verdict, result.reason = _verdict(result.comparison, result.verdict, result.reason)
    if booted.harness_errors:
        result.verdict, result.reason = ERROR, "; ".join(booted.harness_errors)


def _verdict(c: Comparison, verdict: str, reason: str) -> tuple[str, str]:
    if c.disagreements:
        return DISAGREE, f"{c.disagreements} difference(s) between the kernel and the model" + \
            (f"; {c.incomplete}" if c.incomplete else "")
    if verdict == ERROR or c.incomplete:
        return ERROR, reason or c.incomplete
    if c.mismatches:
        return MISMATCH, f"the model agrees with the kernel, but {c.mismatches} value(s) the scenario declares differ"
    return AGREE, "the model agrees with the kernel at every step"
