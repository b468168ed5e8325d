"""Command-line entry points: thin (parse, call, print), one error and exit-code rule for all."""
