"""Each flow version compiled once into a `transitions` state machine shared by every session.

States are the flow's steps, plus `end` and one exit state per other flow it jumps or calls to
(`@address`, `@main.menu`). Triggers are the labels of a step's ways out (`next`, `on:yes`,
`if:0`, `error`, `fallback`, `expire`, `goto`, `call`). The runtime never attaches a model:
it reads the shared transition table (`FlowMachine.destination`), so a session costs only its
JSON document, and no string from YAML ever reaches `transitions` as a callback.
"""

from __future__ import annotations

from transitions import Machine

from engine.flow.model import END, Flow, Target


class FlowMachine:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        states = list(flow.steps) + [END]
        edges: list[tuple[str, str, str]] = []
        for step in flow.steps.values():
            for label, target in step.targets():
                dest = target.state()
                if dest not in states:
                    states.append(dest)
                edges.append((label, step.name, dest))
        self.machine = Machine(model=None, states=states, initial=flow.start, auto_transitions=False,
                               send_event=False, ignore_invalid_triggers=False)
        for label, source, dest in edges:
            self.machine.add_transition(label, source, dest)
        self._table: dict[tuple[str, str], Target] = {}

    def destination(self, step: str, label: str) -> Target | None:
        """Where `label` leads from `step`, per the machine's transition table."""
        key = (step, label)
        cached = self._table.get(key)
        if cached is not None:
            return cached
        event = self.machine.events.get(label)
        if event is None:
            return None
        transitions = event.transitions.get(step)
        if not transitions:
            return None
        target = self._table[key] = Target.from_state(transitions[0].dest)
        return target
