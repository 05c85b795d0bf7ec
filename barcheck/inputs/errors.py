"""The error every layer raises for bad input: the command line reports it as one line, exit code 2."""


class UsageError(Exception):
    """Bad input (a flag, a file, a policy): reported as one line, exit code 2."""
