from barcheck.cli.entry import run

run()
