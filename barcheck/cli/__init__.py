"""The `barcheck` command line: argument parsing, subcommands and output files.  Sits on top of every other layer."""
