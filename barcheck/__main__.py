"""`python -m barcheck`: the barcheck command."""

from barcheck.cli.entry import run

run()
