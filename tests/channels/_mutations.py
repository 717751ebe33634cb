"""Small mutation fuzz for webhook parsers: a malformed body must be refused with 400, never
raise anything else. Mutations are seeded, so a failure is reproducible from its parameters."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any

from engine.channels.base import Parsed, Status, WebhookRejected
from engine.messages import INBOUND_KINDS, Inbound

SPECIALS = [b"%", b"%FF", b"%C3", b"&", b"=", b"&&=", b"\x00", b"\xff\xfe", b"{", b"}", b"[", b"]", b'"',
            b",", b":", b"\\", b'"\\ud800"', b"null", b"1e999", b"NaN", b"-", b"+", b"whatsapp:", b"[" * 2000]
ODD_VALUES: list[Any] = [None, True, False, 0, -1, 1.5, "", "x", "0", [], {}, [None], [{}], {"id": None},
                         "9" * 400, 10**30, "nan", "inf", "1e999", "-91", "\u0000", "\ud800"]


def byte_mutations(body: bytes, count: int, seed: int) -> Iterator[bytes]:
    """`count` corruptions of `body`: bytes flipped, ranges cut, odd tokens inserted, truncations."""
    rng = random.Random(seed)
    for _ in range(count):
        data = bytearray(body)
        for _ in range(rng.randint(1, 4)):
            op, pos = rng.randrange(4), rng.randrange(len(data) + 1)
            if op == 0 and data:
                data[min(pos, len(data) - 1)] = rng.randrange(256)
            elif op == 1:
                del data[pos : pos + rng.randint(1, 16)]
            elif op == 2:
                data[pos:pos] = rng.choice(SPECIALS)
            else:
                del data[pos:]
        yield bytes(data)


def _slots(node: Any) -> Iterator[tuple[Any, Any]]:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield node, key
        yield from _slots(child)


def tree_mutations(document: dict[str, Any], count: int, seed: int) -> Iterator[bytes]:
    """`count` JSON bodies in which one node was removed or replaced by a value of another type."""
    rng = random.Random(seed)
    for _ in range(count):
        copy = json.loads(json.dumps(document))
        slots = list(_slots(copy))
        for _ in range(rng.randint(1, 3)):
            parent, key = rng.choice(slots)
            if isinstance(parent, dict) and key in parent and rng.random() < 0.25:
                del parent[key]
            elif isinstance(parent, dict) or key < len(parent):
                parent[key] = rng.choice(ODD_VALUES)
        yield json.dumps(copy).encode("utf-8", "surrogatepass")


def form_mutations(fields: list[tuple[str, str]], count: int, seed: int) -> Iterator[list[tuple[str, str]]]:
    """`count` forms in which fields were dropped, duplicated or given odd values."""
    rng = random.Random(seed)
    for _ in range(count):
        form = list(fields)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(form))
            op = rng.randrange(3)
            if op == 0:
                del form[i]
            elif op == 1:
                form.append((form[i][0], rng.choice(["", "x", "nan", "1e999"])))
            else:
                form[i] = (form[i][0], str(rng.choice(ODD_VALUES)))
            if not form:
                break
        yield form


def assert_parses_or_400(parse: Callable[[bytes], Parsed], body: bytes) -> None:
    """`parse(body)` returns well-formed events or raises WebhookRejected(400); nothing else."""
    try:
        parsed = parse(body)
    except WebhookRejected as exc:
        assert exc.status == 400, (exc.status, exc.reason, body[:200])
        return
    assert isinstance(parsed, Parsed)
    for event in parsed.events:
        assert isinstance(event, (Inbound, Status)), event
        if isinstance(event, Inbound):
            assert event.kind in INBOUND_KINDS and isinstance(event.user, str) and event.user
