"""The ``[smtp]`` table of the config, checked: the server, the sender and DKIM signing."""

from __future__ import annotations

import re
from typing import Any

from broadsheet.checks import Checker, address, duration
from digests.settings import SmtpSettings
from ingest.addresses import host_problem

DKIM_KEYS = ("dkim_domain", "dkim_selector", "dkim_key_env")
KEYS = {
    "host",
    "port",
    "security",
    "username",
    "password_env",
    "from",
    "reply_to",
    "timeout",
    "data_timeout",
    *DKIM_KEYS,
}


def smtp(check: Checker, table: dict[str, Any]) -> SmtpSettings:
    """The ``[smtp]`` table as settings; problems go to ``check``."""
    d = SmtpSettings()
    security = check.typed(table, "security", "smtp", str, d.security)
    if security not in ("starttls", "ssl", "none"):
        check.fail("smtp.security", f'expected "starttls", "ssl" or "none", got {security!r}')
        security = d.security
    port = check.typed(table, "port", "smtp", int, 465 if security == "ssl" else d.port)
    if not 0 < port < 65536:
        check.fail("smtp.port", f"expected a port number from 1 to 65535, got {port}")
    reply_to = table.get("reply_to", "")
    dkim_keys = {key: check.typed(table, key, "smtp", str, "").strip() for key in DKIM_KEYS}
    smtp = SmtpSettings(
        host=check.typed(table, "host", "smtp", str, d.host),
        port=port,
        security=security,
        username=check.typed(table, "username", "smtp", str, d.username),
        password_env=check.typed(table, "password_env", "smtp", str, d.password_env),
        sender=check.converted(table, "from", "smtp", address, d.sender),
        reply_to=check.converted(table, "reply_to", "smtp", address, "") if reply_to else "",
        timeout=check.converted(table, "timeout", "smtp", duration, d.timeout),
        data_timeout=check.converted(table, "data_timeout", "smtp", duration, d.data_timeout),
        **dkim_keys,
    )
    _dkim(check, smtp)
    return smtp


_SELECTOR = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _dkim(check: Checker, smtp: SmtpSettings) -> None:
    """The DKIM keys: all three or none, and a key in the environment that signs."""
    given = [key for key in DKIM_KEYS if getattr(smtp, key)]
    if not given:
        return
    problems = len(check.problems)
    if len(given) < len(DKIM_KEYS):
        missing = ", ".join(key for key in DKIM_KEYS if key not in given)
        check.fail(
            f"smtp.{given[0]}",
            f"DKIM signing needs dkim_domain, dkim_selector and dkim_key_env together; "
            f"missing: {missing} (or remove {', '.join(given)} to send unsigned)",
        )
        return
    if problem := host_problem(smtp.dkim_domain.removesuffix(".")) or (
        "." not in smtp.dkim_domain and f"{smtp.dkim_domain!r} has no dot"
    ):
        check.fail(
            "smtp.dkim_domain", f"expected the signing domain (d=), e.g. example.org: {problem}"
        )
    if not _SELECTOR.match(smtp.dkim_selector):
        check.fail(
            "smtp.dkim_selector",
            f'expected a DNS name such as "mail" or "2026" (letters, digits, -), got '
            f"{smtp.dkim_selector!r}",
        )
    if not _VARIABLE.match(smtp.dkim_key_env):
        check.fail(
            "smtp.dkim_key_env",
            f"expected the name of an environment variable, got {smtp.dkim_key_env!r}",
        )
    elif len(check.problems) == problems:
        from digests import dkim  # dkimpy and its DNS resolver: only for configs that sign

        try:
            dkim.load_key(smtp.dkim_key)
        except ValueError as exc:
            state = f"holds no usable key: {exc}" if smtp.dkim_key else "is not set"
            check.fail("smtp.dkim_key_env", f"${smtp.dkim_key_env} {state}; {dkim.how_to(smtp)}")
