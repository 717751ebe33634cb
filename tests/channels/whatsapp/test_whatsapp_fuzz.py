"""The webhook parser either returns events or raises WebhookRejected, whatever the body holds.

Hypothesis is not a dependency, so this mutates the recorded fixtures with a seeded RNG: values
swapped for values of other types, keys dropped, message types shuffled, bytes flipped and
bodies cut short. The parser's last-resort exception guard must never fire either.
"""

from __future__ import annotations

import copy
import json
import logging
import random
from pathlib import Path
from typing import Any

import pytest

from engine.channels.base import Parsed, Status, WebhookRejected
from engine.channels.whatsapp import parse_webhook
from engine.messages import INBOUND_KINDS, Inbound

FIXTURES = Path(__file__).parents[2] / "fixtures" / "whatsapp"
BODIES = sorted([*FIXTURES.glob("inbound/*.json"), *FIXTURES.glob("statuses/*.json")])
ROUNDS = 60
ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, 10**300, "", "x", "1e999", "٣", [], {}, [None], {"": {}},
    "text", "interactive", "button_reply", "image", "location", "reaction", "wamid.x",
    {"type": "button_reply"}, {"latitude": "1", "longitude": []}, [{"wa_id": 5}],
]
TYPES = ["text", "interactive", "button", "image", "audio", "video", "document", "sticker", "location",
         "contacts", "reaction", "order", "unsupported", "system", "", 5]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _mutate(doc: Any, rng: random.Random) -> Any:
    path = rng.choice(_paths(doc))
    if not path:
        return rng.choice(ODD_VALUES)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    action = rng.random()
    if action < 0.25 and isinstance(parent, dict):
        del parent[last]
    elif action < 0.4 and last == "type":
        parent[last] = rng.choice(TYPES)
    elif action < 0.5 and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[last]))
    else:
        parent[last] = copy.deepcopy(rng.choice(ODD_VALUES))
    return doc


def _byte_mutation(raw: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return raw[: rng.randrange(len(raw))]
    i = rng.randrange(len(raw))
    return raw[:i] + bytes([rng.randrange(256)]) + raw[i + 1:]


def _assert_well_formed(result: list[Parsed]) -> None:
    assert isinstance(result, list)
    for parsed in result:
        assert isinstance(parsed, Parsed) and isinstance(parsed.account, str) and parsed.events
        for event in parsed.events:
            assert isinstance(event, (Inbound, Status))
            if isinstance(event, Inbound):
                assert event.kind in INBOUND_KINDS and event.user and isinstance(event.text, str)
            else:
                assert event.message_id and event.status


@pytest.mark.parametrize("path", BODIES, ids=lambda p: p.stem)
def test_mutated_fixtures_never_crash_the_parser(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(path.stem)
    original = json.loads(path.read_bytes())
    raw = path.read_bytes()
    with caplog.at_level(logging.ERROR, logger="engine.channels.whatsapp"):
        for _ in range(ROUNDS):
            doc = copy.deepcopy(original)
            for _ in range(rng.randint(1, 4)):
                doc = _mutate(doc, rng)
            bodies = [json.dumps(doc).encode(), _byte_mutation(raw, rng)]
            for body in bodies:
                try:
                    result = parse_webhook(body)
                except WebhookRejected as rejected:
                    assert rejected.status == 400
                else:
                    _assert_well_formed(result)
    assert not caplog.records, "the parser's exception guard fired: " + caplog.text
