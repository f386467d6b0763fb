"""DKIM: digests signed on the bytes sent, verified as a receiver would after a real SMTP trip.

Keys are made by openssl as the README says; the receiver's DNS answer is the TXT record
`broadsheet check` tells the admin to publish, so a wrong record would fail here too.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dkim as dkimpy
import pytest
from keys import private_key, public_der
from processes import cli
from smtp import SmtpServer
from test_render import SETTINGS, golden_digest

from broadsheet import config
from digests import dkim, outbox
from digests.links import links
from digests.settings import SmtpSettings
from ingest.errors import ConfigError

VARIABLE = "TEST_DKIM_KEY"  # not BROADSHEET_*: the CLI helper clears those
NOW = datetime(2022, 3, 31, 5, 0, tzinfo=UTC)
MAILTO = "mailto:desk@news.example.org?subject=unsubscribe"
SECRET = "k" * 43


def signing_smtp(port: int, **keys: Any) -> SmtpSettings:
    """[smtp] for the test server, signing as news.example.org with the key in $TEST_DKIM_KEY."""
    table = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "The Desk <desk@news.example.org>",
        "dkim_domain": "news.example.org",
        "dkim_selector": "2026",
        "dkim_key_env": VARIABLE,
        **keys,
    }
    return config.parse({"smtp": table}, Path("broadsheet.toml")).smtp


def send_digest(smtp: SmtpSettings, server: SmtpServer, *, with_links: bool = True) -> bytes:
    """Mail the golden digest (with the subscriber's links) and return the bytes received."""
    found = links("https://news.example.org", SECRET, "pub-ann") if with_links else None
    packed = outbox.pack(
        golden_digest(),
        "<digest.1@news.example.org>",
        SETTINGS,
        list_unsubscribe=MAILTO,
        now=NOW,
        links=found,
        delivery_id=7 if with_links else None,
    )
    outbox.send(packed, smtp, Path("unused"), lambda: NOW)
    (envelope,) = server.sink.envelopes
    return bytes(envelope.original_content)


def dns_answer(record: str) -> Any:
    """A stand-in resolver answering the one TXT query for 2026._domainkey.news.example.org."""

    def answer(name: bytes, timeout: float = 5) -> bytes | None:
        return record.encode() if name == b"2026._domainkey.news.example.org." else None

    return answer


def tags(received: bytes) -> dict[str, str]:
    """The tags of the message's DKIM-Signature, whitespace removed."""
    header = re.search(rb"^DKIM-Signature:(.*?)\r\n(?!\s)", received, re.S | re.M)
    assert header is not None
    fields = re.sub(r"\s+", "", header[1].decode()).split(";")
    return dict(field.split("=", 1) for field in fields if field)


@pytest.mark.parametrize("kind", ["rsa", "ed25519", "rsa-pkcs1"])
def test_a_digest_signed_on_the_wire_verifies_at_the_receiver(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setenv(VARIABLE, private_key(kind))
    smtp = signing_smtp(smtp_server.port)
    received = send_digest(smtp, smtp_server)
    key = dkim.load_key(private_key(kind))
    assert received.startswith(b"DKIM-Signature: ")
    assert dkimpy.verify(received, dnsfunc=dns_answer(key.record))
    signature = tags(received)
    assert signature["d"] == "news.example.org" and signature["s"] == "2026"
    assert signature["a"] == ("ed25519-sha256" if kind == "ed25519" else "rsa-sha256")
    assert signature["c"] == "relaxed/relaxed"
    signed = signature["h"].split(":")
    for name in ("from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe"):
        assert name in signed
    assert "list-unsubscribe-post" in signed
    assert signed.count("from") == 2  # no second From can be added
    # what the client offered is what arrived: the signed one-click headers
    message = smtp_server.messages[0]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_changed_body_or_header_fails_verification(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIABLE, private_key("rsa"))
    received = send_digest(signing_smtp(smtp_server.port), smtp_server)
    answer = dns_answer(dkim.load_key(private_key("rsa")).record)
    assert dkimpy.verify(received, dnsfunc=answer)
    body = received.replace(b"Harbor Times", b"Harbor Tines", 1)
    assert body != received and not dkimpy.verify(body, dnsfunc=answer)
    link = received.replace(b"https://news.example.org/u/", b"https://evil.example.org/u/", 1)
    assert link != received and not dkimpy.verify(link, dnsfunc=answer)
    added = received.replace(b"\r\nTo: ", b"\r\nFrom: someone@evil.example\r\nTo: ", 1)
    assert not dkimpy.verify(added, dnsfunc=answer)
    other = dkim.load_key(private_key("rsa-pkcs1")).record  # another key's record
    assert not dkimpy.verify(received, dnsfunc=dns_answer(other))


def test_without_links_the_signature_covers_the_mailto_header_alone(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIABLE, private_key("rsa"))
    received = send_digest(signing_smtp(smtp_server.port), smtp_server, with_links=False)
    assert dkimpy.verify(received, dnsfunc=dns_answer(dkim.load_key(private_key("rsa")).record))
    signed = tags(received)["h"].split(":")
    assert "list-unsubscribe" in signed and "list-unsubscribe-post" not in signed


def test_without_dkim_keys_nothing_is_signed(smtp_server: SmtpServer) -> None:
    smtp = config.parse(
        {"smtp": {"host": "127.0.0.1", "port": smtp_server.port, "security": "none"}},
        Path("broadsheet.toml"),
    ).smtp
    assert b"DKIM-Signature" not in send_digest(smtp, smtp_server)


@pytest.mark.parametrize("kind", ["rsa", "ed25519", "rsa-pkcs1"])
def test_the_dns_record_holds_the_public_key_openssl_derives(kind: str) -> None:
    key = dkim.load_key(private_key(kind))
    record = dict(part.strip().split("=", 1) for part in key.record.split(";"))
    assert record["v"] == "DKIM1" and record["k"] == kind.split("-")[0]
    published = base64.b64decode(record["p"])
    openssl = public_der(private_key(kind))
    assert published == (openssl[-32:] if kind == "ed25519" else openssl)


def test_a_key_pasted_with_escaped_newlines_loads() -> None:
    pem = private_key("rsa")
    assert dkim.load_key(pem.replace("\n", "\\n")) == dkim.load_key(pem)
    assert dkim.load_key(pem.replace("\n", "\r\n")) == dkim.load_key(pem)


def test_a_key_gone_from_the_environment_stops_the_send_before_connecting(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIABLE, private_key("rsa"))
    smtp = signing_smtp(smtp_server.port)
    monkeypatch.delenv(VARIABLE)
    with pytest.raises(dkim.DkimError, match=r"\$TEST_DKIM_KEY is not set; make a key with"):
        send_digest(smtp, smtp_server)
    assert not smtp_server.sink.envelopes


# The config check, through `broadsheet check` -------------------------------------------------


def check_config(tmp_path: Path, **smtp: str) -> tuple[int, str, str]:
    """`broadsheet check` on a config with one e-mail subscriber and these [smtp] keys."""
    lines = ["[smtp]", 'from = "The Desk <desk@news.example.org>"']
    lines += [f'{key} = "{value}"' for key, value in smtp.items()]
    lines += ["[[feeds]]", 'url = "https://wire.example/feed"']
    lines += ["[[subscribers]]", 'email = "ann@example.org"']
    path = tmp_path / "broadsheet.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cli(path, "check")


DKIM = {"dkim_domain": "news.example.org", "dkim_selector": "2026", "dkim_key_env": VARIABLE}


def test_check_prints_the_signer_and_the_dns_record_to_publish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIABLE, private_key("rsa"))
    code, out, err = check_config(tmp_path, **DKIM)
    assert code == 0, out + err
    record = dkim.load_key(private_key("rsa")).record
    assert "  dkim         signs as news.example.org, selector 2026 (rsa key, 2048 bits)" in out
    assert f"DNS TXT 2026._domainkey.news.example.org: {record}\n" in out
    assert "warning" not in err
    assert private_key("rsa").splitlines()[1] not in out + err  # the private key never shows


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"dkim_domain": "news.example.org"}, "dkim_selector, dkim_key_env"),
        ({"dkim_selector": "2026", "dkim_key_env": VARIABLE}, "dkim_domain"),
    ],
)
def test_dkim_keys_come_all_three_or_none(
    tmp_path: Path, given: dict[str, str], missing: str
) -> None:
    code, _, err = check_config(tmp_path, **given)
    assert code == 2
    assert "DKIM signing needs dkim_domain, dkim_selector and dkim_key_env together" in err
    assert f"missing: {missing}" in err


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, r"\$TEST_DKIM_KEY is not set"),
        ("not a key", "expected a PEM private key"),
        ("rsa-512", "the RSA key has 512 bits; receivers ignore keys under 1024 bits"),
        ("ec", "expected an RSA or Ed25519 private key"),
        ("cut", "expected an RSA or Ed25519 private key|not valid base64"),
        ("encrypted", "protected by a passphrase"),
    ],
)
def test_a_missing_or_unusable_key_is_a_config_error_saying_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None, says: str
) -> None:
    pem = private_key("rsa")
    made = {
        "rsa-512": private_key("rsa-512"),
        "ec": private_key("ec"),
        "cut": pem[: len(pem) // 2] + pem[-30:],
        "encrypted": "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0w\n"
        "-----END ENCRYPTED PRIVATE KEY-----\n",
    }.get(value or "", value)
    if made is None:
        monkeypatch.delenv(VARIABLE, raising=False)
    else:
        monkeypatch.setenv(VARIABLE, made)
    code, _, err = check_config(tmp_path, **DKIM)
    assert code == 2
    flat = " ".join(err.split())
    assert re.search(says, flat), flat
    assert "smtp.dkim_key_env" in flat
    # what to do: make a key, put it in the variable, publish the record
    assert "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048" in flat
    assert 'export TEST_DKIM_KEY="$(cat dkim.pem)"' in flat
    assert "DNS TXT record 2026._domainkey.news.example.org" in flat


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("dkim_domain", "not a domain", "expected the signing domain"),
        ("dkim_selector", "mail;x", "expected a DNS name"),
        ("dkim_key_env", "NOT-A-NAME", "expected the name of an environment variable"),
    ],
)
def test_bad_dkim_names_are_config_errors(key: str, value: str, says: str) -> None:
    table = {**DKIM, key: value}
    with pytest.raises(ConfigError, match=f"smtp.{key}: {says}"):
        config.parse({"smtp": table}, Path("broadsheet.toml"))


def test_check_warns_when_the_signature_would_not_align_or_be_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIABLE, private_key("ed25519"))
    code, _, err = check_config(tmp_path, **(DKIM | {"dkim_domain": "elsewhere.example"}))
    assert code == 0
    flat = " ".join(err.split())
    assert "smtp.dkim_domain: elsewhere.example is not the domain of smtp.from" in flat
    assert "holds an Ed25519 key, which many receivers (Gmail among them)" in flat
