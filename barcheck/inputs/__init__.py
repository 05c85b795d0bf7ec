"""What users hand in: files read safely, text escaped, source files told apart, the bad-input error."""
