"""Ctrl-C belongs to barcheck (barcheck/cli/interrupt.py), not to z3."""

from __future__ import annotations

import z3


def leave_ctrl_c_to_barcheck() -> None:
    """By default z3 catches SIGINT during a check, answers UNKNOWN and lets the run go on as if nothing
    happened; with this, the signal reaches barcheck's handler instead (for every later call, in this process)."""
    z3.set_param("ctrl_c", False)
