"""The typed accessors of ActionContext: each names one injected client, None when absent."""

from __future__ import annotations

from engine.runtime.actions import ActionContext


def context(**services: object) -> ActionContext:
    return ActionContext(bot="b", user="u", lang="en", slots={}, settings={}, idempotency_key="k", flow="f", step="s",
                         services=services)


def test_each_accessor_returns_its_service() -> None:
    db, redis, http, storage, ai = object(), object(), object(), object(), object()
    ctx = context(db=db, redis=redis, redis_prefix="shop", http=http, storage=storage, openai=ai)
    assert (ctx.db, ctx.redis, ctx.http, ctx.storage, ctx.ai) == (db, redis, http, storage, ai)
    assert ctx.redis_prefix == "shop"


def test_a_host_without_clients_gives_none_and_the_default_prefix() -> None:
    ctx = context()
    assert (ctx.db, ctx.redis, ctx.http, ctx.storage, ctx.ai) == (None, None, None, None, None)
    assert ctx.redis_prefix == "fb"
