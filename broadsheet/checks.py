"""Checks for config values: each collects a readable problem instead of raising at once."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from broadsheet.units import parse_duration, parse_size

EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
ADDRESS = re.compile(r"^(?:[^<>]*<\s*([^<>\s]+)\s*>|([^<>\s]+))\s*$")


class Checker:
    """Collects problems for one file; each check returns a usable value (the default) even when wrong."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.problems: list[str] = []

    def fail(self, key: str, message: str) -> None:
        """Record a problem at ``key``."""
        self.problems.append(f"{self.file}: {key}: {message}")

    def keys(self, table: dict[str, Any], prefix: str, allowed: set[str]) -> None:
        """Record every key of ``table`` that is not ``allowed``."""
        for key in table:
            if key not in allowed:
                where = f"{prefix}.{key}" if prefix else key
                known = ", ".join(sorted(allowed))
                self.fail(where, f"unknown key (a typo?); known keys here: {known}")

    def table(self, raw: dict[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
        """The table ``name`` of ``raw`` (empty when missing or not a table)."""
        value = raw.get(name, {})
        if not isinstance(value, dict):
            self.fail(name, f"expected a table [{name}], got {kind(value)}")
            return {}
        self.keys(value, name, allowed)
        return value

    def typed(
        self, table: dict[str, Any], key: str, where: str, expected: type, default: Any
    ) -> Any:
        """``table[key]`` when it has type ``expected``; else the problem is recorded and ``default`` given."""
        if key not in table:
            return default
        value = table[key]
        if (expected is int and isinstance(value, bool)) or not isinstance(value, expected):
            self.fail(f"{where}.{key}", f"expected {NAMES[expected]}, got {kind(value)}")
            return default
        return value

    def converted(
        self,
        table: dict[str, Any],
        key: str,
        where: str,
        convert: Callable[[Any], Any],
        default: Any,
    ) -> Any:
        """``convert(table[key])``; a ValueError becomes a recorded problem and ``default``."""
        if key not in table:
            return default
        try:
            return convert(table[key])
        except (ValueError, TypeError) as exc:
            self.fail(f"{where}.{key}", str(exc))
            return default

    def positive(self, table: dict[str, Any], key: str, where: str, default: int, most: int) -> int:
        """A whole number from 1 to ``most`` (a bound, so that what passes can run)."""
        value = self.typed(table, key, where, int, default)
        if not 1 <= value <= most:
            self.fail(f"{where}.{key}", f"expected a whole number from 1 to {most:,}, got {value}")
            return default
        return value

    def strings(self, table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
        """A list of strings (empty when missing or wrong)."""
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"{where}.{key}", f"expected a list of strings, got {kind(value)}")
            return ()
        return tuple(value)

    def array(self, raw: Any, name: str) -> list[tuple[str, dict[str, Any]]]:
        """The tables of an array of tables, each with its key path (``feeds[3]``)."""
        if not isinstance(raw, list):
            self.fail(name, f"expected an array of tables [[{name}]], got {kind(raw)}")
            return []
        items = []
        for index, item in enumerate(raw):
            where = f"{name}[{index}]"
            if not isinstance(item, dict):
                self.fail(where, f"expected a table, got {kind(item)}")
                continue
            items.append((where, item))
        return items


NAMES = {str: "a string", int: "a whole number", bool: "true or false", list: "a list"}


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def duration(value: Any) -> float:
    if not isinstance(value, str):
        raise ValueError(f'expected a duration such as "30m", got {kind(value)}')
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"expected a duration above zero, got {value!r}")
    return seconds


MAX_WEIGHT = 10.0


def weight(value: Any) -> float:
    """A feed's ranking weight: a number above 0, at most ``MAX_WEIGHT``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number such as 2 or 0.5, got {kind(value)}")
    if not 0 < value <= MAX_WEIGHT:  # NaN fails too
        raise ValueError(
            f"expected a number above 0 and at most {MAX_WEIGHT:g} (1 is the default; 2 counts "
            f"a story twice, 0.5 half), got {value}"
        )
    return float(value)


MIN_BUDGET, MAX_BUDGET = 60.0, 86400.0


def budget(value: Any) -> float:
    """A reading budget: a duration from one minute to a day."""
    seconds = duration(value)
    if not MIN_BUDGET <= seconds <= MAX_BUDGET:
        raise ValueError(
            f'expected a reading time from "1m" to "24h" (such as "15m"), got {value!r}'
        )
    return seconds


def size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f'expected a size such as "10MB", got {kind(value)}')
    size = parse_size(value)
    if size < 1024:
        raise ValueError(f"expected a size of at least 1KB, got {value!r}")
    return size


# Characters that end or break a mail header line, or cannot be sent at all: C0 and C1 controls
# (\r, \n, \x00...), the Unicode line and paragraph separators, lone surrogates.
_BREAKING = frozenset({"Cc", "Zl", "Zp", "Cs"})
_SPACE = re.compile(r"\s")  # what str.isspace() is true of, Unicode spaces included


def control_character(text: str) -> str | None:
    """The first control or line-breaking character in ``text``, escaped, or None."""
    if text.isascii() and text.isprintable():  # ASCII's only such characters are not printable
        return None
    for character in text:
        if unicodedata.category(character) in _BREAKING:
            return repr(character)[1:-1]
    return None


def header_text(value: Any) -> str:
    """Text that goes into a mail header: a string without line breaks or control characters."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {kind(value)}")
    bad = control_character(value)
    if bad:
        raise ValueError(
            f"contains a control character or line break ({bad}), which cannot go into a mail "
            f"header; got {value!r}"
        )
    return value


# RFC 2919: a List-Id is a dot-atom with at least one dot ("news.example.org").
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
LIST_ID = re.compile(rf"^{_ATEXT}(?:\.{_ATEXT})+$")


def list_id(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f'expected a List-Id such as "news.example.org", got {kind(value)}')
    if len(value) > 255 or not LIST_ID.match(value):
        raise ValueError(
            'expected a List-Id such as "news.example.org" (letters, digits and - _ in '
            f"dot-separated parts, no spaces or brackets, at most 255 characters), got {value!r}"
        )
    return value


def http_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an http(s) URL, got {kind(value)}")
    url = value.strip()
    if control_character(url) or _SPACE.search(url):
        raise ValueError(f"expected a URL without spaces or control characters, got {value!r}")
    try:
        parts = urlsplit(url)
        port = parts.port  # a port that is not a number (or out of range) raises here
    except ValueError as exc:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r} ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {value!r}")
    return url


def mailbox(value: Any) -> str:
    """A bare address ("ann@example.org") that a mail header can carry."""
    if not isinstance(value, str):
        raise ValueError(f"expected an email address, got {kind(value)}")
    bare = value.strip()
    if not EMAIL.match(bare) or control_character(bare):
        raise ValueError(f'expected an address like "ann@example.org", got {value!r}')
    try:
        Address(addr_spec=bare)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise ValueError(
            f'expected an address like "ann@example.org" (ASCII before the @), got {value!r}'
        ) from exc
    return bare


def address(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an email address, got {kind(value)}")
    text = header_text(value).strip()
    match = ADDRESS.match(text)
    bare = match and (match[1] or match[2])
    name, parsed = parseaddr(text)
    wrong = ValueError(f'expected an address like "Name <name@example.org>", got {value!r}')
    if not bare or not EMAIL.match(bare) or parsed != bare:
        raise wrong
    try:
        mailbox(bare)
        Address(display_name=name, addr_spec=bare)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise wrong from exc
    return text
