"""What crosses the engine's boundary: a normalized inbound event and an outbound message.

Channel adapters turn provider webhooks into `Inbound` and `Outbound` into provider requests;
the engine sees nothing else. `Outbound.whatsapp_body()` is the WhatsApp Cloud API body, the
reference format the other adapters translate from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INBOUND_KINDS = frozenset(
    {
        "text", "button", "list", "image", "audio", "video", "document", "sticker",
        "location", "contacts", "reaction", "order", "unsupported",
    }
)
MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})


@dataclass(frozen=True, slots=True)
class Media:
    kind: str
    id: str = ""
    mime: str = ""
    size: int | None = None
    caption: str = ""
    filename: str = ""
    link: str = ""
    sha256: str = ""


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float
    name: str = ""
    address: str = ""


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from a user, whatever the channel.

    `reply_id` is the id of the tapped button or list row; `text` is what the user typed (or
    the tapped title, or a media caption).
    """

    user: str
    kind: str = "text"
    text: str = ""
    reply_id: str | None = None
    media: Media | None = None
    location: Location | None = None
    message_id: str = ""
    timestamp: float = 0.0
    context_id: str | None = None
    name: str = ""
    channel: str = "whatsapp"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Button:
    id: str
    title: str


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    title: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Template:
    """A WhatsApp message template: approved in advance, the only thing sendable outside 24h."""

    name: str
    language: str
    params: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message to a user. `kind` is text, buttons, list, media or template."""

    to: str
    kind: str = "text"
    text: str = ""
    buttons: tuple[Button, ...] = ()
    rows: tuple[Row, ...] = ()
    list_button: str = ""
    header: str = ""
    footer: str = ""
    media: Media | None = None
    template: Template | None = None
    fallback_text: str = ""

    def whatsapp_body(self) -> dict[str, Any]:
        """The body of `POST /{phone-number-id}/messages` for this message."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": self.to,
        }
        if self.kind == "text":
            body["type"] = "text"
            body["text"] = {"preview_url": False, "body": self.text}
        elif self.kind in ("buttons", "list"):
            body["type"] = "interactive"
            body["interactive"] = self._interactive()
        elif self.kind == "media" and self.media is not None:
            kind = self.media.kind
            payload: dict[str, Any] = {"id": self.media.id} if self.media.id else {"link": self.media.link}
            if self.media.caption and kind in ("image", "video", "document"):
                payload["caption"] = self.media.caption
            if self.media.filename and kind == "document":
                payload["filename"] = self.media.filename
            body["type"] = kind
            body[kind] = payload
        elif self.kind == "template" and self.template is not None:
            body["type"] = "template"
            template: dict[str, Any] = {
                "name": self.template.name,
                "language": {"code": self.template.language},
            }
            if self.template.params:
                template["components"] = [
                    {
                        "type": "body",
                        "parameters": [{"type": "text", "text": p} for p in self.template.params],
                    }
                ]
            body["template"] = template
        else:
            raise ValueError(f"cannot build a WhatsApp body for an outbound of kind {self.kind!r}")
        return body

    def _interactive(self) -> dict[str, Any]:
        inter: dict[str, Any] = {"type": "button" if self.kind == "buttons" else "list"}
        if self.header:
            inter["header"] = {"type": "text", "text": self.header}
        inter["body"] = {"text": self.text}
        if self.footer:
            inter["footer"] = {"text": self.footer}
        if self.kind == "buttons":
            inter["action"] = {
                "buttons": [
                    {"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in self.buttons
                ]
            }
        else:
            rows = []
            for r in self.rows:
                row = {"id": r.id, "title": r.title}
                if r.description:
                    row["description"] = r.description
                rows.append(row)
            inter["action"] = {"button": self.list_button, "sections": [{"title": self.list_button[:24], "rows": rows}]}
        return inter


# ----- JSON codecs: queues carry these values between processes

def _drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if not (v is None or v == "" or (isinstance(v, (list, tuple, dict)) and not v))}


def inbound_to_json(inbound: Inbound) -> dict[str, Any]:
    data = _drop_empty({
        "user": inbound.user, "kind": inbound.kind, "text": inbound.text, "reply_id": inbound.reply_id,
        "message_id": inbound.message_id, "timestamp": inbound.timestamp, "context_id": inbound.context_id,
        "name": inbound.name, "channel": inbound.channel, "extra": inbound.extra,
    })
    if inbound.media is not None:
        data["media"] = _drop_empty(dict(zip(Media.__slots__, (getattr(inbound.media, s) for s in Media.__slots__))))
    if inbound.location is not None:
        data["location"] = _drop_empty(dict(zip(Location.__slots__, (getattr(inbound.location, s) for s in Location.__slots__))))
    return data


def inbound_from_json(data: dict[str, Any]) -> Inbound:
    media = Media(**data["media"]) if data.get("media") else None
    location = Location(**data["location"]) if data.get("location") else None
    fields = {k: v for k, v in data.items() if k not in ("media", "location")}
    return Inbound(media=media, location=location, **fields)


def outbound_to_json(out: Outbound) -> dict[str, Any]:
    data = _drop_empty({
        "to": out.to, "kind": out.kind, "text": out.text, "list_button": out.list_button,
        "header": out.header, "footer": out.footer, "fallback_text": out.fallback_text,
    })
    if out.buttons:
        data["buttons"] = [[b.id, b.title] for b in out.buttons]
    if out.rows:
        data["rows"] = [[r.id, r.title, r.description] for r in out.rows]
    if out.media is not None:
        data["media"] = _drop_empty(dict(zip(Media.__slots__, (getattr(out.media, s) for s in Media.__slots__))))
    if out.template is not None:
        data["template"] = [out.template.name, out.template.language, list(out.template.params)]
    return data


def outbound_from_json(data: dict[str, Any]) -> Outbound:
    template = data.get("template")
    return Outbound(
        to=data["to"], kind=data.get("kind", "text"), text=data.get("text", ""),
        buttons=tuple(Button(i, t) for i, t in data.get("buttons", [])),
        rows=tuple(Row(i, t, d) for i, t, d in data.get("rows", [])),
        list_button=data.get("list_button", ""), header=data.get("header", ""), footer=data.get("footer", ""),
        media=Media(**data["media"]) if data.get("media") else None,
        template=Template(template[0], template[1], tuple(template[2])) if template else None,
        fallback_text=data.get("fallback_text", ""),
    )
