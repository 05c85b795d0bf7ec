"""Scenario files (`barcheck check`): reading, stepping, searching and rendering."""
