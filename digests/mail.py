"""Build a digest email and send it over SMTP: the only module that speaks SMTP."""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr

from digests.settings import SmtpSettings
from ingest.errors import DeliveryError


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
    unsubscribe: str  # a mailto: URL


def build(letter: Letter, smtp: SmtpSettings) -> EmailMessage:
    """A multipart/alternative message (plain text first, then HTML) with list headers."""
    message = EmailMessage()
    name, address = parseaddr(smtp.sender)
    message["From"] = formataddr((name, address))
    message["To"] = Address(display_name=letter.to_name, addr_spec=letter.to_email)
    if smtp.reply_to:
        message["Reply-To"] = smtp.reply_to
    message["Subject"] = letter.subject
    message["Date"] = format_datetime(letter.date)
    message["Message-ID"] = letter.message_id
    message["List-Id"] = f"<{letter.list_id}>"
    message["List-Unsubscribe"] = f"<{letter.unsubscribe}>"
    message["Auto-Submitted"] = "auto-generated"
    message["Precedence"] = "list"
    message.set_content(letter.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(letter.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def send(message: EmailMessage, smtp: SmtpSettings) -> None:
    """Deliver ``message`` to its To address; SmtpError says what failed and where."""
    where = f"{smtp.host}:{smtp.port}"
    try:
        with _connect(smtp) as client:
            if smtp.username:
                client.login(smtp.username, smtp.password)
            refused = client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        reasons = "; ".join(
            f"{rcpt}: {_reply(code, text)}" for rcpt, (code, text) in exc.recipients.items()
        )
        codes = [code for code, _ in exc.recipients.values()]
        kind = SmtpRejected if codes and min(codes) >= 500 else SmtpError
        raise kind(f"SMTP server {where} rejected the recipient ({reasons})") from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise SmtpError(
            f"SMTP server {where} refused the login for {smtp.username!r} ({_reply(exc.smtp_code, exc.smtp_error)}); "
            f"check the username and ${smtp.password_env}"
        ) from exc
    except smtplib.SMTPResponseException as exc:
        raise (SmtpRejected if exc.smtp_code >= 500 else SmtpError)(
            f"SMTP server {where} answered {_reply(exc.smtp_code, exc.smtp_error)}"
        ) from exc
    except (ConnectionRefusedError, smtplib.SMTPConnectError) as exc:
        raise SmtpError(
            f"SMTP server {where} refused the connection: check [smtp] host and port, and that "
            "the server is running"
        ) from exc
    except TimeoutError as exc:
        raise SmtpError(
            f"SMTP server {where} did not answer within {smtp.timeout:g} s: check [smtp] host "
            "and port, and that no firewall drops the connection"
        ) from exc
    except socket.gaierror as exc:
        raise SmtpError(
            f"SMTP host {smtp.host!r} could not be resolved ({exc.strerror}): check [smtp] host"
        ) from exc
    except ssl.SSLError as exc:
        raise SmtpError(
            f"TLS with SMTP server {where} failed: {exc.reason or exc}; check [smtp].security"
        ) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise SmtpError(f"sending through SMTP server {where} failed: {exc}") from exc
    if refused:
        raise SmtpError(f"SMTP server {where} rejected recipients: {', '.join(refused)}")


def _connect(smtp: SmtpSettings) -> smtplib.SMTP:
    if smtp.security == "ssl":
        return smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=smtp.timeout, context=ssl.create_default_context()
        )
    client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    if smtp.security == "starttls":
        try:
            client.starttls(context=ssl.create_default_context())
        except smtplib.SMTPNotSupportedError as exc:
            client.close()
            raise SmtpError(
                f"SMTP server {smtp.host}:{smtp.port} does not offer STARTTLS; "
                'set [smtp].security = "ssl" or "none" to match the server'
            ) from exc
        except BaseException:
            client.close()
            raise
    return client


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {message}".strip()
