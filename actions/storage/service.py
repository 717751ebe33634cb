"""`MediaStorage`: the service the host injects as `services["storage"]`, and the web routes use.

It ties a backend (where bytes live), the media tables (what they are, whose, who fetched
them), the URL signer and the media sources (a Graph client per bot) together:

- `save`: fetch a user's file, check it, store it once per idempotency key, record it.
- `url`: a signed URL of a private file (short TTL), or the URL of a public one.
- `delete`, `forget` (delete-my-data: every file and row of one user).
- `open`: what GET /media/... serves, with an access-log row for every request.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actions.storage import records, sources
from actions.storage.backends import AREAS, Backend, LocalBackend, object_key
from actions.storage.records import MediaObject
from actions.storage.signing import TokenRefused, UrlSigner
from actions.storage.sources import TwilioMedia
from engine.channels.whatsapp import GraphClient
from engine.clock import Clock

log = logging.getLogger("flowbot.storage")
DEFAULT_DIR = Path(".flowbot") / "media"
DEFAULT_TTL = 300.0  # seconds a private URL stays valid
MAX_TTL = 7 * 24 * 3600.0
PRIVATE_PATH = "/media/"
PUBLIC_PATH = "/media/public/"


@dataclass(frozen=True, slots=True)
class Served:
    """What a media route answers: the object (when one was found), its bytes, and the outcome
    written to the access log (granted, expired, bad_signature, missing, unavailable)."""

    outcome: str
    obj: MediaObject | None = None
    data: bytes | None = None


class MediaStorage:
    def __init__(self, backend: Backend, db: Any, *, signer: UrlSigner | None = None, clock: Clock | None = None,
                 base_url: str = "", sources: Mapping[str, GraphClient] | None = None,
                 ttl: float = DEFAULT_TTL, twilio: Mapping[str, TwilioMedia] | None = None) -> None:
        self.backend = backend
        self.db = db
        self.clock = clock or Clock()
        self._signer = signer
        self.base_url = base_url.rstrip("/")
        self.sources: dict[str, GraphClient] = dict(sources or {})  # bot → the Graph client it downloads with
        self.twilio: dict[str, TwilioMedia] = dict(twilio or {})  # bot → its Twilio account's media
        self.ttl = ttl
        self._env_client: GraphClient | None = None

    @classmethod
    def from_env(cls, db: Any, *, clock: Clock | None = None, sources: Mapping[str, GraphClient] | None = None,
                 twilio: Mapping[str, TwilioMedia] | None = None) -> MediaStorage:
        """FLOWBOT_MEDIA_S3_BUCKET set: the S3-compatible backend; else the directory FLOWBOT_MEDIA_DIR
        (default .flowbot/media). URLs start with FLOWBOT_PUBLIC_URL; FLOWBOT_MEDIA_URL_TTL is the default TTL."""
        backend: Backend
        if os.environ.get("FLOWBOT_MEDIA_S3_BUCKET"):
            from actions.storage.s3 import S3Backend

            backend = S3Backend.from_env()
        else:
            backend = LocalBackend(os.environ.get("FLOWBOT_MEDIA_DIR") or DEFAULT_DIR)
        return cls(backend, db, clock=clock, base_url=os.environ.get("FLOWBOT_PUBLIC_URL", ""), sources=sources,
                   ttl=float(os.environ.get("FLOWBOT_MEDIA_URL_TTL", DEFAULT_TTL)), twilio=twilio)

    @classmethod
    def for_bots(cls, db: Any, bots: Mapping[str, Any]) -> MediaStorage:
        """The service of a deployment (`flowbot serve`/`worker`): each WhatsApp bot downloads
        with its own Graph client (its number, its token, WHATSAPP_API_BASE_URL), each Twilio
        bot its media URLs with its account's credentials (TWILIO_API_BASE_URL)."""
        from engine.channels.twilio import TwilioAdapter

        clients = {name: host.adapter.client for name, host in bots.items()
                   if isinstance(getattr(host.adapter, "client", None), GraphClient)}
        twilio = {name: TwilioMedia(host.adapter.base_url, host.adapter.authorization)
                  for name, host in bots.items() if isinstance(host.adapter, TwilioAdapter)}
        return cls.from_env(db, sources=clients, twilio=twilio)

    @property
    def signer(self) -> UrlSigner:
        if self._signer is None:  # read when first needed: public-only bots need no secret
            self._signer = UrlSigner.from_env(self.clock)
        return self._signer

    @property
    def pool(self) -> Any:
        return records.pool_of(self.db)

    async def close(self) -> None:
        await self.backend.close()
        if self._env_client is not None:
            await self._env_client.close()

    # ─── saving ─────────────────────────────────────────────────────────────────────────────

    def _graph(self, bot: str) -> GraphClient:
        client = self.sources.get(bot)
        if client is None:
            self._env_client = self._env_client or sources.graph_client_from_env()
            client = self._env_client
        if client is None:
            raise LookupError(f"no Graph client to download media for bot {bot!r}: the host injects one per bot, "
                              "or set WHATSAPP_TOKEN")
        return client

    async def save(self, *, bot: str, user: str, idempotency_key: str, area: str, policy: sources.Policy,
                   media_id: str | None = None, url: str | None = None,
                   url_hosts: Iterable[str] = ()) -> tuple[MediaObject, bool]:
        """Store one file (a media id's, or a URL's) and return its row, and whether this call
        stored it (False: a retried turn found what it stored before). Raises sources.Refused."""
        if area not in AREAS:
            raise ValueError(f"area must be public or private, not {area!r}")
        if bool(media_id) == bool(url):
            raise ValueError("give exactly one of media_id (a file the user sent) and url")
        pool = self.pool
        done = await records.by_key(pool, idempotency_key)
        if done is not None:
            return done, False
        twilio = self.twilio.get(bot)
        if media_id:
            fetched = await sources.from_graph(self._graph(bot), str(media_id), policy)
        elif twilio is not None and twilio.serves(str(url)):  # a file the user sent, through Twilio
            fetched = await sources.from_twilio(twilio, str(url), policy)
        else:
            fetched = await sources.from_url(str(url), policy, url_hosts)
        # the id (and so the key) follows from the idempotency key: a turn retried after a crash
        # between storing and recording overwrites its own file instead of leaving a second one
        public_id = hashlib.sha256(f"flowbot.media\x00{idempotency_key}".encode()).hexdigest()[:32]
        key = object_key(area, bot, user, public_id, sources.extension(fetched.content_type))
        await self.backend.put(key, fetched.data, fetched.content_type)
        return await records.insert(
            pool, public_id=public_id, bot=bot, user=user, area=area, backend=self.backend.name, key=key,
            content_type=fetched.content_type, size=len(fetched.data), sha256=hashlib.sha256(fetched.data).hexdigest(),
            media_id=str(media_id) if media_id else None, url=str(url) if url else None,
            idempotency_key=idempotency_key)

    # ─── URLs ───────────────────────────────────────────────────────────────────────────────

    async def find(self, bot: str, user: str, public_id: str) -> MediaObject | None:
        """One of this user's objects (another user's is as good as missing)."""
        obj = await records.by_public_id(self.pool, str(public_id))
        return obj if obj is not None and obj.bot == bot and obj.user_id == user else None

    def url_of(self, obj: MediaObject, ttl: float | None = None) -> tuple[str, float | None]:
        """A private object's signed URL and when it expires; a public one's plain URL and None."""
        if obj.area == "public":
            direct = self.backend.public_url(obj.object_key)
            return direct or f"{self.base_url}{PUBLIC_PATH}{obj.public_id}", None
        seconds = self.ttl if ttl is None else float(ttl)
        if not 0 < seconds <= MAX_TTL:
            raise ValueError(f"ttl must be between 1 second and 7 days, not {ttl!r}")
        token, expires = self.signer.sign(obj.public_id, seconds)
        return f"{self.base_url}{PRIVATE_PATH}{token}", expires

    # ─── deleting ───────────────────────────────────────────────────────────────────────────

    async def delete(self, obj: MediaObject) -> None:
        await self.backend.delete(obj.object_key)  # first the file: a row without a file is harmless
        await records.delete(self.pool, obj.id)

    async def forget(self, bot: str, user: str, *, actor: str = "system",
                     reason: str = "the user asked (delete my data)") -> dict[str, int]:
        """Delete-my-data: every file of the user (first), then their rows and access log."""
        pool = self.pool
        objects = await records.of_user(pool, bot, user)
        for obj in objects:
            await self.backend.delete(obj.object_key)
        counts = await records.forget(pool, bot, user, [o.id for o in objects], actor=actor, reason=reason)
        return {"files": len(objects), **counts}

    # ─── serving (engine/web/media.py) ──────────────────────────────────────────────────────

    async def open_private(self, token: str, *, ip: str | None = None, user_agent: str | None = None) -> Served:
        try:
            public_id = self.signer.verify(token)
        except TokenRefused as refused:
            obj = await records.by_public_id(self.pool, refused.public_id) if refused.public_id else None
            return await self._logged(Served(refused.outcome, obj), refused.public_id, ip, user_agent)
        return await self._serve(public_id, "private", ip, user_agent)

    async def open_public(self, public_id: str, *, ip: str | None = None, user_agent: str | None = None) -> Served:
        return await self._serve(public_id, "public", ip, user_agent)

    async def _serve(self, public_id: str, area: str, ip: str | None, user_agent: str | None) -> Served:
        obj = await records.by_public_id(self.pool, public_id)
        if obj is None or obj.area != area:
            return await self._logged(Served("missing", obj), public_id, ip, user_agent)
        try:
            data = await self.backend.get(obj.object_key)
        except Exception:  # the bucket is down: logged, answered 503
            log.exception("media %s could not be read from %s", obj.public_id, self.backend.name)
            return await self._logged(Served("unavailable", obj), public_id, ip, user_agent)
        served = Served("granted", obj, data) if data is not None else Served("missing", obj)
        return await self._logged(served, public_id, ip, user_agent)

    async def _logged(self, served: Served, public_id: str | None, ip: str | None, user_agent: str | None) -> Served:
        await records.log_access(self.pool, served.outcome, obj=served.obj, public_id=public_id, ip=ip,
                                 user_agent=user_agent)
        return served
