"""Deterministic fallbacks used when there is no `OPENAI_API_KEY`: development and tests work
without the network, and give the same answer every time. They are weaker than the model:
good enough to build and test flows, not to face users at scale."""
