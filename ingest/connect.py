"""The network backend under the fetcher's connections: resolve, check, then connect.

httpcore opens every connection through a network backend's ``connect_tcp(host, port)``. This one
resolves the host itself, checks every address it got (``ingest.addresses``) and connects to one
of those checked addresses, so the address checked is the address used: a redirect to an
internal host or a DNS answer that changes between two lookups cannot slip through. TLS is
unaffected: httpcore hands the URL's host name to ``start_tls`` as ``server_hostname``, so the
certificate is still verified against the name, not the address.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable

import httpcore

from ingest.addresses import check_address

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's asyncio backend, connecting only to addresses ``[poll] allow_private`` permits."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A connection to ``host``, made to one of its addresses once all of them passed."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        addresses = await _resolve(host, port, deadline)
        for address in addresses:
            check_address(address, host, self.allow_private)
        failure: Exception | None = None
        for index, address in enumerate(addresses):
            left = len(addresses) - index
            share = None if deadline is None else max(deadline - loop.time(), 0.0) / left
            try:  # a dead address (broken IPv6) costs at most its share of the connect timeout
                return await self._inner.connect_tcp(
                    address, port, share, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # getaddrinfo gives at least one address or raises
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Unix sockets are never used for feeds."""
        raise httpcore.ConnectError(f"unix sockets are not used for feeds ({path})")

    async def sleep(self, seconds: float) -> None:
        """Sleep as the inner backend does."""
        await self._inner.sleep(seconds)


async def _resolve(host: str, port: int, deadline: float | None) -> list[str]:
    """``host``'s addresses, IPv6 and IPv4 taking turns, as httpcore's errors on failure."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout_at(deadline):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(f"resolving {host} took too long") from exc
    except (OSError, ValueError, OverflowError) as exc:  # gaierror, or a port out of range
        raise httpcore.ConnectError(str(exc)) from exc
    by_family: dict[int, list[str]] = {}
    for family, _, _, _, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in by_family.setdefault(family, []):
            by_family[family].append(address)
    groups = list(by_family.values())
    ordered: list[str] = []
    for i in range(max(len(group) for group in groups)):
        ordered += [group[i] for group in groups if i < len(group)]
    return ordered
