"""Text as the offline matchers and the in-memory FAQ index see it: folded words, crude stems,
stop words, and character trigrams computed the way PostgreSQL's pg_trgm does (so the in-memory
index and a Postgres one score the same text alike).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def fold(text: str) -> str:
    """Lower case, accents dropped, compatibility forms unified: "Perché" -> "perche"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Words that carry no topic. Small on purpose: a stop word wrongly kept costs little (idf makes
# it cheap), a topic word wrongly dropped loses a match.
STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("""a an the and or but if of to in on at by for from with about as into than then so
        is are was were be been being am do does did done have has had having can could will would shall
        should may might must i me my mine we us our you your yours he him his she her it its they them their
        this that these those there here what which who whom whose when where why how please pls hi hello
        hey thanks thank any some much many very just also not no yes ok okay up out get got like want""".split()),
    "it": frozenset("""il lo la i gli le un uno una di a da in con su per tra fra e ed o ma se che chi cui
        non si mi ti ci vi ne del dello della dei degli delle al allo alla ai agli alle dal dallo dalla dai
        dagli dalle nel nello nella nei negli nelle sul sullo sulla sui sugli sulle è e' sono sei siamo siete
        era erano ho hai ha abbiamo avete hanno come dove quando quanto quanta quanti quante perché perche
        cosa questo questa questi queste quello quella io tu lui lei noi voi loro mio mia tuo tua suo sua
        nostro vostro ciao grazie per favore può puo posso potete""".split()),
    "sw": frozenset("""na ya wa za la kwa ni au lakini kama katika hii hiyo huo ile hapa pale mimi wewe yeye
        sisi nyinyi wao je nini gani lini wapi vipi tafadhali asante habari jambo ndiyo hapana""".split()),
}
STOPWORDS = {lang: frozenset(fold(w) for w in words) for lang, words in STOPWORDS.items()}  # as words() sees them

# Longest first; a stem keeps at least 3 letters. Crude on purpose: it is a matching aid, not
# linguistics (trigram similarity catches what it misses).
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "en": ("ations", "ation", "ings", "ing", "ies", "ied", "ers", "er", "ed", "es", "ly", "s"),
    "it": ("azioni", "azione", "mente", "ando", "endo", "iamo", "ate", "ete", "ite", "are", "ere", "ire",
           "ato", "ata", "ati", "i", "e", "o", "a"),
    "sw": (),
}
STEM_LENGTH = 6


def base_lang(lang: str) -> str:
    return lang.replace("-", "_").split("_")[0].lower() or "en"


def normalize(text: str) -> str:
    """The text as a cache key sees it: folded words separated by one space."""
    return " ".join(_WORD.findall(fold(text)))


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def stem(word: str, lang: str = "en") -> str:
    for suffix in _SUFFIXES.get(base_lang(lang), _SUFFIXES["en"]):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:STEM_LENGTH]


def terms(text: str, lang: str = "en") -> list[str]:
    """The topic words of `text`, stemmed: what keyword scoring counts."""
    stop = STOPWORDS.get(base_lang(lang), frozenset()) | STOPWORDS["en"]
    return [stem(w, lang) for w in words(text) if w not in stop and (len(w) > 1 or w.isdigit())]


def trigrams(text: str) -> frozenset[str]:
    """pg_trgm's trigrams: each word padded with two spaces before and one after."""
    grams: set[str] = set()
    for word in words(text):
        padded = f"  {word} "
        grams.update(padded[i:i + 3] for i in range(len(padded) - 2))
    return frozenset(grams)


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """pg_trgm's similarity(): shared trigrams over all trigrams."""
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


def cosine(a: Iterable[float], b: Iterable[float]) -> float:
    dot = na = nb = 0.0
    for x, y in zip(a, b, strict=True):
        dot += x * y
        na += x * x
        nb += y * y
    return dot / math.sqrt(na * nb) if na and nb else 0.0
