"""The only part of the checker that touches z3 (with `model.ops_z3`)."""
