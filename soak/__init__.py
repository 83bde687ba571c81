"""A bounded load test (soak) of the token service: see `python -m soak --help`."""
