"""Saved counterexamples: their schema, loading, replay and export as regression tests."""
