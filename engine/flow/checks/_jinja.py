"""Compiling message templates and expressions the way the runtime does, and reading the AST.

Compiling (not only parsing) also catches unknown filters (`{{ x | mony }}`). Results are cached
by source text: a catalog entry used by ten steps is compiled once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment


@dataclass
class Compiled:
    ast: nodes.Template | None
    error: str | None = None


@dataclass
class Compiler:
    env: SandboxedEnvironment
    _cache: dict[tuple[str, bool], Compiled] = field(default_factory=dict)

    def template(self, source: str) -> Compiled:
        return self._compile(source, expression=False)

    def expression(self, source: str) -> Compiled:
        return self._compile(source, expression=True)

    def _compile(self, source: str, expression: bool) -> Compiled:
        key = (source, expression)
        if key not in self._cache:
            self._cache[key] = self._build(source, expression)
        return self._cache[key]

    def _build(self, source: str, expression: bool) -> Compiled:
        try:
            if expression:
                parser = Parser(self.env, source, state="variable")
                expr = parser.parse_expression()
                if not parser.stream.eos:
                    raise TemplateSyntaxError("unexpected text after the expression", parser.stream.current.lineno)
                ast = nodes.Template([nodes.Output([expr])], lineno=1).set_environment(self.env)
                self.env.compile_expression(source)
            else:
                ast = self.env.parse(source)
                self.env.compile(ast)
        except TemplateSyntaxError as exc:
            return Compiled(None, _explain(exc, source))
        return Compiled(ast)

    def undeclared(self, ast: nodes.Template) -> set[str]:
        return meta.find_undeclared_variables(ast)


def _explain(exc: TemplateSyntaxError, source: str) -> str:
    line = f" (line {exc.lineno})" if "\n" in source.strip() and exc.lineno else ""
    return f"{exc.message}{line}"


def attributes(ast: nodes.Template, name: str) -> Iterator[str]:
    """The attributes read from the variable `name`: `slots.qty` and `slots['qty']` give qty."""
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        if not (isinstance(node.node, nodes.Name) and node.node.name == name):
            continue
        if isinstance(node, nodes.Getattr):
            yield node.attr
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            yield node.arg.value


def settings_read(ast: nodes.Template) -> Iterator[str]:
    """The keys read from `bot.settings`: `bot.settings.currency` gives currency."""
    for node in ast.find_all(nodes.Getattr):
        inner = node.node
        if (isinstance(inner, nodes.Getattr) and inner.attr == "settings"
                and isinstance(inner.node, nodes.Name) and inner.node.name == "bot"):
            yield node.attr
