"""Sending one digest email over SMTP: deadlines, slow and odd servers, what each failure means."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from smtp import ScriptedServer, Sink, SmtpServer, converse, free_port, trickle
from tls import self_signed, server_context

from broadsheet import config
from digests.mail import Letter, SmtpError, SmtpOutcomeUnknown, SmtpRejected, build, send
from digests.settings import SmtpSettings
from ingest.errors import ConfigError

MESSAGE_ID = "<digest-1@broadsheet.test>"


def smtp_settings(port: int, **keys: Any) -> SmtpSettings:
    """[smtp] as the config file gives it, for a plain server on 127.0.0.1."""
    table = {"host": "127.0.0.1", "port": port, "security": "none", **keys}
    return config.parse({"smtp": table}, Path("broadsheet.toml")).smtp


def mail(smtp: SmtpSettings) -> Any:
    """One digest email to ada@example.org."""
    letter = Letter(
        to_email="ada@example.org",
        to_name="Ada",
        subject="The Broadsheet",
        text="One story.\n.\nA line that starts with a dot.",
        html="<p>One story.</p>",
        message_id=MESSAGE_ID,
        date=datetime(2024, 5, 1, 7, tzinfo=UTC),
        list_id="digest.broadsheet.test",
        unsubscribe=("mailto:digest@example.org",),
    )
    return build(letter, smtp)


def send_with_retries(smtp: SmtpSettings, attempts: int = 3) -> list[SmtpError]:
    """Send as delivery does: again after each failure, up to ``attempts`` times."""
    failures: list[SmtpError] = []
    for _ in range(attempts):
        try:
            send(mail(smtp), smtp)
            break
        except SmtpError as exc:
            failures.append(exc)
    return failures


def test_data_timeout_is_read_from_the_config_and_defaults_to_ten_minutes() -> None:
    assert smtp_settings(25).data_timeout == 600
    assert smtp_settings(25, data_timeout="90s").data_timeout == 90
    with pytest.raises(ConfigError, match=r"smtp\.data_timeout"):
        smtp_settings(25, data_timeout="soon")


def test_a_message_arrives_whole_with_its_dots(smtp_server: SmtpServer) -> None:
    smtp = smtp_settings(smtp_server.port)
    send(mail(smtp), smtp)
    (message,) = smtp_server.messages
    assert message["Message-ID"] == MESSAGE_ID
    lines = message.get_body(("plain",)).get_content().splitlines()
    assert lines == ["One story.", ".", "A line that starts with a dot."]
    assert smtp_server.sink.envelopes[0].rcpt_tos == ["ada@example.org"]


@pytest.mark.timeout(60)
def test_a_slow_final_reply_is_waited_for_and_the_message_arrives_once(
    smtp_server: SmtpServer,
) -> None:
    # The server keeps the message at once but answers the end of DATA 3 s later (RFC 5321
    # gives it 10 minutes): [smtp] timeout must not cut that wait short, or every retry
    # leaves another copy.
    smtp_server.sink.delay = 3
    assert send_with_retries(smtp_settings(smtp_server.port, timeout="1s")) == []
    (message,) = smtp_server.messages
    assert message["Message-ID"] == MESSAGE_ID


@pytest.mark.timeout(60)
def test_no_final_reply_within_data_timeout_is_an_unknown_outcome(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.sink.delay = 5
    smtp = smtp_settings(smtp_server.port, data_timeout="1s")
    with pytest.raises(SmtpOutcomeUnknown) as caught:
        send(mail(smtp), smtp)
    text = str(caught.value)
    assert "sent no final reply within 1 s ([smtp] data_timeout)" in text
    assert "may have kept the message" in text
    assert "retried with the same Message-ID a limited number of times" in text
    assert MESSAGE_ID in text
    assert len(smtp_server.messages) == 1  # indeed kept


@pytest.mark.timeout(60)
def test_a_connection_dropped_after_the_message_is_an_unknown_outcome(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.sink.drop_after_data = True
    smtp = smtp_settings(smtp_server.port)
    with pytest.raises(SmtpOutcomeUnknown) as caught:
        send(mail(smtp), smtp)
    text = str(caught.value)
    assert "closed the connection before its final reply" in text
    assert "may have kept the message" in text and MESSAGE_ID in text
    assert len(smtp_server.messages) == 1


async def greet_by_the_byte(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await trickle(writer, b"220 " + b"x" * 1000 + b"\r\n")


async def answer_ehlo_by_the_byte(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await converse(reader, writer, until="EHLO")
    await trickle(writer, b"250-" + b"x" * 1000 + b"\r\n250 OK\r\n")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("script", "step"),
    [
        (greet_by_the_byte, "(waiting for the greeting)"),
        (answer_ehlo_by_the_byte, "(at EHLO)"),
    ],
)
def test_a_trickling_server_cannot_stretch_the_timeout(script: Any, step: str) -> None:
    with ScriptedServer(script) as server:
        smtp = smtp_settings(server.port, timeout="2s")
        with pytest.raises(SmtpError) as caught:
            send(mail(smtp), smtp)
    text = str(caught.value)
    assert f"did not answer within 2 s {step}" in text
    assert "[smtp] host, port and security" in text and "[smtp] timeout" in text
    assert not isinstance(caught.value, SmtpOutcomeUnknown)


@pytest.mark.timeout(60)
def test_a_trickled_final_reply_is_bounded_by_data_timeout() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await converse(reader, writer, until=".")
        await trickle(writer, b"250 " + b"x" * 1000 + b"\r\n")

    with ScriptedServer(script) as server:
        smtp = smtp_settings(server.port, timeout="2s", data_timeout="2s")
        with pytest.raises(SmtpOutcomeUnknown, match="no final reply within 2 s"):
            send(mail(smtp), smtp)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("final", ["250 2.0.0 Queued", "554 5.7.1 Refused"])
def test_a_server_silent_after_its_final_reply_does_not_hold_the_send(final: str) -> None:
    # The final reply settles the outcome; a QUIT left unanswered must not keep the sender
    # waiting until data_timeout (10 minutes here).
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await converse(reader, writer, until=".")
        writer.write(final.encode() + b"\r\n")
        await asyncio.sleep(60)

    with ScriptedServer(script) as server:
        smtp = smtp_settings(server.port, timeout="1s", data_timeout="10m")
        if final.startswith("250"):
            send(mail(smtp), smtp)
        else:
            with pytest.raises(SmtpRejected, match=final):
                send(mail(smtp), smtp)


def silent_at(command: str) -> Callable[..., Any]:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await converse(reader, writer, until=command)
        await asyncio.sleep(60)

    return script


def hanging_up_at(command: str) -> Callable[..., Any]:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await converse(reader, writer, until=command)

    return script


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", ["EHLO", "MAIL", "RCPT", "DATA"])
def test_a_silent_server_is_reported_as_a_timeout_before_the_message(command: str) -> None:
    with ScriptedServer(silent_at(command)) as server:
        smtp = smtp_settings(server.port, timeout="1s")
        with pytest.raises(SmtpError) as caught:
            send(mail(smtp), smtp)
    text = str(caught.value)
    assert type(caught.value) is SmtpError
    assert f"127.0.0.1:{server.port} did not answer within 1 s" in text
    assert "[smtp] timeout" in text and "closed" not in text


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", ["EHLO", "MAIL", "RCPT", "DATA"])
def test_a_dropped_connection_before_the_message_is_transient(command: str) -> None:
    with ScriptedServer(hanging_up_at(command)) as server:
        smtp = smtp_settings(server.port)
        with pytest.raises(SmtpError) as caught:
            send(mail(smtp), smtp)
    text = str(caught.value)
    assert type(caught.value) is SmtpError
    assert f"127.0.0.1:{server.port} closed the connection" in text
    assert "[smtp] security and port" in text and "timed out" not in text


@pytest.mark.parametrize(
    ("where", "reply", "expected"),
    [
        ("mail", "553 5.7.1 Sender domain has no SPF record", "rejected the sender"),
        ("rcpt", "550 5.1.1 No such user", "rejected the recipient ada@example.org"),
        ("data", "554 5.7.1 Message refused as spam", "rejected the message"),
    ],
)
def test_a_5xx_to_mail_rcpt_or_data_is_a_rejection_for_good(
    smtp_server: SmtpServer, where: str, reply: str, expected: str
) -> None:
    setattr(
        smtp_server.sink, {"mail": "reject_mail", "rcpt": "reject_rcpt"}.get(where, "reply"), reply
    )
    smtp = smtp_settings(smtp_server.port, **{"from": "Broadsheet <digest@example.org>"})
    with pytest.raises(SmtpRejected) as caught:
        send(mail(smtp), smtp)
    text = str(caught.value)
    assert expected in text and reply in text
    hint = {"mail": "check [smtp] from", "rcpt": "check the subscriber's address ada@example.org"}
    assert hint.get(where, "check [smtp] from and its domain") in text
    assert smtp_server.messages == []


def test_a_5xx_to_the_data_command_is_a_rejection_for_good() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await converse(reader, writer, until="DATA")
        writer.write(b"554 5.3.4 Message too big for system\r\n")
        await converse_rest(reader, writer)

    with ScriptedServer(script) as server:
        smtp = smtp_settings(server.port)
        with pytest.raises(SmtpRejected, match=r"rejected the message for good \(554 5\.3\.4"):
            send(mail(smtp), smtp)


async def converse_rest(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer whatever follows with 250 (221 to QUIT) until the client leaves."""
    while line := await reader.readline():
        writer.write(b"221 Bye\r\n" if line.upper().startswith(b"QUIT") else b"250 OK\r\n")


def test_a_server_wanting_a_login_or_tls_first_is_a_fixable_setting(
    smtp_server: SmtpServer,
) -> None:
    # 530 refuses the session, not the message: once [smtp] is fixed the same message goes.
    smtp_server.sink.reject_mail = "530 5.7.0 Must issue a STARTTLS command first"
    smtp = smtp_settings(smtp_server.port)
    with pytest.raises(SmtpError) as caught:
        send(mail(smtp), smtp)
    assert type(caught.value) is SmtpError
    assert "530 5.7.0 Must issue a STARTTLS command first" in str(caught.value)
    assert "check [smtp] security and username" in str(caught.value)


@pytest.mark.parametrize(
    ("where", "reply"),
    [
        ("mail", "421 4.7.0 Too many connections, try later"),
        ("rcpt", "452 4.2.2 Mailbox full"),
        ("data", "451 4.3.0 Try again later"),
    ],
)
def test_a_4xx_stays_a_transient_error(smtp_server: SmtpServer, where: str, reply: str) -> None:
    setattr(
        smtp_server.sink, {"mail": "reject_mail", "rcpt": "reject_rcpt"}.get(where, "reply"), reply
    )
    smtp = smtp_settings(smtp_server.port)
    with pytest.raises(SmtpError) as caught:
        send(mail(smtp), smtp)
    assert type(caught.value) is SmtpError
    assert reply in str(caught.value) and "worth retrying later" in str(caught.value)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_the_password_never_appears_even_when_the_server_echoes_it(
    monkeypatch: pytest.MonkeyPatch, mechanism: str
) -> None:
    seen: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await converse(reader, writer, until="AUTH", ehlo=f"AUTH {mechanism}")
        if mechanism == "LOGIN":  # the username came with AUTH; now ask for the password
            writer.write(b"334 UGFzc3dvcmQ6\r\n")
            line = await reader.readline()
        seen.append(line)
        decoded = base64.b64decode(line.split()[-1]).replace(b"\0", b" ")
        writer.write(b"535 5.7.8 Bad credentials: " + line.strip() + b" = " + decoded + b"\r\n")
        await converse_rest(reader, writer)

    monkeypatch.setenv("BROADSHEET_TEST_SMTP_PASSWORD", "hunter2-secret")
    with ScriptedServer(script) as server:
        smtp = smtp_settings(
            server.port, username="ada", password_env="BROADSHEET_TEST_SMTP_PASSWORD"
        )
        with pytest.raises(SmtpError) as caught:
            send(mail(smtp), smtp)
    text = str(caught.value)
    assert len(seen) == 1 and "535 5.7.8 Bad credentials" in text
    assert "refused the login for 'ada'" in text and "$BROADSHEET_TEST_SMTP_PASSWORD" in text
    assert "hunter2" not in text and base64.b64encode(b"hunter2-secret").decode() not in text
    assert base64.b64encode(b"\0ada\0hunter2-secret").decode() not in text


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ssl.SSLContext]:
    """A server context with a self-signed certificate for 127.0.0.1 that clients trust."""
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = server_context(cert, key)
    yield context


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_a_message_goes_over_tls(tls: ssl.SSLContext, security: str) -> None:
    sink, port = Sink(), free_port()
    tls_options: dict[str, Any] = (
        {"tls_context": tls, "require_starttls": True}
        if security == "starttls"
        else {"ssl_context": tls}
    )
    controller = Controller(sink, hostname="127.0.0.1", port=port, **tls_options)
    controller.start()
    try:
        smtp = smtp_settings(port, security=security)
        send(mail(smtp), smtp)
    finally:
        controller.stop()
    (message,) = sink.messages
    assert message["Message-ID"] == MESSAGE_ID


@pytest.mark.timeout(60)
def test_a_tls_handshake_that_never_ends_keeps_to_the_timeout() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(60)  # accept the connection, never answer the TLS hello

    with ScriptedServer(script) as server:
        smtp = smtp_settings(server.port, security="ssl", timeout="1s")
        with pytest.raises(SmtpError, match=r"did not answer within 1 s \(at the TLS handshake\)"):
            send(mail(smtp), smtp)
