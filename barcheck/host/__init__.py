"""Checking a real machine's layout: the resource tree of a dump, each BAR at each page size."""
