"""WhatsApp channel tests: the Graph fake fixture (real HTTP on loopback)."""

from fakes.conftest_graph import graph_fake  # noqa: F401
