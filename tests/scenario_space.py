"""Concrete scenario generators for the differential and exhaustive tests (they live in the package:
the policy-file check uses them too)."""

from barcheck.engine.space import MMIO, grid_scenarios, random_scenarios, small_space  # noqa: F401
