"""Standalone visual reports: address maps as SVG and the result document as one HTML page."""
