from barcheck.entry import run

run()
