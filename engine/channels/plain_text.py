"""Outbound messages as plain text, for channels that cannot show buttons or lists.

Twilio (without Content templates) and Interakt's text API receive a question followed by its
options numbered from 1. That is enough: the engine's choice matcher
(`engine.runtime.choices.match`) accepts the number of a shown option, its title or a close
spelling, so answering "2" picks the second option exactly as tapping it would. A "More" row
(paging) is numbered like any other row, which is also how `match` counts it.
"""

from __future__ import annotations

from engine.messages import Outbound, Row


def _row_line(row: Row) -> str:
    return f"{row.title} — {row.description}" if row.description else row.title


def options_text(out: Outbound) -> str:
    """The question and its numbered options, with the header in bold and the footer in italics
    (WhatsApp's own markup)."""
    titles = [b.title for b in out.buttons] if out.kind == "buttons" else [_row_line(r) for r in out.rows]
    parts = [f"*{out.header}*"] if out.header else []
    if out.text:
        parts.append(out.text)
    parts.append("\n".join(f"{number}. {title}" for number, title in enumerate(titles, 1)))
    if out.footer:
        parts.append(f"_{out.footer}_")
    return "\n\n".join(parts)


def plain_text(out: Outbound) -> str:
    """The whole message as text: choices numbered, media as caption and link, a template as its
    rendered fallback text (empty when the outbound carries none)."""
    if out.kind in ("buttons", "list"):
        return options_text(out)
    if out.kind == "media" and out.media is not None:
        return "\n".join(part for part in (out.media.caption, out.media.link) if part)
    if out.kind == "template":
        return out.fallback_text
    return out.text
