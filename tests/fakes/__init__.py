"""Fakes of external services that tests (and local development) talk to over real HTTP."""
