"""The `graph_fake` fixture: a started GraphFake, stopped after the test.

Import it into a conftest: `from fakes.conftest_graph import graph_fake  # noqa: F401`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fakes.graph import GraphFake


@pytest.fixture
async def graph_fake() -> AsyncIterator[GraphFake]:
    async with GraphFake() as fake:
        yield fake
