"""Redis commands packed by hiredis in one C call, not argument by argument in Python.

redis-py packs every command through a Python generator that checks and encodes each argument
before it hands the tuple to `hiredis.pack_command`. A loaded worker sends about 46 arguments a
message (the queue's scripts and stream commands), and that generator was 5-9 % of its CPU
(docs/decisions/0002). hiredis already accepts str, bytes, int and float itself, encodes str as
UTF-8 and formats numbers as `repr` does, which is what redis-py's encoder would have done; so
when every argument is one of those, the tuple goes straight to hiredis. Anything else (a
memoryview, a bytearray, a bool, None, a command name with a space such as "CONFIG GET")
takes redis-py's own path, which encodes it or raises its usual DataError.
"""

from __future__ import annotations

from typing import Any

try:
    from hiredis import pack_command as _pack
except ImportError:  # pragma: no cover - hiredis is a dependency (redis[hiredis])
    _pack = None


class LeanPacking:
    """A mixin for a redis-py asyncio connection class (see `lean`)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        name = args[0]
        if (type(name) is str and " " not in name) or (type(name) is bytes and b" " not in name):
            try:
                return [_pack(args)]  # type: ignore[misc]
            except (TypeError, UnicodeEncodeError):
                pass  # redis-py's path encodes what it can and raises its own errors
        return super().pack_command(*args)  # type: ignore[misc]


def lean(connection_class: type) -> type:
    """`connection_class` (plain, TLS or Unix socket) packing commands with `LeanPacking`."""
    if _pack is None or issubclass(connection_class, LeanPacking):
        return connection_class
    return type(f"Lean{connection_class.__name__}", (LeanPacking, connection_class), {})
