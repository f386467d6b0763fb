"""Checks for config values: each collects a readable problem instead of raising at once."""

from __future__ import annotations

import re
from collections.abc import Callable
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

    def positive(self, table: dict[str, Any], key: str, where: str, default: int) -> int:
        """A whole number of at least 1."""
        value = self.typed(table, key, where, int, default)
        if value < 1:
            self.fail(f"{where}.{key}", f"expected a whole number of at least 1, got {value}")
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


def size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f'expected a size such as "10MB", got {kind(value)}')
    size = parse_size(value)
    if size < 1024:
        raise ValueError(f"expected a size of at least 1KB, got {value!r}")
    return size


def http_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an http(s) URL, got {kind(value)}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value.strip()


def address(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an email address, got {kind(value)}")
    match = ADDRESS.match(value.strip())
    bare = match and (match[1] or match[2])
    if not bare or not EMAIL.match(bare):
        raise ValueError(f'expected an address like "Name <name@example.org>", got {value!r}')
    return value.strip()
