"""Template tests: the Graph fake (real HTTP on loopback) and a folder of template files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fakes.conftest_graph import graph_fake  # noqa: F401
from fakes.graph import GraphFake

from engine.templates.graph import TemplatesAPI

TOKEN = "EAAG-template-test-token-5f1c"
WABA_ID = "102290129340398"


@pytest.fixture
async def api(graph_fake: GraphFake) -> AsyncIterator[TemplatesAPI]:  # noqa: F811
    async with TemplatesAPI(TOKEN, WABA_ID, base_url=graph_fake.url, version="v23.0") as client:
        yield client


PARCEL = """\
name: parcel
category: utility
languages:
  en:
    body: "Your parcel {{1}} is now: {{2}}."
    examples: ["HD-1236", "out for delivery"]
    buttons: [{type: quick_reply, text: Track}]
  sw:
    body: "Kifurushi {{1}} sasa: {{2}}."
    examples: ["HD-1236", "kiko njiani"]
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """templates/whatsapp with one template, parcel (en, sw)."""
    directory = tmp_path / "templates" / "whatsapp"
    directory.mkdir(parents=True)
    (directory / "parcel.yaml").write_text(PARCEL, encoding="utf-8")
    return directory
