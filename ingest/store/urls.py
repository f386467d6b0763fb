"""Pure: whether a storage URL can name a store, checked without importing SQLAlchemy.

``broadsheet check`` reads the config without opening the store, so it must not pay for
SQLAlchemy's import to look at one URL. The pattern is the one SQLAlchemy's ``make_url`` parses
with; of what it refuses, only a port that is not a number can reach here (the config accepts
only the sqlite:/// and postgresql schemes). ``tests/test_startup.py`` checks that both agree.
"""

from __future__ import annotations

import re

from ingest.redact import mask_url

SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
_URL = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
        (?:(?:\[(?P<ipv6host>[^/\?]+)\]|(?P<ipv4host>[^/:\?]+))?(?::(?P<port>[^/\?]*))?)?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
    """,
    re.X,
)


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot name a store (credentials masked), or None when it can."""
    found = _URL.match(url)
    if found is None:
        return f"{mask_url(url)!r} is not a database URL (it has no scheme:// at its start)"
    if found["name"] not in SCHEMES:
        return (
            f"expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB, got {mask_url(url)!r}"
        )
    if found["port"] is not None and not _is_int(found["port"]):
        # Without a "@", what stands after "user:" is read as a port: it may be a password.
        shown = mask_url(url) if found["username"] is not None else f"{found['name']}://***"
        return (
            f"{shown!r} is not a database URL (the port after the host is not a number; "
            "a password goes before the @: USER:PASSWORD@HOST:PORT)"
        )
    return None


def _is_int(text: str) -> bool:
    """Whether ``int(text)`` takes it, as SQLAlchemy reads a port."""
    try:
        int(text)
    except ValueError:
        return False
    return True
