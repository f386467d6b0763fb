"""The network backend under the fetcher's connections: resolve, check, then connect.

httpcore opens every connection through a network backend's ``connect_tcp(host, port)``. This one
resolves the host itself, checks every address it got (``ingest.addresses``) and connects to one
of those checked addresses, so the address checked is the address used: a redirect to an
internal host or a DNS answer that changes between two lookups cannot slip through. TLS is
unaffected: httpcore hands the URL's host name to ``start_tls`` as ``server_hostname``, so the
certificate is still verified against the name, not the address.

The streams are asyncio's own transports under a small protocol (``_Stream``), not anyio's:
anyio's stream stops and starts reading around every receive and wraps every call in a cancel
scope, and asking it whether an idle connection was closed builds every socket attribute it
knows: together about a sixth of the CPU of a round whose feeds all answered 304. Reading here
is always on, bounded by ``_READ_LIMIT`` bytes buffered per connection. A connection closes at
once (TLS without waiting for the server's close_notify, as anyio's streams did for httpcore).
"""

from __future__ import annotations

import asyncio
import ipaddress
import select
import socket
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any

import httpcore

from ingest.addresses import check_address

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
_READ_LIMIT = 64 * 1024  # bytes received ahead of the reader before reading pauses


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """asyncio connections, made only to addresses ``[poll] allow_private`` permits."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

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
        options = list(socket_options or ())
        failure: Exception | None = None
        for index, address in enumerate(addresses):
            left = len(addresses) - index
            share = None if deadline is None else max(deadline - loop.time(), 0.0) / left
            try:  # a dead address (broken IPv6) costs at most its share of the connect timeout
                return await _connect(address, port, share, local_address, options)
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
        """Sleep on the event loop."""
        await asyncio.sleep(seconds)


async def _resolve(host: str, port: int, deadline: float | None) -> list[str]:
    """``host``'s addresses, IPv6 and IPv4 taking turns, as httpcore's errors on failure."""
    try:
        return [str(ipaddress.ip_address(host))]  # an address needs no lookup
    except ValueError:
        pass
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


async def _connect(
    address: str,
    port: int,
    timeout: float | None,
    local_address: str | None,
    options: list[SocketOption],
) -> _Stream:
    """A TCP connection to ``address`` (asyncio sets TCP_NODELAY on it)."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:  # out of descriptors
        raise httpcore.ConnectError(str(exc)) from exc
    try:
        sock.setblocking(False)
        for option in options:
            sock.setsockopt(*option)
        if local_address:
            sock.bind((local_address, 0))
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (address, port))
        protocol = _Protocol()
        await loop.create_connection(lambda: protocol, sock=sock)
    except TimeoutError as exc:
        sock.close()
        raise httpcore.ConnectTimeout(f"connecting to {address} took too long") from exc
    except (OSError, ValueError, OverflowError) as exc:  # refused, unreachable; a bad port
        sock.close()
        raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
    except BaseException:  # cancelled
        sock.close()
        raise
    return _Stream(protocol, sock)


class _Protocol(asyncio.Protocol):
    """What a connection received and whether it ended, for ``_Stream`` to read."""

    def __init__(self) -> None:
        self.transport: Any = None  # asyncio.Transport, then the TLS one after start_tls
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.ended = False  # the server closed its side, or the connection is gone
        self.error: Exception | None = None
        self.paused = False  # reading paused: ``_READ_LIMIT`` bytes wait for the reader
        self.waiter: asyncio.Future[None] | None = None  # a read waiting for data
        self.drained: asyncio.Future[None] | None = None  # a write waiting for the buffer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > _READ_LIMIT and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False  # nothing more to send either: close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = exc
        self._wake()
        self.resume_writing()

    def pause_writing(self) -> None:
        self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


async def _wait(waiter: asyncio.Future[None], timeout: float | None) -> None:
    """Wait for ``waiter``; TimeoutError after ``timeout`` seconds."""
    if timeout is None:
        await waiter
        return
    expiry = asyncio.get_running_loop().call_later(timeout, _expire, waiter)
    try:
        await waiter
    finally:
        expiry.cancel()


def _readable(sock: socket.socket) -> bool:
    """Whether a read on ``sock`` would not wait (data, or the end); a closed one is."""
    if sock.fileno() < 0:
        return True
    poll = select.poll()
    poll.register(sock, select.POLLIN)
    return bool(poll.poll(0))


class _Stream(httpcore.AsyncNetworkStream):
    """A connection as httpcore reads and writes it: asyncio's transport, httpcore's errors."""

    def __init__(self, protocol: _Protocol, sock: socket.socket) -> None:
        self._protocol = protocol
        self._socket = sock

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Up to ``max_bytes`` received; b"" once the server closed its side."""
        protocol = self._protocol
        if not protocol.chunks and not protocol.ended:
            protocol.waiter = asyncio.get_running_loop().create_future()
            try:
                await _wait(protocol.waiter, timeout)
            except TimeoutError as exc:
                raise httpcore.ReadTimeout(f"nothing received for {timeout} s") from exc
            finally:
                protocol.waiter = None
        if not protocol.chunks:
            if protocol.error is not None:
                raise httpcore.ReadError(str(protocol.error)) from protocol.error
            return b""
        chunk = protocol.chunks.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            protocol.chunks.appendleft(rest)
        protocol.buffered -= len(chunk)
        if protocol.paused and protocol.buffered <= _READ_LIMIT // 2 and not protocol.ended:
            protocol.paused = False
            protocol.transport.resume_reading()
        return chunk

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send ``buffer``; wait only while the transport's own buffer is over its limit."""
        if not buffer:
            return
        protocol = self._protocol
        if protocol.transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        protocol.transport.write(buffer)
        if protocol.drained is not None:
            try:
                await _wait(protocol.drained, timeout)
            except TimeoutError as exc:
                raise httpcore.WriteTimeout(f"could not send for {timeout} s") from exc
            if protocol.error is not None:
                raise httpcore.WriteError(str(protocol.error)) from protocol.error

    async def aclose(self) -> None:
        """Close at once: nothing is left to send, and TLS waits for no close_notify."""
        transport = self._protocol.transport
        self._protocol.ended = True
        if not transport.is_closing():
            transport.abort()
            await asyncio.sleep(0)  # the socket is closed on the loop's next turn

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """TLS over this connection, verified against ``server_hostname``."""
        loop = asyncio.get_running_loop()
        protocol = self._protocol
        try:
            async with asyncio.timeout(timeout):
                protocol.transport = await loop.start_tls(
                    protocol.transport, protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            await self.aclose()
            raise httpcore.ConnectTimeout(f"the TLS handshake took over {timeout} s") from exc
        except (OSError, EOFError) as exc:  # ssl.SSLError is an OSError
            await self.aclose()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            await self.aclose()
            raise
        if protocol.transport is None:
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        return self

    def get_extra_info(self, info: str) -> Any:
        """What httpcore asks of a connection: its TLS object, addresses, socket, readability."""
        protocol = self._protocol
        if info == "is_readable":  # an idle connection the server closed, or wrote to
            return bool(protocol.chunks) or protocol.ended or _readable(self._socket)
        if info == "ssl_object":
            return protocol.transport.get_extra_info("ssl_object")
        if info == "socket":
            return self._socket
        if info in ("client_addr", "server_addr"):
            ends = self._socket.getsockname if info == "client_addr" else self._socket.getpeername
            try:
                return tuple(ends()[:2])  # (host, port), as for IPv4
            except OSError:  # closed
                return None
        return None
