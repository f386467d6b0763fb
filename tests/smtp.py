"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests, with programmable refusals."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections.abc import Iterator
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
        self.delay = 0.0  # seconds before answering each DATA (a slow server)
        self.lock = threading.Lock()

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
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.reply:
            return self.reply
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def reset(self) -> None:
        """Forget messages and refusals."""
        with self.lock:
            self.messages.clear()
            self.envelopes.clear()
        self.reply = None
        self.reject_rcpt = None
        self.delay = 0.0


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
