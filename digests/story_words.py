"""The words a story is compared by: normalised, stemmed, common paraphrases folded, names found.

Normalising: Unicode compatibility forms and accents folded, curly quotes and apostrophes made
straight, possessive 's dropped, case folded, punctuation removed, a light suffix strip
("welcomes", "welcomed", "welcome" -> "welcom"). Function words, honorifics and newsroom
furniture ("live", "updates", "briefing", "says") are not informative and are dropped.

Paraphrases newsrooms use for one thing ("quake" and "earthquake", "blaze" and "fire",
"households" and "homes") fold into one word. The list is short and general on purpose: each
group names the same thing in any story, so folding it cannot make two stories look alike that
a reader would tell apart by those words.

Names are the words written with a capital where a sentence does not start: in a title only
when the title is in sentence case (most words lower case), since Title Case capitalises
everything.
"""

from __future__ import annotations

import re
import unicodedata

from digests.select import QUOTES

_STOP = """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers him his how i if in into is it its itself
    just me more most my no nor not now of off on once only or other our out over own same she
    should so some such than that the their them then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you
    your yet still amid per via vs mr mrs ms dr sir dame professor prof one two three four five six
    seven eight nine ten"""
STOP_WORDS = frozenset(_STOP.split())
# Words every newsroom puts in titles whatever the story is about.
_GENERIC = """live update updates latest breaking news briefing morning evening night today tonight
    yesterday says said say told report reports video watch photos pictures opinion analysis
    explained newsletter daily weekly edition podcast roundup recap highlights blog minute
    minutes first new week day monday tuesday wednesday thursday friday saturday sunday"""
GENERIC_WORDS = frozenset(_GENERIC.split())
_UNINFORMATIVE = STOP_WORDS | GENERIC_WORDS
_WORD = re.compile(r"[^\W_]+")
_POSSESSIVE = re.compile(r"'s\b")
_SIBILANT = ("s", "x", "z", "ch", "sh")
_SENTENCE_END = re.compile(r"[.!?:;]['\"]?$")

# Each line: one thing, the way different newsrooms write it; the first word stands for all.
_PARAPHRASES = """quake earthquake tremor
    fire blaze inferno
    power electricity
    home homes household households house houses
    jail jailed imprisoned prison
    strike walkout
    plane jet aircraft airliner
    buy buys takeover acquire acquires acquisition
    rise raise raises lift lifts hike hikes increase increases
    fall falls fell drop drops dip dips slide slides slump slumps plunge plunges tumble tumbles
    win wins won victory
    child children kid kids
    doctor doctors gp gps physician physicians
    company firm
    share shares stock stocks
    sack sacks sacked dismiss dismissed
    cancel cancels cancelled scrap scraps scrapped
    election poll polls vote votes ballot"""


def normalise(text: str) -> str:
    """``text`` with compatibility forms, accents and curly quotes folded (case kept)."""
    folded = unicodedata.normalize("NFKD", text.translate(QUOTES))
    return "".join(c for c in folded if not unicodedata.combining(c))


def stem(word: str) -> str:
    """A light suffix strip: "welcomes", "welcomed" and "welcome" -> "welcom"; "rates" -> "rate".

    Plural and verb endings go first ("ferries" -> "ferry", "taxes" -> "tax", "rates" ->
    "rate", "ruled" -> "rul"), then a final "e" of a word of six letters or more, so "plane"
    and "plans" stay apart while "strike" and "striking" meet.
    """
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("ing", "ed")) and len(word) - (3 if word.endswith("ing") else 2) >= 3:
        word = word[: -3 if word.endswith("ing") else -2]
    elif word.endswith("es") and word[:-2].endswith(_SIBILANT):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("e") and len(word) >= 6:
        word = word[:-1]
    return word


def _paraphrases() -> dict[str, str]:
    table: dict[str, str] = {}
    for line in _PARAPHRASES.splitlines():
        group = [stem(w) for w in line.split()]
        for word in group:
            table[word] = group[0]
    return table


PARAPHRASES = _paraphrases()


def words(text: str) -> list[str]:
    """The informative, normalised words of ``text``, in order (numbers are left to quantities)."""
    folded = _POSSESSIVE.sub("", normalise(text).casefold())
    return [
        stem(w)
        for w in _WORD.findall(folded)
        if len(w) > 1 and not w[0].isdigit() and w not in _UNINFORMATIVE
    ]


def terms(text: str) -> list[str]:
    """``words`` with paraphrases folded: what two rewrites of a story are compared by."""
    return [PARAPHRASES.get(word, word) for word in words(text)]


def names(text: str, *, title: bool = False) -> frozenset[str]:
    """The ``terms`` written with a capital where no sentence starts (see the module's rules)."""
    tokens = normalise(text).split()
    if title and _title_case(tokens):
        return frozenset()
    found: set[str] = set()
    for previous, token in zip([".", *tokens], tokens, strict=False):
        if token[:1].isupper() and not _SENTENCE_END.search(previous):
            found.update(terms(token))
    return frozenset(found)


def _title_case(tokens: list[str]) -> bool:
    """Whether most of a title's longer words start with a capital (Title Case)."""
    longer = [t for t in tokens[1:] if len(t) > 3 and t[:1].isalpha()]
    return bool(longer) and sum(t[:1].isupper() for t in longer) * 2 > len(longer)
