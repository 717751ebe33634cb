"""Compact JSON for what flowbot keeps and queues: sessions, inbox and outbox items, messaging-log
rows. orjson, because on a loaded worker the standard library's encoder and decoder were about
a twentieth of the CPU (docs/decisions/0002); the same text either way, UTF-8, no spaces."""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS  # {1: "x"} -> {"1": "x"}, as json.dumps does


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:  # what orjson refuses and json takes (an int past 64 bits, a subclass it does not know)
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def loads(raw: bytes | bytearray | str) -> Any:
    return orjson.loads(raw)
