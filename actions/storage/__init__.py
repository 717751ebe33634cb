"""Built-in plugin `storage`: keep files users send, and hand out URLs to them.

    steps:
      ask_photo:
        ask: listing.ask_photo
        validate: {type: media, kinds: [image]}
        into: photo                       # {kind, id, mime, size, caption}
        next: keep_photo
      keep_photo:
        action: storage.save
        with: {media_id: "{{ slots.photo.id }}", area: private}
        into: stored                      # {id, area, content_type, size, sha256, url, expires_at}
        on: {ok: thanks, refused: ask_photo}
        on_error: {say: errors.try_later, next: menu}

`storage.save` downloads the file from the provider (a WhatsApp media id, through the bot's
Graph client and WHATSAPP_API_BASE_URL; or a URL on a host the bot allows), checks its size and
type, stores it once per turn (the turn's idempotency key) in the `public` or `private` area of
the backend (a local directory, or an S3-compatible bucket) and records it (table
`media_objects`). `storage.url` makes a signed, short-lived URL of a private file (served by
GET /media/<token>, each access logged) or the plain URL of a public one; `storage.delete`
removes one. Delete-my-data removes every file of the user (`MediaStorage.forget`).

The service is `services["storage"]` (a `MediaStorage`; `flowbot serve`/`worker` inject it);
without one, it is built from the environment on `services["db"]`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from actions.storage import sources
from actions.storage.records import MediaDbMissing, MediaObject
from actions.storage.service import MediaStorage
from actions.storage.signing import MediaSecretMissing
from engine.runtime.actions import Action, ActionContext, ActionError, ActionResult

__all__ = ["ACTIONS", "MediaStorage"]


def settings_of(ctx: ActionContext) -> Mapping[str, Any]:
    found = (ctx.settings or {}).get("storage") or {}
    return found if isinstance(found, Mapping) else {}


@asynccontextmanager
async def _storage(ctx: ActionContext) -> AsyncIterator[MediaStorage]:
    """The host's service; else one built from the environment for this call, on services["db"]."""
    injected = ctx.services.get("storage")
    if isinstance(injected, MediaStorage):
        yield injected
        return
    built = MediaStorage.from_env(ctx.services.get("db"))
    try:
        yield built
    finally:
        await built.close()


def _described(storage: MediaStorage, obj: MediaObject, ttl: Any = None) -> dict[str, Any]:
    try:
        url, expires = storage.url_of(obj, ttl)
    except MediaSecretMissing as exc:
        raise ActionError(str(exc)) from None
    return {"id": obj.public_id, "area": obj.area, "content_type": obj.content_type, "size": obj.size,
            "sha256": obj.sha256, "url": url, "expires_at": expires}


async def save(ctx: ActionContext, media_id: str | None = None, url: str | None = None, area: str = "private",
               max_size: int | None = None, types: list[str] | None = None) -> ActionResult:
    settings = settings_of(ctx)
    try:
        policy = sources.policy_from(dict(settings), max_size, types)
    except ValueError as exc:
        raise ActionError(str(exc)) from None
    async with _storage(ctx) as storage:
        try:
            obj, _ = await storage.save(bot=ctx.bot, user=ctx.user, idempotency_key=ctx.idempotency_key, area=area,
                                        policy=policy, media_id=media_id, url=url,
                                        url_hosts=settings.get("url_hosts") or ())
        except sources.Refused as refused:
            ctx.log.info("storage.save refused a file of bot %s: %s", ctx.bot, refused)
            return ActionResult(outcome="refused", data={"reason": refused.reason, "max_size": policy.max_size,
                                                         "types": list(policy.types)})
        except (ValueError, LookupError, MediaDbMissing) as exc:  # a configuration or flow mistake, said plainly
            raise ActionError(str(exc)) from None
        return ActionResult(data=_described(storage, obj))


async def url(ctx: ActionContext, id: str, ttl: int | None = None) -> ActionResult:
    async with _storage(ctx) as storage:
        obj = await _own(storage, ctx, id)
        if obj is None:
            return ActionResult(outcome="missing", data={"id": id})
        try:
            return ActionResult(data=_described(storage, obj, ttl))
        except ValueError as exc:
            raise ActionError(str(exc)) from None


async def delete(ctx: ActionContext, id: str) -> ActionResult:
    async with _storage(ctx) as storage:
        obj = await _own(storage, ctx, id)
        if obj is None:
            return ActionResult(outcome="missing", data={"id": id})
        await storage.delete(obj)
        return ActionResult(data={"id": id})


async def _own(storage: MediaStorage, ctx: ActionContext, public_id: Any) -> MediaObject | None:
    try:
        return await storage.find(ctx.bot, ctx.user, str(public_id))
    except MediaDbMissing as exc:
        raise ActionError(str(exc)) from None


_ID = {"type": "string", "description": "The stored file's id (`id` in storage.save's result)."}
_STORED = {"id": {"type": "string"}, "area": {"type": "string", "enum": ["public", "private"]},
           "content_type": {"type": "string"}, "size": {"type": "integer"},
           "sha256": {"type": "string"}, "url": {"type": "string"}, "expires_at": {"type": ["number", "null"]}}

ACTIONS = [
    Action(
        name="storage.save",
        fn=save,
        args={
            "type": "object",
            "properties": {
                "media_id": {"type": "string", "description": "The provider's media id of a file the user sent "
                             "(`slots.<into>.id` after `validate: {type: media}`)."},
                "url": {"type": "string", "description": "Or a URL to fetch, on a host in settings.storage.url_hosts."},
                "area": {"type": "string", "enum": ["public", "private"],
                         "description": "private (default): served only through signed URLs; public: a plain URL."},
                "max_size": {"type": "integer", "minimum": 1, "description": "Bytes; default settings.storage.max_size (16 MB)."},
                "types": {"type": "array", "items": {"type": "string"},
                          "description": "Accepted MIME types (image/jpeg, image/*); default settings.storage.allowed_types."},
            },
            "anyOf": [{"required": ["media_id"]}, {"required": ["url"]}],
            "additionalProperties": False,
        },
        result=_STORED,
        outcomes=("ok", "refused"),
        description="Download a file from the provider, check it, store it in the public or private area",
    ),
    Action(
        name="storage.url",
        fn=url,
        args={"type": "object", "properties": {
            "id": _ID, "ttl": {"type": "integer", "minimum": 1, "maximum": 604800,
                               "description": "Seconds a private URL stays valid (default FLOWBOT_MEDIA_URL_TTL, 300)."}},
              "required": ["id"], "additionalProperties": False},
        result=_STORED,
        outcomes=("ok", "missing"),
        description="A signed, short-lived URL of a private file, or the URL of a public one",
    ),
    Action(
        name="storage.delete",
        fn=delete,
        args={"type": "object", "properties": {"id": _ID}, "required": ["id"], "additionalProperties": False},
        result={"id": {"type": "string"}},
        outcomes=("ok", "missing"),
        description="Delete a stored file of this user",
    ),
]
