"""The runtime: sessions, turns, stores. `Runtime` is the entry point."""

from engine.runtime.runtime import Runtime
from engine.runtime.store import MemoryStore, SessionStore
from engine.runtime.turn import TurnResult

__all__ = ["MemoryStore", "Runtime", "SessionStore", "TurnResult"]
