"""Which steps and transitions of a bot the transcripts reach, and which they never do."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.flow.model import Bot


@dataclass
class Coverage:
    steps: set[tuple[str, str]] = field(default_factory=set)  # (flow, step)
    transitions: set[tuple[str, str, str]] = field(default_factory=set)  # (flow, step, label)

    def visit(self, flow: str, step: str) -> None:
        self.steps.add((flow, step))

    def take(self, flow: str, step: str, label: str) -> None:
        self.transitions.add((flow, step, label))

    def missing(self, bot: Bot) -> dict[str, tuple[list[str], list[str]]]:
        """Per flow: steps never visited, and transitions (`step --label--> target`) never taken."""
        out = {}
        for flow in bot.flows.values():
            steps = [s for s in flow.steps if (flow.name, s) not in self.steps]
            edges = [
                f"{step.name} --{label}--> {target.state()}"
                for step in flow.steps.values()
                for label, target in step.targets()
                if (flow.name, step.name, label) not in self.transitions and step.kind != "end"
                and label not in ("call",)
            ]
            out[flow.name] = (steps, edges)
        return out
