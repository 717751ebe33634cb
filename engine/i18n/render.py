"""Messages rendered as Jinja2 templates in a sandbox, formatted for the user's locale.

Flow authors are not trusted with Python: templates run in `SandboxedEnvironment` with
`StrictUndefined`, so a missing variable is an error, never an empty string. Compiled templates
and expressions are cached by source text: a flow's messages compile once per process.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from jinja2 import StrictUndefined, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from engine.i18n.catalog import Catalogs, looks_like_key


class RenderError(Exception):
    """A message that cannot be rendered (bad syntax, unknown variable): an author's bug."""


def babel_locale(lang: str) -> str:
    try:
        return str(Locale.parse(lang.replace("-", "_")))
    except (ValueError, UnknownLocaleError):
        return "en"


def _locale(ctx: Context) -> str:
    return babel_locale(str(ctx.get("_lang", "en")))


@pass_context
def _money(ctx: Context, value: Any, currency: str | None = None) -> str:
    if isinstance(value, Mapping):
        currency = currency or value.get("currency")
        value = value.get("amount")
    currency = currency or str(ctx.get("bot", {}).get("settings", {}).get("currency", "USD"))
    return format_currency(Decimal(str(value)), currency, locale=_locale(ctx))


@pass_context
def _number(ctx: Context, value: Any) -> str:
    try:
        return format_decimal(Decimal(str(value)), locale=_locale(ctx))
    except InvalidOperation:
        return str(value)


@pass_context
def _date(ctx: Context, value: Any, form: str = "medium") -> str:
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return format_date(value, format=form, locale=_locale(ctx))


@pass_context
def _datetime(ctx: Context, value: Any, form: str = "medium") -> str:
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value)
    elif isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_datetime(value, format=form, locale=_locale(ctx))


def make_environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.filters.update(money=_money, number=_number, date=_date, datetime=_datetime)
    return env


_ENV = make_environment()
_TEMPLATES: dict[str, Any] = {}  # compiled once per process, shared across bot reloads
_EXPRESSIONS: dict[str, Any] = {}


class Renderer:
    """Turns a flow message (key, inline text, per-language map, or list) into texts."""

    def __init__(self, catalogs: Catalogs) -> None:
        self.catalogs = catalogs
        self.env = _ENV
        self._templates = _TEMPLATES
        self._expressions = _EXPRESSIONS

    def source(self, message: Any, chain: list[str]) -> list[str]:
        """The template sources a message stands for, in the first language of `chain` found."""
        if message is None:
            return []
        if isinstance(message, list):
            return [s for part in message for s in self.source(part, chain)]
        if isinstance(message, dict):
            for lang in chain:
                if lang in message:
                    return self.source(message[lang], chain)
            return self.source(next(iter(message.values())), chain) if message else []
        text = str(message)
        if looks_like_key(text):
            found = self.catalogs.lookup(text, chain)
            if found is not None:
                return [found]
        return [text]

    def render(self, message: Any, chain: list[str], variables: Mapping[str, Any]) -> list[str]:
        return [self.text(src, variables) for src in self.source(message, chain)]

    def text(self, source: str, variables: Mapping[str, Any]) -> str:
        if "{" not in source:
            return source
        template = self._templates.get(source)
        if template is None:
            try:
                template = self._templates[source] = self.env.from_string(source)
            except Exception as exc:  # TemplateSyntaxError and friends
                raise RenderError(f"cannot read template {source!r}: {exc}") from exc
        try:
            return str(template.render(variables)).strip()
        except Exception as exc:
            raise RenderError(f"cannot render {source!r}: {exc}") from exc

    def evaluate(self, expression: str, variables: Mapping[str, Any]) -> Any:
        compiled = self._expressions.get(expression)
        if compiled is None:
            try:
                compiled = self._expressions[expression] = self.env.compile_expression(expression, undefined_to_none=False)
            except Exception as exc:
                raise RenderError(f"cannot read expression {expression!r}: {exc}") from exc
        try:
            return compiled(**variables)
        except Exception as exc:
            raise RenderError(f"cannot evaluate {expression!r}: {exc}") from exc
