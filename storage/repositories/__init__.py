"""Repositories: small functions that take a session and do one thing with the tables."""
