"""Boot QEMU with the agent, stream its console, and answer its hot-plug requests over QMP.

The guest asks with `BC hotplug-request NAME`; the host sends QMP
`device_add` and answers on the guest's console with `BCACK NAME ok` (or
`error`), so the guest never guesses how long to wait.
"""

from __future__ import annotations

import functools
import json
import os
import select
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from barcheck.conform.assets import AssetError, Kernel, build_initramfs
from barcheck.conform.plan import Plan

REQUEST = "BC hotplug-request "


@dataclass
class Boot:
    lines: list[str] = field(default_factory=list)
    """The console, one entry per line, with host notes prefixed `HOST `."""
    exit_code: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    harness_errors: list[str] = field(default_factory=list)
    """Failures on the host side (a refused device_add): the run is an ERROR, not a verdict on the model."""


@functools.cache
def qemu_version(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        return "not installed"
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    return (out.splitlines() or ["unknown"])[0].removeprefix("QEMU emulator version ").strip()


def command(plan: Plan, kernel: Kernel, initrd: Path, qmp: Path) -> list[str]:
    m = plan.machine
    binary = shutil.which(m.qemu_binary)
    if binary is None:
        raise AssetError(f"{m.qemu_binary} is not installed (run `barcheck conform --setup`)")
    return [binary, *m.machine_args, "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio",
            "-kernel", str(kernel.image), "-initrd", str(initrd), "-append", m.kernel_args,
            *plan.qemu_device_args(), "-qmp", f"unix:{qmp},server=on,wait=off"]


def boot(plan: Plan, kernel: Kernel, timeout_s: float) -> Boot:
    with tempfile.TemporaryDirectory(prefix="barcheck-conform-") as tmp:
        initrd = Path(tmp) / "initrd.gz"
        initrd.write_bytes(build_initramfs(plan.machine, kernel, plan.plan_text()))
        qmp = Path(tmp) / "qmp.sock"
        return _run(command(plan, kernel, initrd, qmp), plan, qmp, timeout_s)


def _run(cmd: list[str], plan: Plan, qmp: Path, timeout_s: float) -> Boot:
    result = Boot()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    stdin, stdout = proc.stdin, proc.stdout
    if stdin is None or stdout is None:
        proc.kill()
        raise OSError("QEMU was started without its stdin and stdout pipes")
    monitor: _Qmp | None = None
    pending = b""
    try:
        while True:
            if time.monotonic() - started > timeout_s:
                result.timed_out = True
                result.lines.append(f"HOST timeout after {timeout_s:.0f} s, QEMU killed")
                proc.kill()
                break
            ready, _, _ = select.select([stdout], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                break
            pending += chunk
            while b"\n" in pending:
                raw, pending = pending.split(b"\n", 1)
                line = raw.decode("utf-8", "replace").replace("\r", "")
                result.lines.append(line)
                if line.startswith(REQUEST):
                    monitor = monitor or _Qmp(qmp)
                    _answer(stdin, monitor, plan, line[len(REQUEST):].strip(), result)
    finally:
        if pending:
            result.lines.append(pending.decode("utf-8", "replace").replace("\r", ""))
        if monitor:
            monitor.close()
        result.exit_code = proc.wait()
        result.seconds = time.monotonic() - started
    return result


def _answer(stdin: IO[bytes], monitor: "_Qmp", plan: Plan, name: str, result: Boot) -> None:
    try:
        error = monitor.device_add(plan.hotplug_arguments(name))
    except (OSError, StopIteration, ValueError) as exc:
        error = str(exc) or type(exc).__name__
    result.lines.append(f"HOST device_add {name}: {error or 'ok'}")
    if error:
        result.harness_errors.append(f"QEMU refused device_add for {name}: {error}")
    stdin.write(f"BCACK {name} {'error' if error else 'ok'}\n".encode())
    stdin.flush()


class _Qmp:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(30)
        self.sock.connect(str(path))
        self.buffer = b""
        self._message()
        self.sock.sendall(b'{"execute": "qmp_capabilities"}\n')
        self._reply()

    def device_add(self, arguments: dict[str, str]) -> str:
        """'' on success, else QEMU's error text."""
        self.sock.sendall(json.dumps({"execute": "device_add", "arguments": arguments}).encode() + b"\n")
        reply = self._reply()
        return reply["error"].get("desc", "error") if "error" in reply else ""

    def _reply(self) -> dict:
        while True:
            message = self._message()
            if "return" in message or "error" in message:
                return message

    def _message(self) -> dict:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("QMP connection closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        self.sock.close()
