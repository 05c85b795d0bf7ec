from barcheck.cli import run

run()
