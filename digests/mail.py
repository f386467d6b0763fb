"""Build a digest email and send it over SMTP: the only module that speaks SMTP.

Two clocks bound a send, so ``send`` returns or raises within ``timeout + data_timeout``
seconds (name resolution aside): ``[smtp] timeout`` is one deadline for the whole conversation
(connect, greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA and the message), shared by every
read and write so that a server trickling a byte at a time cannot stretch it; ``[smtp]
data_timeout`` bounds the wait for the final reply after the message's closing ".", which RFC
5321 (4.5.3.2) lets a server take up to ten minutes to send.

What a failure means for a retry:

    SmtpError            nothing was delivered; worth retrying later (4xx, timeouts, drops)
    +-- SmtpRejected        a 5xx to MAIL, RCPT or DATA: the same message will be refused again
    +-- SmtpOutcomeUnknown  the message was sent but no final reply came: it may have been kept
"""

from __future__ import annotations

import base64
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses, parseaddr
from typing import TYPE_CHECKING

from digests import dkim
from digests.settings import SmtpSettings
from ingest.errors import DeliveryError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

_MAX_LINE = 8192  # as smtplib: a longer reply line is garbage


class SmtpError(DeliveryError):
    """The SMTP server could not be reached or refused the message; worth retrying later."""


class SmtpRejected(SmtpError):
    """The server refused this message or recipient for good (5xx): retrying will not help."""


class SmtpOutcomeUnknown(SmtpError):
    """The message was sent but no final reply came: the server may or may not have kept it."""


@dataclass(frozen=True)
class Letter:
    """What goes into one digest email."""

    to_email: str
    to_name: str
    subject: str
    text: str
    html: str
    message_id: str
    date: datetime
    list_id: str
    # The List-Unsubscribe URIs: the one-click https:// link first when the digest has one,
    # then the mailto: URL.
    unsubscribe: tuple[str, ...]


ONE_CLICK = "List-Unsubscribe=One-Click"  # List-Unsubscribe-Post (RFC 8058)


def build(letter: Letter, smtp: SmtpSettings) -> EmailMessage:
    """A multipart/alternative message (plain text first, then HTML) with list headers
    (none when ``list_id`` and ``unsubscribe`` are empty).

    With an http(s) unsubscribe link the message offers one-click unsubscribing (RFC 8058):
    ``List-Unsubscribe-Post`` tells the mail client to POST ``List-Unsubscribe=One-Click`` there.
    """
    message = EmailMessage()
    name, address = parseaddr(smtp.sender)
    message["From"] = formataddr((name, address))
    message["To"] = Address(display_name=letter.to_name, addr_spec=letter.to_email)
    if smtp.reply_to:
        message["Reply-To"] = smtp.reply_to
    message["Subject"] = letter.subject
    message["Date"] = format_datetime(letter.date)
    message["Message-ID"] = letter.message_id
    if letter.list_id:  # none on a message to the admin (alerts): it is no list's
        message["List-Id"] = f"<{letter.list_id}>"
    if letter.unsubscribe:
        # Set as written: folded by the email package, a long URL would become an RFC 2047
        # encoded word, which no client reads as a URL. One URI per line.
        message.set_raw("List-Unsubscribe", ",\n ".join(f"<{uri}>" for uri in letter.unsubscribe))
    if any(uri.startswith(("https:", "http:")) for uri in letter.unsubscribe):
        message["List-Unsubscribe-Post"] = ONE_CLICK
    message["Auto-Submitted"] = "auto-generated"
    if letter.list_id:
        message["Precedence"] = "list"
    message.set_content(letter.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(letter.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def send(message: EmailMessage, smtp: SmtpSettings) -> None:
    """Deliver ``message`` to its To address within ``smtp.timeout + smtp.data_timeout`` s."""
    try:
        _send(message, smtp)
    except SmtpError as exc:
        text = _scrub(str(exc), smtp)
        if text == str(exc):
            raise
        raise type(exc)(text) from None  # the cause would repeat what the server echoed


def _send(message: EmailMessage, smtp: SmtpSettings) -> None:
    client = _Client(smtp)
    try:
        _converse(client, message, smtp)
    except SmtpError:
        client.quit_quietly()  # the server answered: end the session politely
        raise
    except (smtplib.SMTPException, OSError) as exc:
        if client.step == _FINAL_REPLY:
            raise _unknown(exc, smtp, message) from exc
        raise _failure(exc, client.step, smtp) from exc
    finally:
        client.close()


# Steps of the conversation, as error messages name them.
_FINAL_REPLY = "waiting for the final reply"
_REJECTED = {  # a 5xx at this step: what was refused, and what to check
    "MAIL FROM": (
        "the sender {sender}",
        "check [smtp] from: the server must accept mail from that address and its domain "
        "(SPF, relaying rules), which may need a login ([smtp] username)",
    ),
    "RCPT TO": (
        "the recipient {rcpt}",
        "check the subscriber's address {rcpt}, and that the server relays to its domain "
        "(which may need a login, [smtp] username)",
    ),
    "DATA": (
        "the message",
        "check [smtp] from and its domain (SPF, DKIM) and the server's limits on size and "
        "content; sending it again will not help",
    ),
}


def _converse(client: _Client, message: EmailMessage, smtp: SmtpSettings) -> None:
    sender, recipients, payload, options = _envelope(message, smtp)
    client.step = "connecting"
    code, reply = client.connect(smtp.host, smtp.port)
    _expect(code, reply, smtp, "the connection", 220)
    client.step = "at EHLO"
    client.ehlo_or_helo_if_needed()
    if smtp.security == "starttls":
        client.step = "at STARTTLS"
        client.starttls(context=client.context)
        client.discard_pending()  # nothing sent before TLS may be read as if sent after it
        client.step = "at EHLO"
        client.ehlo_or_helo_if_needed()  # again: what the server offers may change under TLS
    if smtp.username:
        client.step = "at AUTH"
        client.login(smtp.username, smtp.password)
    if client.has_extn("size"):
        options = [*options, f"SIZE={len(payload)}"]  # lets the server refuse a big one now
    client.step = "at MAIL FROM"
    _expect(*client.mail(sender, options), smtp, "MAIL FROM", 250, sender=sender)
    for rcpt in recipients:
        client.step = "at RCPT TO"
        _expect(*client.rcpt(rcpt), smtp, "RCPT TO", 250, rcpt=rcpt)
    client.step = "at DATA"
    _expect(*client.docmd("DATA"), smtp, "DATA", 354)
    client.step = "sending the message"
    client.send(_dot_stuffed(payload))
    # From here on the server may have kept the message, and it may take its time to say so.
    client.step = _FINAL_REPLY
    client.deadline = time.monotonic() + smtp.data_timeout
    _expect(*client.getreply(), smtp, "DATA", 250)
    client.step = "at QUIT"
    client.quit_quietly()


def _expect(
    code: int, reply: bytes, smtp: SmtpSettings, step: str, wanted: int, **names: str
) -> None:
    """Raise the SmtpError that ``code`` means unless it is ``wanted`` (any 2xx for a 250)."""
    if code == wanted or (wanted == 250 and 200 <= code < 300):
        return
    where = f"{smtp.host}:{smtp.port}"
    answer = _reply(code, reply)
    if code == 530:  # about this session (login or TLS missing), not this message: fixable
        raise SmtpError(
            f"SMTP server {where} wants a login or TLS first ({answer}): check [smtp] security "
            "and username"
        )
    if step in _REJECTED and 500 <= code < 600:
        what, hint = (text.format(**names) for text in _REJECTED[step])
        raise SmtpRejected(f"SMTP server {where} rejected {what} for good ({answer}): {hint}")
    what = _REJECTED[step][0].format(**names) if step in _REJECTED else step
    if 400 <= code < 500:
        raise SmtpError(
            f"SMTP server {where} turned away {what} for now ({answer}); worth retrying later"
        )
    raise SmtpError(
        f"SMTP server {where} answered {answer} to {what} where {wanted} was expected: check "
        "[smtp] host and port point at an SMTP server"
    )


def _unknown(exc: Exception, smtp: SmtpSettings, message: EmailMessage) -> SmtpOutcomeUnknown:
    where = f"{smtp.host}:{smtp.port}"
    if isinstance(exc, TimeoutError):
        what = f"sent no final reply within {smtp.data_timeout:g} s ([smtp] data_timeout)"
    else:
        what = f"closed the connection before its final reply ({exc or type(exc).__name__})"
    return SmtpOutcomeUnknown(
        f"SMTP server {where} received the message {message['Message-ID']} but {what}: the "
        "server may have kept the message, so it will be retried with the same Message-ID a "
        "limited number of times; if copies arrive twice, raise [smtp] data_timeout or check "
        "the server's logs"
    )


def _failure(exc: Exception, step: str, smtp: SmtpSettings) -> SmtpError:
    where = f"{smtp.host}:{smtp.port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return SmtpError(
            f"SMTP server {where} refused the login for {smtp.username!r} "
            f"({_reply(exc.smtp_code, exc.smtp_error)}); check [smtp] username and "
            f"${smtp.password_env}"
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SmtpError(_unsupported(step, where))
    if isinstance(exc, smtplib.SMTPResponseException):
        return SmtpError(
            f"SMTP server {where} answered {_reply(exc.smtp_code, exc.smtp_error)} ({step}): "
            "check [smtp] host and port point at an SMTP server"
        )
    if isinstance(exc, ConnectionRefusedError):
        return SmtpError(
            f"SMTP server {where} refused the connection: check [smtp] host and port, and that "
            "the server is running"
        )
    if isinstance(exc, TimeoutError):
        return SmtpError(
            f"SMTP server {where} did not answer within {smtp.timeout:g} s ({step}): check "
            "[smtp] host, port and security, that no firewall drops the connection, or raise "
            "[smtp] timeout (it bounds the whole conversation)"
        )
    if isinstance(exc, socket.gaierror):
        return SmtpError(
            f"SMTP host {smtp.host!r} could not be resolved ({exc.strerror}): check [smtp] host"
        )
    if isinstance(exc, ssl.SSLError):
        return SmtpError(
            f"TLS with SMTP server {where} failed: {exc.reason or exc}; check [smtp] security"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionError):
        return SmtpError(
            f"SMTP server {where} closed the connection ({step}): check [smtp] security and "
            "port (a server expecting TLS drops a plain connection), and the server's logs; "
            "worth retrying later"
        )
    return SmtpError(f"sending through SMTP server {where} failed ({step}): {exc}")


def _unsupported(step: str, where: str) -> str:
    if step == "at STARTTLS":
        return (
            f"SMTP server {where} does not offer STARTTLS; "
            'set [smtp] security = "ssl" or "none" to match the server'
        )
    if step == "at AUTH":
        return (
            f"SMTP server {where} does not offer a login (AUTH): many offer it only over TLS, "
            "so check [smtp] security; or leave [smtp] username empty"
        )
    return (
        f"SMTP server {where} does not accept non-ASCII addresses (SMTPUTF8): check [smtp] "
        "from and the subscriber's address"
    )


def wire(message: EmailMessage, smtp: SmtpSettings) -> bytes:
    """The message as it goes on the wire (before dot-stuffing), DKIM-signed when configured."""
    return _envelope(message, smtp)[2]


def _envelope(message: EmailMessage, smtp: SmtpSettings) -> tuple[str, list[str], bytes, list[str]]:
    """The envelope sender and recipients, the bytes to send and the MAIL FROM options."""
    sender = getaddresses([str(h) for h in message.get_all("From", [])])[0][1]
    headers = [str(h) for h in message.get_all("To", []) + message.get_all("Cc", [])]
    recipients = [address for _, address in getaddresses(headers)]
    international = not all(address.isascii() for address in (sender, *recipients))
    chosen = policy.SMTPUTF8 if international else policy.SMTP
    # Headers set as written (set_raw) keep their own folding; the rest are folded as usual.
    payload = message.as_bytes(policy=chosen.clone(refold_source="none"))
    payload = dkim.sign(payload, smtp)  # the signature covers exactly these bytes
    return sender, recipients, payload, ["SMTPUTF8", "BODY=8BITMIME"] if international else []


def _dot_stuffed(payload: bytes) -> bytes:
    """The message as DATA carries it: leading dots doubled, then the closing "."."""
    stuffed = re.sub(rb"(?m)^\.", b"..", payload)
    return stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n"


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {message}".strip()


def _scrub(text: str, smtp: SmtpSettings) -> str:
    """``text`` without the password, also as AUTH PLAIN and AUTH LOGIN encode it."""
    password = smtp.password
    if not password:
        return text
    secrets = [f"\0{smtp.username}\0{password}", password]
    for secret in list(secrets):
        secrets.append(base64.b64encode(secret.encode()).decode())
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class _Client(smtplib.SMTP):
    """smtplib whose reads and writes share one deadline, not a fresh timeout each."""

    def __init__(self, smtp: SmtpSettings) -> None:
        super().__init__(timeout=smtp.timeout)
        self._host = smtp.host  # smtplib names the TLS server after it; set by connect(host)
        self.deadline = time.monotonic() + smtp.timeout
        self.step = "connecting"
        self.context = ssl.create_default_context()
        self.implicit_tls = smtp.security == "ssl"
        self._pending = b""

    def remaining(self) -> float:
        """Seconds left before the deadline; TimeoutError once it has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the deadline has passed")
        return left

    def _get_socket(self, host: str, port: int, timeout: float | None) -> socket.socket:
        sock = _open(host, port, self.remaining)
        if self.implicit_tls:
            self.step = "at the TLS handshake"
            try:
                sock.settimeout(self.remaining())  # the handshake keeps this as its own deadline
                sock = self.context.wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        self.step = "waiting for the greeting"
        return sock

    def send(self, s: ReadableBuffer | str) -> None:
        """Write ``s`` before the deadline; a broken connection stays an OSError."""
        if not self.sock:
            raise smtplib.SMTPServerDisconnected("not connected")
        data = memoryview(s.encode(self.command_encoding) if isinstance(s, str) else s)
        while data:
            self.sock.settimeout(self.remaining())
            data = data[self.sock.send(data[:65536]) :]

    def getreply(self) -> tuple[int, bytes]:
        """Read one (possibly multi-line) reply before the deadline."""
        lines = []
        while True:
            line = self._readline()
            lines.append(line[4:].strip(b" \t\r\n"))
            if not line[:3].isdigit():
                return -1, b"\n".join(lines)
            if line[3:4] != b"-":
                return int(line[:3]), b"\n".join(lines)

    def discard_pending(self) -> None:
        """Forget bytes read ahead (after STARTTLS they would be plain text posing as TLS)."""
        self._pending = b""

    def quit_quietly(self) -> None:
        """Say QUIT if the connection is still open; the answer no longer matters."""
        self.deadline = min(self.deadline, time.monotonic() + self.timeout)
        with suppress(smtplib.SMTPException, OSError):
            if self.sock:
                self.docmd("QUIT")

    def _readline(self) -> bytes:
        while b"\n" not in self._pending:
            if len(self._pending) > _MAX_LINE:
                raise smtplib.SMTPResponseException(500, b"Line too long.")
            if not self.sock:
                raise smtplib.SMTPServerDisconnected("not connected")
            self.sock.settimeout(self.remaining())
            chunk = self.sock.recv(4096)
            if not chunk:
                raise smtplib.SMTPServerDisconnected("the server closed the connection")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line + b"\n"


def _open(host: str, port: int, remaining: Callable[[], float]) -> socket.socket:
    """A TCP connection to ``host``, each address tried within what is left of the deadline."""
    error: OSError = OSError(f"{host} has no address")
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining())
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
        else:
            return sock
    raise error
