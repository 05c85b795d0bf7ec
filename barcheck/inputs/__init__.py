"""What users hand in: files read safely, text escaped, user policies loaded, policy templates."""
