"""SMTP servers on 127.0.0.1 for tests: aiosmtpd with programmable refusals and delays, and a
bare scripted server for what aiosmtpd will not do (trickle a reply, fall silent)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class Sink:
    """Collects what the server accepted; ``reply`` makes it refuse (e.g. "451 ...", "550 ...")."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []
        self.reply: str | None = None  # refuse at DATA with this reply
        self.reject_rcpt: str | None = None  # refuse at RCPT TO with this reply
        self.reject_mail: str | None = None  # refuse at MAIL FROM with this reply
        self.delay = 0.0  # seconds between keeping a message and answering the end of DATA
        self.drop_after_data = False  # keep the message, then close without a final reply
        self.lock = threading.Lock()

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """Accept or refuse the sender."""
        if self.reject_mail:
            return self.reject_mail
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """Accept or refuse one recipient."""
        if self.reject_rcpt:
            return self.reject_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Keep the message, or refuse it with ``reply``."""
        if self.reply:
            return self.reply
        delay, drop = self.delay, self.drop_after_data
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append(envelope)
        if drop:
            server.transport.abort()  # type: ignore[union-attr]
        await asyncio.sleep(delay)
        return "250 Message accepted for delivery"

    def reset(self) -> None:
        """Forget messages and refusals."""
        with self.lock:
            self.messages.clear()
            self.envelopes.clear()
        self.reply = None
        self.reject_rcpt = None
        self.reject_mail = None
        self.delay = 0.0
        self.drop_after_data = False


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    """The server and its sink; ``port`` is where it listens."""

    def __init__(self) -> None:
        self.sink = Sink()
        self.port = free_port()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        """Messages accepted so far."""
        return list(self.sink.messages)


@pytest.fixture(scope="session")
def smtp_session() -> Iterator[SmtpServer]:
    """One SMTP server for the session."""
    with SmtpServer() as server:
        yield server


@pytest.fixture
def smtp_server(smtp_session: SmtpServer) -> Iterator[SmtpServer]:
    """The session's SMTP server, emptied and accepting everything."""
    smtp_session.sink.reset()
    yield smtp_session
    smtp_session.sink.reset()


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class ScriptedServer:
    """A bare TCP server on 127.0.0.1 playing ``script`` on each connection, in its own thread."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        start = asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.server = asyncio.run_coroutine_threadsafe(start, self.loop).result()
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    def __exit__(self, *_: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client left, or the server is stopping
        finally:
            writer.close()

    async def _stop(self) -> None:
        self.server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def trickle(writer: asyncio.StreamWriter, data: bytes, every: float = 0.5) -> None:
    """Write ``data`` one byte at a time, ``every`` seconds apart."""
    for byte in data:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(every)


async def converse(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, until: str, ehlo: str = ""
) -> bytes:
    """Play a willing SMTP server until the client sends the command ``until`` ("." for the
    end of the message), and return that line unanswered; ``ehlo`` adds an EHLO keyword."""
    writer.write(b"220 scripted ESMTP\r\n")
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("the client left")
        verb = line.split(b":")[0].split(b" ")[0].strip().upper().decode()
        if verb == until:
            return line
        if verb == "EHLO":
            writer.write(f"250-scripted\r\n250 {ehlo or 'PIPELINING'}\r\n".encode())
        elif verb == "DATA":
            writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            while (line := await reader.readline()) not in (b".\r\n", b""):
                pass
            if until == ".":
                return line
            writer.write(b"250 OK\r\n")
        else:
            writer.write(b"221 Bye\r\n" if verb == "QUIT" else b"250 OK\r\n")
