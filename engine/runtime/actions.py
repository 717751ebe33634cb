"""Actions: the plugins a flow calls to touch the world (databases, payments, AI, ...).

An action is an explicit `Action` object listed in a plugin module's `ACTIONS` (and custom
validators in `VALIDATORS`); modules are named in the bot manifest and imported at load time,
never discovered while a message is handled. The engine decides, the action does I/O: it gets
an `ActionContext` and returns an `ActionResult` (an outcome the flow branches on, and data).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib
import importlib.metadata
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

from engine.validators._base import ValidatorSpec

log = logging.getLogger("flowbot.actions")
ENTRY_POINT_GROUP = "flowbot.actions"  # installed packages offer plugin modules under a name


@dataclass(frozen=True, slots=True)
class ActionResult:
    outcome: str = "ok"
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionContext:
    """What an action may see and use. `services` carries injected clients (db, redis, http)."""

    bot: str
    user: str
    lang: str
    slots: Mapping[str, Any]
    settings: Mapping[str, Any]
    idempotency_key: str
    flow: str
    step: str
    services: Mapping[str, Any] = field(default_factory=dict)
    log: logging.Logger = log
    bot_root: str = ""  # the bot's folder (flows/<bot>/), for plugins that read files kept next to the bot

    # The clients the host injects, by name (None where this host has none: `flowbot chat`, a
    # transcript played without them). `flowbot serve` and `flowbot worker` inject all of them
    # that their configuration allows.
    @property
    def db(self) -> Any:
        """The PostgreSQL store (a PostgresStore, or a psycopg AsyncConnectionPool in tests):
        `async with ctx.db.pool.connection()` / `ctx.db.connection()`. Needs DATABASE_URL."""
        return self.services.get("db")

    @property
    def redis(self) -> Any:
        """The deployment's redis.asyncio client; prefix your keys with `redis_prefix`."""
        return self.services.get("redis")

    @property
    def redis_prefix(self) -> str:
        return str(self.services.get("redis_prefix") or "fb")

    @property
    def http(self) -> Any:
        """A shared aiohttp.ClientSession (30 s total timeout unless a request says otherwise)."""
        return self.services.get("http")

    @property
    def storage(self) -> Any:
        """The media store of the storage plugin (actions/storage): save, url, delete."""
        return self.services.get("storage")

    @property
    def ai(self) -> Any:
        """An injected openai.AsyncOpenAI client, if any (the ai plugin builds one from OPENAI_API_KEY otherwise)."""
        return self.services.get("openai")


ActionFn = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class CallProblem:
    """What an action's own lint check (`Action.check`) finds wrong with one call: at `path`
    under the step's `with` (its key when `key`), or at `file:line` when the fault is in a file
    the action reads (a bot's queries.sql, say; `file` relative like lint's other files)."""

    message: str
    code: str
    path: tuple[Any, ...] = ()
    key: bool = False
    file: str = ""
    line: int = 0


# (the call's `with` as written, the bot's folder) -> what is wrong with it; templated values
# are only known at run time and must be let through
CallCheck = Callable[[Mapping[str, Any], Path], list[CallProblem]]


@dataclass(frozen=True)
class Action:
    """An action as a plugin declares it. `args`/`result` are JSON Schemas lint checks calls with;
    `check`, when given, checks what a schema cannot (a name the bot must declare elsewhere)."""

    name: str
    fn: ActionFn
    args: Mapping[str, Any] = field(default_factory=dict)
    result: Mapping[str, Any] = field(default_factory=dict)
    outcomes: tuple[str, ...] = ("ok",)
    description: str = ""
    check: CallCheck | None = None
    # outcomes that depend on the call (ai.classify answers each intent's name): given the call's
    # `with`, the outcomes beyond `outcomes`, or None when only the run knows (a templated list)
    outcomes_of: Callable[[Mapping[str, Any]], tuple[str, ...] | None] | None = None

    @functools.cached_property
    def _result_schema(self) -> Draft7Validator | None:
        """`result` (a schema per data field) as one validator, made at the first call."""
        return Draft7Validator({"type": "object", "properties": dict(self.result)}) if self.result else None

    def wrong_shape(self, result: ActionResult, args: Mapping[str, Any] | None) -> str | None:
        """What is wrong with a result this action returned, against what it declares: an
        outcome it does not declare, or a data field of the wrong type. None when it is right.
        `args` None: the call is not known (a transcript's stub), nor are outcomes that depend on it."""
        if self.outcomes_of is None:
            extra: tuple[str, ...] | None = ()
        else:
            extra = self.outcomes_of(args) if args is not None else None
        if extra is not None and result.outcome not in self.outcomes + extra:
            return f"answered the outcome {result.outcome!r}, not one it declares ({', '.join(self.outcomes + extra)})"
        schema = self._result_schema
        error = next(iter(schema.iter_errors(dict(result.data))), None) if schema is not None else None
        if error is not None:
            where = ".".join(map(str, error.absolute_path)) or "data"
            return f"returned {where} of the wrong shape: {error.message}"
        return None


class ActionError(Exception):
    """An action failed: raised, timed out, or returned something of the wrong shape."""


class PluginError(Exception):
    """A plugin module that cannot be loaded or declares something wrong."""


@dataclass
class Plugins:
    actions: dict[str, Action] = field(default_factory=dict)
    validators: dict[str, ValidatorSpec] = field(default_factory=dict)

    @staticmethod
    def load(modules: tuple[str, ...] | list[str]) -> Plugins:
        """For each name the manifest lists: the module an installed package registered under that
        name in the `flowbot.actions` entry-point group, else `actions.<name>` from this
        repository, else the name as a dotted module path; collect what each lists."""
        plugins = Plugins()
        installed = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
        for name in modules:
            module_name = installed.get(name) or (name if "." in name else f"actions.{name}")
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise PluginError(f"cannot import action module {module_name!r}: {exc}") from exc
            for action in getattr(module, "ACTIONS", []):
                if not isinstance(action, Action):
                    raise PluginError(f"{module_name}.ACTIONS holds {action!r}, not an Action")
                if action.name in plugins.actions:
                    raise PluginError(f"action {action.name!r} is declared twice ({module_name})")
                plugins.actions[action.name] = action
            for spec in getattr(module, "VALIDATORS", []):
                if not isinstance(spec, ValidatorSpec):
                    raise PluginError(f"{module_name}.VALIDATORS holds {spec!r}, not a ValidatorSpec")
                plugins.validators[spec.name] = spec
        return plugins


def idempotency_key(bot: str, user: str, message_id: str, flow: str, step: str) -> str:
    """Same inbound message, same step: same key, so a retried turn does not act twice."""
    raw = f"{bot}\x1f{user}\x1f{message_id}\x1f{flow}\x1f{step}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def as_result(value: Any) -> ActionResult:
    if isinstance(value, ActionResult):
        return value
    if value is None:
        return ActionResult()
    if isinstance(value, Mapping):
        return ActionResult(outcome="ok", data=dict(value))
    raise ActionError(f"returned {type(value).__name__}, expected an ActionResult or a mapping")


async def call(action: Action, ctx: ActionContext, args: Mapping[str, Any], timeout: float, retries: int) -> ActionResult:
    """Run an action with its per-call timeout and retries; any failure becomes ActionError."""
    attempt = 0
    while True:
        try:
            result = as_result(await asyncio.wait_for(action.fn(ctx, **args), timeout))
            wrong = action.wrong_shape(result, args)
            if wrong is not None:  # a bug in the plugin, not a passing failure: not retried
                raise ActionError(wrong)
            return result
        except ActionError:
            raise
        except TimeoutError as exc:
            failure: Exception = ActionError(f"timed out after {timeout:g}s")
            failure.__cause__ = exc
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not reach the user
            failure = ActionError(f"{type(exc).__name__}: {exc}")
            failure.__cause__ = exc
        attempt += 1
        if attempt > retries:
            raise failure
        await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
