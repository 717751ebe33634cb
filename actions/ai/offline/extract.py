"""Offline extraction: rules that read quantities, prices, products and dates out of a message,
then fill whatever properties of a schema they can, by the properties' names.

- quantities: a number and a unit, "20 kg", "3 bags", "2 crates", "magunia 3" (en, it, sw words);
- prices: "KES 1,500", "Ksh 200", "$12", "5 euro", "1500/=", "at 3000 per bag", "@ 50/kg";
  a bare number after at/for/price/@ is in the bot's currency;
- products: the bot's vocabulary (`settings.ai.products`: names, or `{name, synonyms}`),
  matched on stems and with a little typo tolerance; with no vocabulary, the word after
  "20 kg of";
- dates: found and read by dateparser, relative to the bot's clock ("tomorrow", "12 March").

Properties are filled by name: product/name/crop/item, quantity/qty/amount/weight, unit,
price/cost (a number or an {amount, currency} object), currency, anything with format date or
"date" in its name, and arrays of objects (an order's items: one per product mentioned).
What it cannot find it leaves out, and the schema check reports it missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from rapidfuzz import fuzz

from actions.ai import text as tx
from engine.validators.numbers import parse_number

UNITS: dict[str, tuple[str, ...]] = {
    "kg": ("kg", "kgs", "kilo", "kilos", "kilogram", "kilograms", "kilogramme", "kilogrammes", "chilo", "chili",
           "chilogrammo", "chilogrammi", "kilogramu"),
    "g": ("g", "gr", "gram", "grams", "gramme", "grammes", "grammo", "grammi", "gramu"),
    "t": ("t", "ton", "tons", "tonne", "tonnes", "tonnellata", "tonnellate", "tani"),
    "l": ("l", "lt", "ltr", "litre", "litres", "liter", "liters", "litro", "litri", "lita"),
    "ml": ("ml",),
    "bag": ("bag", "bags", "sack", "sacks", "sacco", "sacchi", "gunia", "magunia", "mfuko", "mifuko"),
    "crate": ("crate", "crates", "cassa", "casse", "cassetta", "cassette", "kreti"),
    "box": ("box", "boxes", "carton", "cartons", "scatola", "scatole", "sanduku"),
    "tray": ("tray", "trays", "vassoio", "vassoi", "trei"),
    "bunch": ("bunch", "bunches", "mazzo", "mazzi", "casco", "caschi", "mkungu", "mikungu"),
    "piece": ("piece", "pieces", "pcs", "pc", "pezzo", "pezzi", "kipande", "vipande"),
    "dozen": ("dozen", "dozens", "dozzina", "dozzine", "dazeni"),
}
_UNIT_OF = {word: unit for unit, words in UNITS.items() for word in words}
_UNIT_RE = "|".join(sorted(map(re.escape, _UNIT_OF), key=len, reverse=True))
_NUMBER = r"\d{1,3}(?:[,.]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d+)?"
# Currency words and symbols; "" means the bot's own currency (a shilling sign, "/=").
_CURRENCY_OF = {
    "kes": "KES", "ksh": "KES", "kshs": "KES", "bob": "KES", "usd": "USD", "$": "USD", "us$": "USD",
    "dollar": "USD", "dollars": "USD", "eur": "EUR", "€": "EUR", "euro": "EUR", "euros": "EUR", "gbp": "GBP",
    "£": "GBP", "ugx": "UGX", "ush": "UGX", "tzs": "TZS", "tsh": "TZS", "ngn": "NGN", "₦": "NGN",
    "sh": "", "shs": "", "shillings": "", "shilingi": "", "/=": "",
}
_CUR_RE = "|".join(sorted(map(re.escape, _CURRENCY_OF), key=len, reverse=True))
_PER = rf"(?:\s*(?:/|per|each|a|an|the|kwa|al|all'|alla|il|la)\s*(?P<per>{_UNIT_RE})\b)?"
_PRICE_BEFORE = re.compile(rf"(?<![\w$€£₦])(?P<cur>{_CUR_RE})\.?\s?(?P<num>{_NUMBER})(?P<k>k\b)?{_PER}", re.IGNORECASE)
_PRICE_AFTER = re.compile(rf"(?<![\w.,])(?P<num>{_NUMBER})(?P<k>k\b)?\s?(?P<cur>{_CUR_RE})(?![\w]){_PER}", re.IGNORECASE)
_PRICE_CUE = re.compile(
    rf"(?:@|\b(?:at|for|price|priced|cost|costs|prezzo|costa|bei|kwa)\b)\s*(?P<num>{_NUMBER})(?P<k>k\b)?"
    rf"(?!\s*(?:{_UNIT_RE})\b){_PER}", re.IGNORECASE)
_QUANTITY = re.compile(rf"(?<![\w.,])(?P<num>{_NUMBER})\s?(?P<unit>{_UNIT_RE})\b", re.IGNORECASE)
_UNIT_FIRST = re.compile(rf"(?<![\w.,])(?P<unit>{_UNIT_RE})\s(?P<num>{_NUMBER})(?![\w.,])", re.IGNORECASE)  # sw: "magunia 3"
_BARE_QUANTITY = re.compile(rf"(?<![\w.,/])(?P<num>{_NUMBER})(?![\w.,/%])", re.IGNORECASE)
_CONNECTORS = frozenset({"of", "di", "de", "ya", "za", "la", "x", "the", "fresh", "del", "dei", "della", "delle"})
_FUTURE_NAMES = ("deliver", "until", "due", "deadline", "pickup", "collect", "expir", "valid")

_ROLE_NAMES = {
    "product": ("product", "name", "crop", "item", "produce", "commodity", "goods"),
    "quantity": ("quantity", "qty", "amount", "count", "weight", "volume", "quantity_available", "number"),
    "unit": ("unit", "units", "uom", "unit_of_measure"),
    "price": ("price", "unit_price", "price_per_unit", "cost", "rate"),
    "currency": ("currency",),
}


@dataclass(frozen=True, slots=True)
class Found:
    start: int
    end: int
    value: Any


@dataclass
class Reading:
    """What the rules found in one message, in order of appearance."""

    text: str
    quantities: list[Found] = field(default_factory=list)  # value: (number, unit | None)
    prices: list[Found] = field(default_factory=list)  # value: (amount, currency, per-unit | None)
    products: list[Found] = field(default_factory=list)  # value: the vocabulary's name
    dates: list[Found] = field(default_factory=list)  # value: the phrase, read again per property

    def pairs(self) -> list[tuple[Found | None, Found | None]]:
        """Each product with its quantity ("20 kg of maize", "maize 20 kg"); quantities no product claims
        are left alone unless there is no product at all."""
        if not self.products:
            return [(None, q) for q in self.quantities[:1]]
        used: set[int] = set()
        pairs: list[tuple[Found | None, Found | None]] = []
        for product in self.products:
            candidates = []
            for i, q in enumerate(self.quantities):
                before = q.end <= product.start
                gap = self.text[q.end:product.start] if before else self.text[product.end:q.start]
                if i in used or not _joins(gap) or any(_between(p, q, product) for p in self.products if p is not product):
                    continue
                candidates.append((0 if before else 1, len(gap), i))
            if candidates:
                index = min(candidates)[2]
                used.add(index)
                pairs.append((product, self.quantities[index]))
            else:
                pairs.append((product, None))
        return pairs


def _joins(gap: str) -> bool:
    """Whether the text between a quantity and a product only connects them ("of", ":", "x")."""
    return len(gap) <= 24 and all(w in _CONNECTORS for w in tx.words(gap))


def _between(p: Found, a: Found, b: Found) -> bool:
    lo, hi = min(a.end, b.end), max(a.start, b.start)
    return lo <= p.start < hi


def _number(raw: str, lang: str, k: str | None = None) -> int | float | None:
    value = parse_number(raw, lang)
    if value is None:
        return None
    if k:
        value *= Decimal(1000)
    return int(value) if value == value.to_integral_value() else float(value)


def _mask(text: str, spans: Sequence[Found]) -> str:
    chars = list(text)
    for f in spans:
        chars[f.start:f.end] = " " * (f.end - f.start)
    return "".join(chars)


def _vocabulary(products: Sequence[Any]) -> list[tuple[str, list[str]]]:
    """(name, phrases) for each vocabulary entry: a name, or {name, synonyms: [..] or {lang: [..]}}."""
    out = []
    for entry in products:
        if isinstance(entry, Mapping):
            name = str(entry.get("name") or "")
            synonyms = entry.get("synonyms") or []
            if isinstance(synonyms, Mapping):
                synonyms = [s for v in synonyms.values() for s in (v if isinstance(v, list) else [v])]
            phrases = [name, *map(str, synonyms)]
        else:
            name, phrases = str(entry), [str(entry)]
        if name:
            out.append((name, [p for p in phrases if p.strip()]))
    return out


def _same_word(a: str, b: str, lang: str) -> bool:
    if a == b or tx.stem(a, lang) == tx.stem(b, lang) or tx.stem(a) == tx.stem(b):
        return True
    return min(len(a), len(b)) >= 4 and fuzz.ratio(a, b) >= 85


def _products(text: str, lang: str, vocabulary: list[tuple[str, list[str]]]) -> list[Found]:
    tokens = [(m.start(), m.end(), tx.fold(m.group())) for m in re.finditer(r"[^\W_]+", text)]
    found: list[Found] = []
    taken: set[int] = set()
    phrases = sorted(((name, tx.words(p)) for name, ps in vocabulary for p in ps), key=lambda x: -len(x[1]))
    for name, words in phrases:
        n = len(words)
        for i in range(len(tokens) - n + 1):
            if any(j in taken for j in range(i, i + n)):
                continue
            if all(_same_word(tokens[i + j][2], words[j], lang) for j in range(n)):
                found.append(Found(tokens[i][0], tokens[i + n - 1][1], name))
                taken.update(range(i, i + n))
    return sorted(found, key=lambda f: f.start)


def _guessed_products(text: str, lang: str, quantities: list[Found]) -> list[Found]:
    """With no vocabulary: the first topic word after "20 kg of"."""
    stop = tx.STOPWORDS.get(tx.base_lang(lang), frozenset()) | tx.STOPWORDS["en"] | _CONNECTORS
    found = []
    for q in quantities:
        for m in re.finditer(r"[^\W\d_]+", text[q.end:q.end + 40]):
            word = m.group()
            if tx.fold(word) in stop:
                continue
            if m.start() > 0 and _joins(text[q.end:q.end + m.start()]):
                found.append(Found(q.end + m.start(), q.end + m.end(), word.lower()))
            break
    return found


def _dates(text: str, lang: str, now: datetime) -> list[Found]:
    from dateparser.search import search_dates

    languages = list(dict.fromkeys((tx.base_lang(lang), "en")))
    try:
        hits = search_dates(text, languages=languages, settings=_date_settings(now, "current_period")) or []
    except (ValueError, OverflowError):
        return []
    found: list[Found] = []
    cursor = 0
    for phrase, moment in hits:
        start = text.find(phrase, cursor)
        if start < 0:
            continue
        cursor = start + len(phrase)
        words = tx.words(phrase)
        meaningful = [w for w in words if w not in {"on", "at", "by", "in", "il", "di", "el", "the", "for"}]
        if not meaningful or all(w.isdigit() for w in meaningful):
            continue  # "at 3000": a number, not a year
        if len(meaningful) == 1 and not any(c.isdigit() for c in phrase) and meaningful[0] in _MONTH_WORDS:
            continue  # "may I", "march on": a verb more often than a month
        if abs(moment - now) > timedelta(days=3 * 366):
            continue
        found.append(Found(start, start + len(phrase), phrase))
    return found


_MONTH_WORDS = frozenset({"may", "march", "mar", "jan", "june", "jun", "sept", "dec", "maggio", "marzo"})


def _date_settings(now: datetime, prefer: str) -> dict[str, Any]:
    return {"RELATIVE_BASE": now, "PREFER_DATES_FROM": prefer, "DATE_ORDER": "DMY",
            "RETURN_AS_TIMEZONE_AWARE": False, "PARSERS": ["relative-time", "custom-formats", "absolute-time"]}


def read(text: str, lang: str, now: datetime, products: Sequence[Any] = (), currency: str | None = None) -> Reading:
    reading = Reading(text)
    for pattern in (_PRICE_BEFORE, _PRICE_AFTER):
        for m in pattern.finditer(_mask(text, reading.prices)):
            amount = _number(m["num"], lang, m["k"])
            if amount is None:
                continue
            code = _CURRENCY_OF[m["cur"].lower()] or (currency or "")
            reading.prices.append(Found(m.start(), m.end(), (amount, code or None, _unit(m["per"]))))
    for m in _QUANTITY.finditer(_mask(text, reading.prices)):
        number = _number(m["num"], lang)
        if number is not None:
            reading.quantities.append(Found(m.start(), m.end(), (number, _UNIT_OF[m["unit"].lower()])))
    for m in _UNIT_FIRST.finditer(_mask(text, reading.prices + reading.quantities)):
        number = _number(m["num"], lang)
        if number is not None and len(m["unit"]) > 2:  # "kg 5" is too rare to risk "l 5"
            reading.quantities.append(Found(m.start(), m.end(), (number, _UNIT_OF[m["unit"].lower()])))
    for m in _PRICE_CUE.finditer(_mask(text, reading.prices + reading.quantities)):
        amount = _number(m["num"], lang, m["k"])
        if amount is not None:
            reading.prices.append(Found(m.start(), m.end(), (amount, currency or None, _unit(m["per"]))))
    vocabulary = _vocabulary(products)
    reading.products = (_products(text, lang, vocabulary) if vocabulary
                        else _guessed_products(text, lang, reading.quantities))
    rest = _mask(text, reading.prices + reading.quantities)
    for m in _BARE_QUANTITY.finditer(rest):  # "3 maize": a count before a product
        number = _number(m["num"], lang)
        if number is not None and any(p.start > m.end() and _joins(text[m.end():p.start]) for p in reading.products):
            reading.quantities.append(Found(m.start(), m.end(), (number, None)))
    reading.prices.sort(key=lambda f: f.start)
    reading.quantities.sort(key=lambda f: f.start)
    reading.dates = _dates(_mask(text, reading.prices + reading.quantities), lang, now)
    return reading


def _unit(word: str | None) -> str | None:
    return _UNIT_OF.get(word.lower()) if word else None


# ----- filling a schema


def _role(name: str, prop: Mapping[str, Any]) -> str | None:
    lowered = name.lower()
    if prop.get("format") in ("date", "date-time") or "date" in lowered or lowered in ("when", "day", "deadline"):
        return "date"
    if prop.get("type") == "array" and isinstance(prop.get("items"), Mapping) and prop["items"].get("type") == "object":
        return "items"
    for role, names in _ROLE_NAMES.items():
        if lowered in names:
            return role
    return None


def _fits(value: Any, prop: Mapping[str, Any]) -> Any:
    """`value` as the property wants it, or None when it cannot be."""
    kinds = prop.get("type")
    kinds = set(kinds) if isinstance(kinds, list) else {kinds} if kinds else set()
    if "enum" in prop and value not in prop["enum"]:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "integer" in kinds and float(value).is_integer():
            return int(value)
        if "number" in kinds or not kinds:
            return value
        if "string" in kinds:
            return str(value)
        return None
    return value


class Filler:
    def __init__(self, reading: Reading, lang: str, now: datetime) -> None:
        self.reading, self.lang, self.now = reading, lang, now
        self._dates_used = 0

    def fill(self, schema: Mapping[str, Any], pair: tuple[Found | None, Found | None] | None = None) -> dict[str, Any]:
        pairs = self.reading.pairs()
        product, quantity = pair if pair is not None else (pairs[0] if pairs else (None, None))
        price = self.reading.prices[0].value if self.reading.prices and pair is None else None
        out: dict[str, Any] = {}
        for name, prop in (schema.get("properties") or {}).items():
            if not isinstance(prop, Mapping):
                continue
            value: Any = None
            role = _role(name, prop)
            if role == "product" and product is not None:
                value = product.value
            elif role == "quantity" and quantity is not None:
                value = quantity.value[0]
            elif role == "unit":
                value = (quantity.value[1] if quantity is not None else None) or (price[2] if price else None)
            elif role == "price" and price is not None:
                if prop.get("type") == "object" or isinstance(prop.get("properties"), Mapping):
                    value = {k: v for k, v in (("amount", price[0]), ("currency", price[1])) if v is not None}
                    value = self.fill_price(prop, value)
                else:
                    value = price[0]
            elif role == "currency" and price is not None:
                value = price[1]
            elif role == "date" and pair is None:
                value = self.date(name, prop)
            elif role == "items" and pair is None:
                value = [self.fill(prop["items"], p) for p in pairs if p[0] is not None] or None
            if value is not None and not (isinstance(value, Mapping) and not value):
                fitted = _fits(value, prop)
                if fitted is not None:
                    out[name] = fitted
        return out

    @staticmethod
    def fill_price(prop: Mapping[str, Any], value: dict[str, Any]) -> dict[str, Any]:
        props = prop.get("properties") or {}
        return {k: v for k, v in value.items() if k in props and _fits(v, props[k]) is not None}

    def date(self, name: str, prop: Mapping[str, Any]) -> str | None:
        import dateparser

        if self._dates_used >= len(self.reading.dates):
            return None
        phrase = self.reading.dates[self._dates_used].value
        self._dates_used += 1
        prefer = "future" if any(n in name.lower() for n in _FUTURE_NAMES) else "current_period"
        languages = list(dict.fromkeys((tx.base_lang(self.lang), "en")))
        moment = dateparser.parse(phrase, languages=languages, settings=_date_settings(self.now, prefer))
        if moment is None:
            return None
        return moment.isoformat(timespec="seconds") if prop.get("format") == "date-time" else moment.date().isoformat()


def extract(text: str, schema: Mapping[str, Any], lang: str, now: datetime, products: Sequence[Any] = (),
            currency: str | None = None) -> dict[str, Any]:
    """What the rules can fill of `schema` from `text`."""
    return Filler(read(text, lang, now, products, currency), lang, now).fill(schema)
