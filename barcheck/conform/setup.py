"""Host prerequisites of `barcheck conform`, and `barcheck conform --setup`, which installs them with apt-get."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Iterable, TextIO

from barcheck.conform.machines import Machine


def missing_tools(machine: Machine) -> list[str]:
    return [tool for tool in (machine.qemu_binary, machine.compiler) if shutil.which(tool) is None]


def install(machines: Iterable[Machine], out: TextIO) -> int:
    """apt-get the packages of the machines; 0 on success, else apt's exit code (or 1).

    A failed `apt-get update` (one index out of sync, say) is reported and the install still
    tried: the package lists already on the host may be enough.
    """
    packages = sorted({p for m in machines for p in m.apt_packages})
    apt = shutil.which("apt-get")
    if apt is None:
        out.write("barcheck conform --setup: no apt-get on this host; install QEMU and the compilers by hand: "
                  f"{' '.join(packages)}\n")
        return 1
    prefix = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if prefix is None:
        out.write("barcheck conform --setup: apt-get needs root (and there is no sudo)\n")
        return 1
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for step in (["update", "-qq"], ["install", "-y", "-qq", "--no-install-recommends", *packages]):
        out.write(f"barcheck conform --setup: apt-get {' '.join(step)}\n")
        out.flush()
        done = subprocess.run([*prefix, apt, *step], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            out.write(f"barcheck conform --setup: apt-get {step[0]} failed ({done.returncode}): {last}\n")
            if step[0] != "update":
                return done.returncode
    return 0
