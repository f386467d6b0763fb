"""Pure: hide credentials in URLs and in text before anything is printed or logged.

A database URL may carry its password in the userinfo (``postgresql://ann:s3cret@db/news``) or
in the query (``?password=s3cret``); a feed URL may carry a token (``?api_key=...``). Every
message, log line and JSON report that can hold such a URL passes it through here first.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

MASK = "***"

# Query and key=value names whose values are secrets (compared lower-cased, "-" read as "_").
SECRET_NAMES = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "apikey",
        "api_key",
        "sslpassword",
        "auth",
        "sig",
        "signature",
    }
)
SECRET_SUFFIXES = ("password", "passwd", "secret", "token", "_key", "apikey")

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s<>\"'`]+")
# libpq-style "password=..." pairs in free text (a DSN quoted in an error message).
_PAIR = re.compile(
    r"(?<![\w.])(?P<name>[A-Za-z_][\w\-]*)\s*=\s*(?P<value>'(?:[^'\\]|\\.)*'|[^\s&;,'\"]+)"
)
# What SQLAlchemy reads as a password: up to the first "@", even across "/" or "?".
_LOOSE_USERINFO = re.compile(r"(?P<user>[^:/@?#\s]*):(?P<password>[^@\s]*)@")


def is_secret_name(name: str) -> bool:
    """Whether a query parameter or option called ``name`` holds a secret."""
    key = unquote(name).strip().lower().replace("-", "_")
    return key in SECRET_NAMES or key.endswith(SECRET_SUFFIXES)


def mask_url(url: str) -> str:
    """``url`` with the password in its userinfo and the values of secret parameters hidden."""
    head, separator, rest = url.partition("://")
    if not separator:
        return _mask_query(url)
    return head + separator + _mask_query(_mask_userinfo(rest))


def mask_text(text: str) -> str:
    """``text`` with every URL in it masked, and ``password=...`` style pairs hidden."""
    masked = _URL.sub(lambda match: mask_url(match[0]), text)
    return _PAIR.sub(_mask_pair, masked)


def mask_data(value: Any) -> Any:
    """``value`` (JSON-like data) with credentials hidden in every string it holds, keys too."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {mask_data(key): mask_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(item) for item in value]
    return value


def _mask_userinfo(rest: str) -> str:
    end = len(rest)
    for stop in "/?#":
        index = rest.find(stop)
        if index != -1:
            end = min(end, index)
    authority = rest[:end]
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            return f"{user}:{MASK}@{host}{rest[end:]}"
        return rest
    loose = _LOOSE_USERINFO.match(rest)
    if loose and not loose["password"].split("/")[0].split("?")[0].isdigit():
        # Not a port: a password holding "/" or "?", which database URLs allow.
        return f"{loose['user']}:{MASK}@{rest[loose.end() :]}"
    return rest


def _mask_query(url: str) -> str:
    base, question, query = url.partition("?")
    if not question:
        return url
    query, hash_sign, fragment = query.partition("#")
    pairs = []
    for pair in re.split(r"([&;])", query):
        name, equals, value = pair.partition("=")
        pairs.append(f"{name}={MASK}" if equals and value and is_secret_name(name) else pair)
    return f"{base}?{''.join(pairs)}{hash_sign}{fragment}"


def _mask_pair(match: re.Match[str]) -> str:
    if not is_secret_name(match["name"]) or match["value"] == MASK:
        return match[0]
    return f"{match['name']}={MASK}"
