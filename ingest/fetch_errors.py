"""What went wrong with an HTTP exchange, in words an admin can act on (httpx's errors named).

Used by ``ingest/fetch.py``: every httpx error becomes a message that names the host, the limit
(and its setting) or the check to make.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx

from ingest.models import PollSettings
from ingest.statuses import seconds


def describe_error(exc: Exception, url: httpx.URL, settings: PollSettings) -> str:
    """A readable message for an httpx error while fetching ``url``."""
    host = url.host
    where = f"{host}:{url.port or (443 if url.scheme == 'https' else 80)}"
    detail = str(exc) or type(exc).__name__
    timeouts: dict[type[Exception], tuple[float, str, str]] = {
        httpx.ConnectTimeout: (settings.connect_timeout, f"connecting to {where}", "connect_"),
        httpx.ReadTimeout: (settings.read_timeout, f"waiting for {host} to send", "read_"),
        httpx.WriteTimeout: (settings.read_timeout, f"sending the request to {host}", "read_"),
        httpx.PoolTimeout: (settings.timeout, "waiting for a free connection", ""),
    }
    if limit := timeouts.get(type(exc)):
        return f"timed out after {seconds(limit[0])} s {limit[1]} (poll.{limit[2]}timeout)"
    match exc:
        case httpx.ConnectError():
            return _connect_error(exc, host, where)
        case httpx.RemoteProtocolError():
            return f"{host} broke the connection or the HTTP protocol: {detail}"
        case httpx.NetworkError():
            return f"network error talking to {where}: {detail}"
        case httpx.UnsupportedProtocol():
            return f"only http and https feeds are supported ({url})"
        case httpx.InvalidURL():
            return f"not a valid URL: {url} ({detail})"
    return f"the HTTP request to {host} failed: {type(exc).__name__}: {detail}"


def _connect_error(exc: Exception, host: str, where: str) -> str:
    for cause in causes(exc):
        match cause:
            case socket.gaierror():
                return (
                    f"DNS lookup failed for {host} ({cause.strerror or cause}): check the host "
                    "name in the feed's URL, and that this machine can resolve names"
                )
            case ConnectionRefusedError():
                return (
                    f"connection refused by {where}: the server is down or not listening "
                    "there; it is retried later"
                )
            case ssl.SSLCertVerificationError():
                reason = cause.verify_message or cause.reason or cause
                return (
                    f"TLS certificate of {host} is not valid: {reason} (the site's certificate "
                    "is broken, or this machine's CA certificates are out of date)"
                )
            case ssl.SSLError():
                return (
                    f"TLS handshake with {where} failed ({cause.reason or cause}): check that "
                    "the URL's scheme and port are right"
                )
    return f"cannot connect to {where}: {exc or 'connection failed'}; it is retried later"


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what caused it, breadth first, into exception groups."""
    queue = [exc]
    while queue:
        current = queue.pop(0)
        yield current
        if isinstance(current, BaseExceptionGroup):
            queue.extend(current.exceptions)
        queue.extend(e for e in (current.__cause__, current.__context__) if e is not None)
