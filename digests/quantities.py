"""Numbers in news text, as tokens that survive rewriting: "40,000" = "forty thousand" = "40k".

``quantity_terms(text)`` reads every number in ``text``, written in digits ("40,000",
"£4.2bn", "7.4m", "5.25%", "90mph") or in words ("two hundred and forty", "a quarter of a
million", "twelve thousand"), and turns each into tokens:

* its value to three significant figures, with ``%`` for a percentage ("5.25%", "5.25 per
  cent" and "5.25 percent" give ``#5.25%``; "12,013" and "12,000" give ``#1.20e4``);
* for a value of a hundred or more, its order of magnitude (``#~e4`` for anything from 10,000
  to 99,999), which is also what a vague amount gives: "tens of thousands" is ``#~e4``,
  "hundreds of" ``#~e2``, "millions of" ``#~e6``;
* a year (1900 to 2099 written as four digits, no other mark) stays a year: ``#y2008``.

Whole numbers under ten are left out ("two goals", "6 years", "3-1"): they are in every other
story. Units are not converted (1.6 metres and 160cm stay apart); currencies are not told apart.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal

_MULTIPLIERS = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "bn": 1e9,
    "billion": 1e9,
    "tn": 1e12,
    "trillion": 1e12,
}
_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_FRACTIONS = {"half": 0.5, "third": 1 / 3, "quarter": 0.25, "fifth": 0.2}
_VAGUE = {"tens": 1, "dozens": 1, "hundreds": 2, "thousands": 3, "millions": 6, "billions": 9}
_VAGUE_SCALE = {"thousands": 3, "millions": 6, "billions": 9}

_TOKEN = re.compile(r"[£$€]?[a-z0-9][a-z0-9.,]*%?|%")
_MONTH_NAMES = """january february march april may june july august september october november
    december"""
_MONTHS = {month: n for n, month in enumerate(_MONTH_NAMES.split(), 1)}
_MONTH = "(" + "|".join(_MONTHS) + ")"
_DAY_MONTH = re.compile(r"\b([0-3]?\d)(?:st|nd|rd|th)? (?:of )?" + _MONTH + r"\b")
_MONTH_DAY = re.compile(r"\b" + _MONTH + r" ([0-3]?\d)(?:st|nd|rd|th)?\b")
_SCORE = re.compile(r"(?<![\w.,-])(\d{1,2})-(\d{1,2})(?![\w.,-]*\d)")
_PERCENT_AFTER = ("%", "per cent", "percent", "percentage point")


def quantity_terms(text: str) -> list[str]:
    """The tokens of every number in ``text`` (see the module's rules)."""
    text = text.casefold()
    found = [f"#s{a}-{b}" for a, b in _SCORE.findall(text)]
    found += [f"#d{_MONTHS[m]}-{int(d)}" for d, m in _DAY_MONTH.findall(text)]
    found += [f"#d{_MONTHS[m]}-{int(d)}" for m, d in _MONTH_DAY.findall(text)]
    tokens = [t.rstrip(".,") for t in _TOKEN.findall(text.replace("-", " "))]
    i = 0
    while i < len(tokens):
        value, i_next, vague = _read(tokens, i)
        if vague is not None:
            found.append(f"#~e{vague}")
        elif value is not None:
            percent = _is_percent(tokens, i_next, tokens[i_next - 1])
            found.extend(_value_terms(value, percent, tokens[i]))
        i = max(i_next, i + 1)
    return found


def _read(tokens: list[str], i: int) -> tuple[float | None, int, int | None]:
    """The number starting at ``tokens[i]``: (value, index after it, vague magnitude)."""
    token = tokens[i]
    if token in _VAGUE and i + 1 < len(tokens) and tokens[i + 1] == "of":
        scale = _VAGUE[token]
        if token in ("tens", "hundreds") and i + 2 < len(tokens) and tokens[i + 2] in _VAGUE_SCALE:
            return None, i + 3, scale + _VAGUE_SCALE[tokens[i + 2]]
        return None, i + 2, scale
    if not token or token == "%":
        return None, i + 1, None
    if token[0].isdigit() or token[0] in "£$€":
        return _digits(tokens, i)
    if token in _UNITS:
        return _spelled(tokens, i)
    if token in ("a", "one") and i + 1 < len(tokens) and tokens[i + 1] in _FRACTIONS:
        return _fraction(tokens, i + 1)
    return None, i + 1, None


def _digits(tokens: list[str], i: int) -> tuple[float | None, int, int | None]:
    match = re.fullmatch(r"[£$€]?([\d,]*\d(?:\.\d+)?)([a-z]*)(%?)", tokens[i])
    if match is None:
        return None, i + 1, None
    value = float(match.group(1).replace(",", ""))
    suffix, after = match.group(2), i + 1
    if suffix in _MULTIPLIERS:
        value *= _MULTIPLIERS[suffix]
    elif not suffix and after < len(tokens) and tokens[after] in _MULTIPLIERS:
        value *= _MULTIPLIERS[tokens[after]]
        after += 1
    return value, after, None


def _spelled(tokens: list[str], i: int) -> tuple[float | None, int, int | None]:
    """Number words: "two hundred and forty", "forty thousand", "twelve million"."""
    total, current, j = 0.0, 0.0, i
    while j < len(tokens):
        word = tokens[j]
        if word in _UNITS:
            current += _UNITS[word]
        elif word == "hundred" and current:
            current *= 100
        elif word in ("thousand", "million", "billion") and current:
            total += current * _MULTIPLIERS[word]
            current = 0.0
        elif word == "and" and j + 1 < len(tokens) and tokens[j + 1] in _UNITS and current:
            pass
        else:
            break
        j += 1
    return total + current, j, None


def _fraction(tokens: list[str], i: int) -> tuple[float | None, int, int | None]:
    """A fraction of a million or more ("a quarter of a million" is 250,000); else no figure."""
    fraction = _FRACTIONS[tokens[i]]
    if i + 3 < len(tokens) and tokens[i + 1] == "of" and tokens[i + 2] == "a":
        scale = _MULTIPLIERS.get(tokens[i + 3])
        if scale and scale >= 1e6:
            return fraction * scale, i + 4, None
    return None, i + 1, None


def _is_percent(tokens: list[str], after: int, last: str) -> bool:
    if last.endswith("%"):
        return True
    following = " ".join(tokens[after : after + 2])
    return any(following.startswith(word) for word in _PERCENT_AFTER)


def _value_terms(value: float, percent: bool, written: str) -> list[str]:
    if percent:
        return [f"#{_figures(value)}%"] if value > 0 else []
    if value == int(value) and value < 10:
        return []
    if re.fullmatch(r"(19|20)\d\d", written):
        return [f"#y{written}"]
    terms = [f"#{_figures(value)}"]
    if value >= 100:
        terms.append(f"#~e{int(math.log10(value))}")
    return terms


def _figures(value: float) -> str:
    """``value`` to three significant figures, written so equal values give one string."""
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    step = Decimal(1).scaleb(exponent - 2)
    rounded = Decimal(repr(value)).quantize(step, rounding=ROUND_HALF_UP)
    if exponent < 3:
        return format(rounded.normalize(), "f")
    mantissa = (rounded / Decimal(10) ** exponent).quantize(Decimal("0.01"))
    return f"{mantissa}e{exponent}"
