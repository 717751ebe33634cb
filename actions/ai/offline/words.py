"""The offline moderation word lists, per language and category (OpenAI's category names).

An entry is a word, a word prefix ending in `*`, or a phrase of words. Deliberately short:
this is a weak gate for development and for bots without a key. Bots add their own words
with `settings.ai.blocked_words` (category `blocked`).
"""

from __future__ import annotations

BLOCKED: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "harassment": ("fuck*", "motherfuck*", "shit", "shithead", "bullshit", "bitch*", "bastard*", "asshole*",
                       "cunt*", "dickhead*", "wanker*", "moron", "morons"),
        "harassment/threatening": ("kill you", "i will kill", "gonna kill", "hurt you", "beat you up",
                                   "find where you live", "you are dead", "you re dead"),
        "hate": ("subhuman*", "go back to your country"),
        "sexual": ("porn*", "nudes", "blowjob*", "send nudes"),
        "violence": ("shoot you", "stab you", "burn your house", "bomb your"),
        "self-harm": ("kill myself", "suicide", "suicidal", "end my life", "want to die", "cut myself"),
        "illicit": ("buy cocaine", "sell cocaine", "buy heroin", "fake money", "counterfeit"),
    },
    "it": {
        "harassment": ("cazz*", "vaffanculo", "fanculo", "stronz*", "puttan*", "coglion*", "merda", "bastard*",
                       "troia", "deficiente", "imbecille"),
        "harassment/threatening": ("ti ammazzo", "ti uccido", "ti faccio male", "sei morto", "ti vengo a prendere"),
        "sexual": ("porno*",),
        "violence": ("ti sparo", "ti accoltello", "ti brucio la casa"),
        "self-harm": ("mi uccido", "mi ammazzo", "suicid*", "voglio morire", "farla finita"),
        "illicit": ("comprare cocaina", "soldi falsi"),
    },
    "sw": {
        "harassment": ("mjinga", "malaya", "kuma", "mavi", "fala", "mshenzi", "mpumbavu"),
        "harassment/threatening": ("nitakuua", "nitakupiga", "utakufa"),
        "sexual": ("ngono",),
        "self-harm": ("nitajiua", "kujiua", "nataka kufa"),
    },
}
