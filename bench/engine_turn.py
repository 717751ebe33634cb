"""The engine's cost per turn without I/O, next to `transitions` alone making the same moves.

Plays every user turn of a bot's transcripts (tests/transcripts/<bot>/*.yaml) for many users
through the real runtime (memory store, fake clock, stubbed actions as the transcripts stub
them), timing each `Runtime.handle`. It records the state changes each turn made and replays
exactly those on plain `transitions` machines with a model attached, timing each turn again.
Prints median and p99 in microseconds, the ratio, and the size of the sessions.

    python bench/engine_turn.py [--bot demo] [--users 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from transitions import Machine  # noqa: E402

from engine.clock import FakeClock  # noqa: E402
from engine.flow.loader import load_bot  # noqa: E402
from engine.flow.machine import FlowMachine  # noqa: E402
from engine.runtime import MemoryStore, Runtime  # noqa: E402
from engine.testing.coverage import Coverage  # noqa: E402
from engine.testing.transcript import inbound_for, read  # noqa: E402


class Recorder(Coverage):
    """Coverage that also keeps the ordered moves of the current turn."""

    def __init__(self) -> None:
        super().__init__()
        self.moves: list[tuple[str, str, str]] = []

    def take(self, flow: str, step: str, label: str) -> None:
        self.moves.append((flow, step, label))


def scripts(bot: str) -> list[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Each transcript's message turns (no waits or releases) with its stubs."""
    out = []
    for path in sorted((ROOT / "tests" / "transcripts" / bot).glob("*.yaml")):
        data = read(path)
        turns = [t for t in data["turns"] if "wait" not in t and "release" not in t]
        stubs = dict(data.get("stubs") or {})
        out.append((turns, stubs))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure_engine(bot_dir: Path, bot: str, users: int) -> tuple[list[float], list[list[tuple[str, str, str]]], list[int]]:
    loaded = load_bot(bot_dir)
    runtime = Runtime(loaded, MemoryStore(), FakeClock())
    recorder = Recorder()
    runtime.coverage = recorder
    plays = scripts(bot)
    times: list[float] = []
    moves: list[list[tuple[str, str, str]]] = []
    for u in range(users):
        turns, stubs = plays[u % len(plays)]
        user = f"2547{u:08d}"
        for n, turn in enumerate(turns, 1):
            inbound = inbound_for(turn, user, n, ROOT)
            if inbound is None:
                continue
            turn_stubs = {**stubs, **(turn.get("stub") or {})}
            recorder.moves = []
            runtime.clock.advance(1.0)  # type: ignore[attr-defined]
            t0 = time.perf_counter_ns()
            await runtime.handle(inbound, turn_stubs)
            times.append((time.perf_counter_ns() - t0) / 1000)
            moves.append(recorder.moves)
    sizes = [len(doc) for doc in runtime.store._docs.values()]  # type: ignore[attr-defined]
    return times, moves, sizes


class Model:
    pass


def build_machines(bot_dir: Path) -> dict[str, tuple[Machine, dict[str, str]]]:
    """Plain `transitions` machines with the same states and triggers as the engine's."""
    loaded = load_bot(bot_dir)
    machines = {}
    for flow in loaded.bot.flows.values():
        compiled = FlowMachine(flow).machine
        machine = Machine(model=None, states=list(compiled.states), initial=flow.start, auto_transitions=False)
        for trigger, event in compiled.events.items():
            for source, transitions in event.transitions.items():
                for t in transitions:
                    machine.add_transition(trigger, source, t.dest)
        machines[flow.name] = (machine, {})
    return machines


def measure_transitions(bot_dir: Path, moves: list[list[tuple[str, str, str]]], attach_per_turn: bool) -> list[float]:
    """The same state changes on `transitions` alone.

    attach_per_turn: the way a transitions-based engine serves many users from one shared
    machine (STYLE.md): each turn attaches a light model at the user's state, triggers, and
    detaches it. Otherwise one model per flow stays attached and is only moved (a lower bound).
    """
    machines = build_machines(bot_dir)
    kept: dict[str, Model] = {}
    if not attach_per_turn:
        for name, (machine, _) in machines.items():
            kept[name] = Model()
            machine.add_model(kept[name])
    times = []
    for turn in moves:
        t0 = time.perf_counter_ns()
        for flow, step, label in turn:
            machine, _ = machines[flow]
            if attach_per_turn:
                model = Model()
                machine.add_model(model, initial=step)
                try:
                    model.trigger(label)  # type: ignore[attr-defined]
                finally:
                    machine.remove_model(model)
            else:
                model = kept[flow]
                machine.set_state(step, model)
                model.trigger(label)  # type: ignore[attr-defined]
        times.append((time.perf_counter_ns() - t0) / 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bot", default="demo")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # stubbed action failures are part of the mix
    bot_dir = ROOT / "flows" / args.bot
    asyncio.run(measure_engine(bot_dir, args.bot, 20))  # warm caches: templates, machines
    engine_all: list[float] = []
    base_all: list[float] = []
    kept_all: list[float] = []
    sizes: list[int] = []
    for _ in range(args.rounds):
        gc.collect()
        times, moves, sizes = asyncio.run(measure_engine(bot_dir, args.bot, args.users))
        engine_all += times
        base_all += measure_transitions(bot_dir, moves, attach_per_turn=True)
        kept_all += measure_transitions(bot_dir, moves, attach_per_turn=False)
    e50, e99 = statistics.median(engine_all), percentile(engine_all, 0.99)
    b50, b99 = statistics.median(base_all), percentile(base_all, 0.99)
    k50, k99 = statistics.median(kept_all), percentile(kept_all, 0.99)
    print(f"bot {args.bot}: {len(engine_all)} turns ({args.users} users x {args.rounds} rounds), python {sys.version.split()[0]}")
    print(f"engine per turn       median {e50:8.1f} us   p99 {e99:8.1f} us")
    print(f"transitions alone     median {b50:8.1f} us   p99 {b99:8.1f} us   (a model attached per turn, as a shared machine is used)")
    print(f"transitions, kept     median {k50:8.1f} us   p99 {k99:8.1f} us   (one model per flow left attached: a lower bound)")
    print(f"ratio engine/transitions (median): {e50 / b50 if b50 else float('inf'):.2f}x")
    print(f"session size          median {statistics.median(sizes):.0f} B   max {max(sizes)} B   ({len(sizes)} sessions)")
    print(f"targets: median < 300 us: {'yes' if e50 < 300 else 'NO'}; < 3x transitions: {'yes' if b50 and e50 < 3 * b50 else 'NO'}; "
          f"typical session < 1 KB: {'yes' if statistics.median(sizes) < 1024 else 'NO'}")


if __name__ == "__main__":
    main()
