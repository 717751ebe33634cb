"""Choices: how a question with options is shown on WhatsApp and how an answer picks one.

Up to 3 options go out as reply buttons, up to 10 as a list, more as pages of 9 rows plus a
"More" row. A user picks by tapping, by typing the number, by typing the title, or by a close
spelling of it (rapidfuzz).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from engine.flow import limits
from engine.messages import Button, Inbound, Outbound, Row

MORE_ID = "flowbot:more"
PAGE_SIZE = 9


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    title: str
    description: str = ""


def normalize(text: str) -> str:
    """Case-, accent- and punctuation-blind form used to compare what people type."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^\w]+", " ", stripped).strip()


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def page_of(options: list[Option], page: int) -> tuple[list[Option], bool]:
    """The options shown on `page` and whether a "More" row follows them."""
    if len(options) <= limits.LIST_ROWS:
        return options, False
    start = page * PAGE_SIZE
    shown = options[start : start + PAGE_SIZE]
    return shown, start + PAGE_SIZE < len(options)


def question(to: str, body: str, options: list[Option], page: int, list_button: str, more: str) -> Outbound:
    body = clip(body, limits.INTERACTIVE_BODY)
    if len(options) <= limits.REPLY_BUTTONS:
        buttons = tuple(Button(o.id, clip(o.title, limits.BUTTON_TITLE)) for o in options)
        return Outbound(to=to, kind="buttons", text=body, buttons=buttons)
    shown, has_more = page_of(options, page)
    rows = [Row(o.id, clip(o.title, limits.ROW_TITLE), clip(o.description, limits.ROW_DESCRIPTION)) for o in shown]
    if has_more:
        rows.append(Row(MORE_ID, clip(more, limits.ROW_TITLE)))
    return Outbound(to=to, kind="list", text=body, rows=tuple(rows), list_button=clip(list_button, limits.LIST_BUTTON))


def match(inbound: Inbound, options: list[Option], page: int, more_words: tuple[str, ...] = ("more",)) -> Option | str | None:
    """The option the user chose, `MORE_ID` to page on, or None when nothing fits."""
    if inbound.reply_id:
        if inbound.reply_id == MORE_ID:
            return MORE_ID
        for option in options:
            if option.id == inbound.reply_id:
                return option
    text = normalize(inbound.text or "")
    if not text:
        return None
    shown, has_more = page_of(options, page)
    if text.isdigit():
        index = int(text) - 1
        if 0 <= index < len(shown):
            return shown[index]
        if has_more and index == len(shown):
            return MORE_ID
        return None
    if has_more and text in {normalize(w) for w in more_words}:
        return MORE_ID
    titles = {normalize(o.title): o for o in options}
    ids = {normalize(o.id): o for o in options}
    if text in titles:
        return titles[text]
    if text in ids:
        return ids[text]
    best = process.extractOne(text, list(titles), scorer=fuzz.ratio, score_cutoff=80)
    return titles[best[0]] if best else None
