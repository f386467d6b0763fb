"""The plain-text excerpt of a story: its paragraphs, without the furniture around them.

Feeds wrap a story in lines that are not the story: a byline or a date above it, an author's
bio, "The post … appeared first on …", "Continue reading", share and subscribe lines below it.
The stored HTML keeps them; the excerpt a digest shows leaves them out.

The cleaned HTML is split into paragraphs at block boundaries (``p``, ``br``, ``li``,
headings, ``blockquote``, table cells...). Furniture is looked for only at the two ends: the
first paragraphs while they are furniture, then the last ones. A paragraph is furniture only
when it is short (``BYLINE_CHARS`` above the story, ``TAIL_CHARS`` below it) and matches one
of these patterns, so a paragraph that is the story is never taken for furniture:

- above: a byline made of names only ("By Dave DeCamp", "By Jane Doe and John Roe, Reuters",
  "By Jane Doe | March 30, 2022"; not "By the end of the year, …" nor "By Monday, officials
  agreed"), a label ("Author: …", "Posted by …", "Written by …"), or a line that is only a date;
- below: "The post … appeared first on …" (and "This article was originally published on …"),
  "Continue reading", "Read more", share and subscribe lines ("Share this:", "Subscribe to our
  newsletter", "Follow us on …"), "Reporting by …", a bio headed "About the author", or a bio
  sentence (a name, then "is a/an/the" and a newsroom job) that is the entry's author or
  points at an account ("Follow her on …", "@handle");
- an ellipsis in brackets (``[…]``, ``[...]``) ending the story is kept as a plain "…", and a
  trailing "Continue reading …" / "Read more …" after the story's last sentence is cut off.

Paragraphs are joined with a space when a paragraph ends in punctuation, and with an em dash
(" — ") when it does not (a heading, a list item, a line broken by ``<br>``), so that two
paragraphs never run on into one sentence. Quotes and other typography are kept as written.

An excerpt of a long story reads only its first paragraphs (as many as the excerpt's length
needs, and at least the MAX_FURNITURE looked at above it) once enough paragraphs are seen to
follow them that the ones looked at below the story cannot be among them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from .sanitize import TEXT_SOURCE_LIMIT, clean_text, excerpt

BYLINE_CHARS = 160  # a byline, label or date line above the story is shorter than this
TAIL_CHARS = 400  # a bio, credit or share line below the story is shorter than this
MAX_FURNITURE = 4  # paragraphs looked at from each end
SEPARATOR = " — "  # between paragraphs when the first does not end in punctuation

_BOUNDARY = re.compile(
    r"</?(?:p|br|div|li|h[1-6]|blockquote|tr|td|th|dt|dd|figure|figcaption|pre|hr|ul|ol|dl"
    r"|table|caption|section|article|header|footer|aside)\b[^>]*>",
    re.IGNORECASE,
)
_ENDS_IN_PUNCTUATION = re.compile(r"[.!?…:;,—–-][\"'”’»)\]]*$")
_MONTHS = (
    "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june"
    "|july|august|september|october|november|december"
)
_DAYS = "mon|tue|tues|wed|thu|thurs|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_DATE_WORD = re.compile(
    rf"(?:{_MONTHS}|{_DAYS}|\d[\d:/.\-]*(?:st|nd|rd|th|am|pm|h)?|[ap]\.?m\.?|at|on|of|updated|"
    r"published|posted|last|ago|hours?|minutes?|days?|et|est|edt|ct|cst|cdt|mt|mst|mdt|pt|pst|pdt"
    r"|bst|cet|cest|eet|eest|ist|jst|aest|aedt|utc|gmt|z)[,.]?",
    re.IGNORECASE,
)
_NAME_WORD = re.compile(
    r"(?:[A-Z][\w'’.-]*|[A-Z]\.|(?:de|da|del|della|di|du|van|von|der|den|la|le|al|el|bin|ibn"
    r"|y|and|&|of|the|for|in)|[A-Z]{2,}[\w.]*)[,]?"
)
_ROLES = """staff writer reporter correspondent contributor editor columnist senior special chief
    associate contributing political foreign desk news wire agency"""
_ROLE_WORDS = frozenset(_ROLES.split())
_NOT_NAMES = frozenset(f"{_MONTHS}|{_DAYS}".split("|")) | {"this", "that", "then", "now"}
_SPLIT_SEGMENTS = re.compile(r"\s*(?:,|\||·|•|\s[—–-]\s)\s*")
_BY = re.compile(r"by\s+", re.IGNORECASE)
_LABEL = re.compile(
    r"(?:authors?|by|byline|posted by|written by|words by|story by|text by|reporting by"
    r"|posted on|posted|published on|published|updated on|updated|filed under)\s*:",
    re.IGNORECASE,
)
_LABEL_NO_COLON = re.compile(r"(?:posted by|written by|words by|story by|text by)\s", re.IGNORECASE)
_TAIL = re.compile(
    r"(?:"
    r"(?:the|this) (?:post|article|story|entry)\b.*\b(?:appeared first|first appeared"
    r"|originally appeared|was (?:first|originally) published|is republished)\b"
    r"|(?:continue reading|read more|read the (?:full|rest|whole)|keep reading)\b"
    r"|(?:share this|share on|share:|like this:|tweet this|email this)"
    r"|(?:subscribe to|subscribe for|sign up for|sign up to|get our) .{0,80}\b(?:newsletter|"
    r"updates|alerts|podcast|channel|feed)\b"
    r"|follow us (?:on|at)\b"
    r"|(?:reporting|additional reporting|writing|editing) by\b"
    r"|about the (?:author|writer|reporter)s?\b"
    r")",
    re.IGNORECASE | re.DOTALL,
)
_BLOCK_HEADING = re.compile(
    r"(?:about the (?:author|writer|reporter)s?|share this|share:|like this:|related"
    r"(?: (?:posts|articles|stories|reading))?)[:.]?$",
    re.IGNORECASE,
)
_BIO_START = re.compile(
    r"((?:[A-Z][\w'’.-]+\s+){0,3}[A-Z][\w'’.-]+)\s+(?:is|was|has been|writes|covers|reports)\b"
)
_BIO_JOB = re.compile(
    r"\b(?:reporter|writer|editor|correspondent|journalist|columnist|contributor|author"
    r"|freelancer?|analyst|fellow|producer|photographer|blogger|host)\b",
    re.IGNORECASE,
)
_BIO_POINTER = re.compile(
    r"\b(?:follow|contact|reach|email)\s+(?:him|her|them|me)\b|(?:^|\s)@\w{2,}",
    re.IGNORECASE,
)
_BRACKET_ELLIPSIS = re.compile(r"\s*\[\s*(?:…|\.\.\.|&hellip;)\s*\]\s*$")
_TRAILING_MORE = re.compile(
    r"(?<=[.!?…”’\"])\s+(?:continue reading|read more|keep reading)\b[^.!?]{0,120}[.!?…→»›\"”’]*$",
    re.IGNORECASE,
)


def story_excerpt(clean_html: str, length: int, authors: Sequence[str] = ()) -> str:
    """The story's plain text without furniture, cut to ``length`` characters at a word."""
    # ``excerpt`` reads no further than ``length`` + 1 characters: the rest is never joined.
    blocks = _BOUNDARY.split(clean_html[:TEXT_SOURCE_LIMIT])
    texts: dict[int, str] = {}  # clean_text of the blocks read so far, by index
    parts = _story_start(blocks, texts, length + 1)
    if parts is None:
        every = (texts[i] if i in texts else clean_text(b) for i, b in enumerate(blocks))
        whole = len(clean_html) <= TEXT_SOURCE_LIMIT
        parts = _without_furniture([text for text in every if text], whole, authors)
    return excerpt(join(parts, length + 1), length)


def story_text(clean_html: str, authors: Sequence[str] = ()) -> str:
    """The plain text of sanitized HTML, its furniture paragraphs at either end left out."""
    parts = paragraphs(clean_html[:TEXT_SOURCE_LIMIT])
    return join(_without_furniture(parts, len(clean_html) <= TEXT_SOURCE_LIMIT, authors))


def _without_furniture(parts: list[str], whole: bool, authors: Sequence[str]) -> list[str]:
    """The paragraphs of the story (all of ``parts`` unless ``whole``) without its furniture."""
    if not whole and parts:
        parts.pop()  # cut mid-paragraph: the real end, and what furniture it has, is not here
    start = 0
    while start < min(len(parts), MAX_FURNITURE) and is_heading_furniture(parts[start]):
        start += 1
    end = len(parts)
    if whole:
        end = _block_start(parts, start)
        while (
            end > start
            and len(parts) - end < MAX_FURNITURE
            and is_tail_furniture(parts[end - 1], authors)
        ):
            end -= 1
    kept = parts[start:end]
    if whole and kept:
        kept[-1] = _clean_last(kept[-1])
    return [p for p in kept if p]


def _story_start(blocks: Sequence[str], texts: dict[int, str], enough: int) -> list[str] | None:
    """The story's first paragraphs, ``enough`` characters of them, when a long text follows.

    ``_without_furniture`` changes only the first MAX_FURNITURE paragraphs and the last
    MAX_FURNITURE + 1 (one more when the text was cut short): when that many paragraphs follow,
    the story starts as these do and the rest need not be read. None when it is shorter; the
    blocks' texts read are left in ``texts``.
    """
    front: list[str] = []
    start = size = 0
    for index, block in enumerate(blocks):
        text = texts[index] = clean_text(block)
        if not text:
            continue
        front.append(text)
        if len(front) < MAX_FURNITURE:
            continue
        if len(front) == MAX_FURNITURE:
            while start < MAX_FURNITURE and is_heading_furniture(front[start]):
                start += 1
            size = sum(len(part) for part in front[start:])
        else:
            size += len(text)
        if size >= enough:
            return front[start:] if _followed(blocks, texts, index) else None
    return None


def _followed(blocks: Sequence[str], texts: dict[int, str], index: int) -> bool:
    """True when MAX_FURNITURE + 2 blocks with text come after block ``index``."""
    found = 0
    for after in range(len(blocks) - 1, index, -1):
        text = texts[after] = clean_text(blocks[after])
        found += bool(text)
        if found == MAX_FURNITURE + 2:
            return True
    return False


def _block_start(parts: Sequence[str], start: int) -> int:
    """Where a trailing block headed "About the author" or "Share this:" starts, else the end."""
    for index in range(max(start, len(parts) - MAX_FURNITURE), len(parts)):
        if len(parts[index]) <= BYLINE_CHARS and _BLOCK_HEADING.match(parts[index]):
            return index
    return len(parts)


def paragraphs(clean_html: str) -> list[str]:
    """The plain text of each block of sanitized HTML, empty ones dropped."""
    texts = (clean_text(block) for block in _BOUNDARY.split(clean_html))
    return [text for text in texts if text]


def join(parts: Iterable[str], enough: int | None = None) -> str:
    """Paragraphs as one line: a space after punctuation, an em dash where none ends one.

    With ``enough``, parts stop being added once the line is that long (its start is the same).
    """
    pieces: list[str] = []
    size = 0
    last = ""  # the part the line ends with: both separators end in a space, so a match of
    # _ENDS_IN_PUNCTUATION at the line's end lies within it (searching the line is quadratic)
    for part in parts:
        if enough is not None and size >= enough:
            break
        if size:
            separator = " " if _ENDS_IN_PUNCTUATION.search(last) else SEPARATOR
            pieces.append(separator)
            size += len(separator)
        pieces.append(part)
        size += len(part)
        last = part
    return "".join(pieces)


def is_heading_furniture(text: str) -> bool:
    """True for a short byline, author label or date-only line above a story."""
    if len(text) > BYLINE_CHARS:
        return False
    if _LABEL.match(text) or _LABEL_NO_COLON.match(text):
        return True
    return is_byline(text) or is_dateline(text)


def is_byline(text: str) -> bool:
    """True for "By" and names only: "By Jane Doe and John Roe, Reuters | March 30, 2022"."""
    match = _BY.match(text)
    if match is None:
        return False
    segments = [s for s in _SPLIT_SEGMENTS.split(text[match.end() :].rstrip(". ")) if s]
    if not segments:
        return False
    first = segments[0].split()
    if first[0].casefold().strip(",.") in _NOT_NAMES or not first[0][:1].isupper():
        return False
    return all(_is_names(s) or is_dateline(s) or _is_role(s) for s in segments)


def is_dateline(text: str) -> bool:
    """True for a line that is only a date or time ("Updated March 30, 2022 at 5:42 pm ET")."""
    words = text.strip(" .").split()
    return (
        bool(words)
        and all(_DATE_WORD.fullmatch(w) for w in words)
        and any(c.isdigit() for c in text)
    )


def is_tail_furniture(text: str, authors: Sequence[str] = ()) -> bool:
    """True for a short credit, share line, "appeared first on" or author bio below a story."""
    if len(text) > TAIL_CHARS:
        return False
    if _TAIL.match(text) or _BRACKET_ELLIPSIS.fullmatch(text):
        return True
    return is_bio(text, authors)


def is_bio(text: str, authors: Sequence[str] = ()) -> bool:
    """True for "Jane Doe is a reporter covering … Follow her on …" (or naming an author)."""
    match = _BIO_START.match(text)
    if match is None or not _BIO_JOB.search(text):
        return False
    name = match.group(1).casefold()
    names_an_author = any(a.casefold() in name for a in authors if a.strip())
    return names_an_author or bool(_BIO_POINTER.search(text))


def _is_names(segment: str) -> bool:
    words = segment.split()
    return 0 < len(words) <= 12 and all(_NAME_WORD.fullmatch(w) for w in words)


def _is_role(segment: str) -> bool:
    words = segment.casefold().split()
    return 0 < len(words) <= 5 and all(w.strip(".") in _ROLE_WORDS for w in words)


def _clean_last(text: str) -> str:
    """The story's last paragraph without a bracketed ellipsis or a "Continue reading" tail."""
    if _BRACKET_ELLIPSIS.search(text):
        return _BRACKET_ELLIPSIS.sub("", text).rstrip(" ,;:") + "…"
    return _TRAILING_MORE.sub("", text)
