"""barcheck: the checker engine and command line.  Imports `model` and `properties`."""

__version__ = "0.1.0"
