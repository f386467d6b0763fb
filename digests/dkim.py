"""DKIM signatures on digests (RFC 6376), made with dkimpy: the only module that imports it.

The key is a PEM private key held in the environment variable ``[smtp] dkim_key_env`` names:
RSA (PKCS#1 or PKCS#8, as ``openssl genpkey`` writes it) or Ed25519 (PKCS#8, RFC 8463). It is
read, checked and turned into what dkimpy takes by ``load_key``, which also gives the public
half as the DNS TXT record to publish at ``SELECTOR._domainkey.DOMAIN``.

``sign`` signs the bytes exactly as they go on the wire (the SMTP client serialises the message
once and sends those bytes), so no later folding or re-encoding can break the signature; the
DKIM-Signature header is prepended to them. Canonicalisation is relaxed/relaxed, which survives
the whitespace changes relays are allowed to make.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from functools import lru_cache

import dkim
from dkim import crypto

from digests.settings import SmtpSettings
from ingest.errors import DeliveryError

MIN_RSA_BITS = 1024  # receivers (and dkimpy) ignore shorter keys; 2048 is what to make
GENERATE = "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out dkim.pem"
# Headers the signature covers when the message has them; From is signed once more than it
# occurs so that no second From can be added (RFC 6376 8.15).
SIGNED = (
    "from",
    "to",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "auto-submitted",
    "precedence",
    "mime-version",
    "content-type",
)
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)
_RSA_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1 rsaEncryption
_ED25519_OID = bytes.fromhex("2b6570")  # 1.3.101.112


class DkimError(DeliveryError):
    """The digest could not be signed: the key in the environment is missing or unusable."""


@dataclass(frozen=True)
class Key:
    """A private key as dkimpy takes it, with its public half."""

    algorithm: str  # "rsa" | "ed25519"
    bits: int
    private: bytes  # PEM for RSA; the base64 seed for Ed25519
    public: bytes  # DER SubjectPublicKeyInfo for RSA; the raw 32 bytes for Ed25519

    @property
    def record(self) -> str:
        """The DNS TXT record that publishes the public key."""
        return f"v=DKIM1; k={self.algorithm}; p={base64.b64encode(self.public).decode()}"

    @property
    def signature_algorithm(self) -> bytes:
        """The a= tag: rsa-sha256 or ed25519-sha256."""
        return f"{self.algorithm}-sha256".encode()


def record_name(smtp: SmtpSettings) -> str:
    """Where the public key is published: ``SELECTOR._domainkey.DOMAIN``."""
    return f"{smtp.dkim_selector}._domainkey.{smtp.dkim_domain}"


def how_to(smtp: SmtpSettings) -> str:
    """What to do to get a key: make one, put it in the variable, publish its public half."""
    variable = smtp.dkim_key_env or "BROADSHEET_DKIM_KEY"
    return (
        f'make a key with `{GENERATE}`, then `export {variable}="$(cat dkim.pem)"`, and '
        f"publish its public half as the DNS TXT record {record_name(smtp)} (`broadsheet "
        "check` prints the record once the key loads)"
    )


@lru_cache(maxsize=4)
def load_key(pem: str) -> Key:
    """The key in ``pem``; ValueError saying what is wrong (the key itself is never quoted)."""
    text = pem.strip().replace("\\n", "\n").replace("\r", "")  # as .env files often hold it
    match = _PEM.search(text)
    if match is None:
        raise ValueError('expected a PEM private key ("-----BEGIN PRIVATE KEY-----" ...)')
    label, body = match[1], match[2]
    if "ENCRYPTED" in label or "ENCRYPTED" in body:
        raise ValueError(
            "the key is protected by a passphrase; write it out without one "
            "(`openssl pkey -in dkim.pem -out plain.pem`)"
        )
    if label not in ("PRIVATE KEY", "RSA PRIVATE KEY"):
        raise ValueError(f'expected an RSA or Ed25519 private key in PEM, got "{label}"')
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the PEM body is not valid base64 (was it cut or re-wrapped?)") from None
    if label == "PRIVATE KEY" and _algorithm(der) == _ED25519_OID:
        key = _ed25519(der)
    else:
        key = _rsa(label, der)
    _self_check(key)
    return key


def sign(payload: bytes, smtp: SmtpSettings) -> bytes:
    """``payload`` (a message as sent, CRLF lines) with a DKIM-Signature; as is when DKIM is off."""
    if not smtp.dkim_domain:
        return payload
    try:
        key = load_key(smtp.dkim_key)
    except ValueError as exc:
        state = f"holds no usable key ({exc})" if smtp.dkim_key else "is not set"
        raise DkimError(
            f"cannot sign the digest with DKIM: ${smtp.dkim_key_env} {state}; {how_to(smtp)}"
        ) from None
    return _signature(payload, smtp.dkim_selector, smtp.dkim_domain, key) + payload


def _signature(payload: bytes, selector: str, domain: str, key: Key) -> bytes:
    head = payload.split(b"\r\n\r\n", 1)[0]
    present = {
        line.split(b":", 1)[0].strip().lower().decode("ascii", "replace")
        for line in head.split(b"\r\n")
        if line and not line[:1].isspace()
    }
    names = [name for name in SIGNED if name in present] + ["from"]
    try:
        return bytes(
            dkim.sign(
                payload,
                selector.encode("ascii"),
                domain.encode("ascii"),
                key.private,
                canonicalize=(b"relaxed", b"relaxed"),
                signature_algorithm=key.signature_algorithm,
                include_headers=[name.encode("ascii") for name in names],
                linesep=b"\r\n",
            )
        )
    except dkim.DKIMException as exc:
        raise DkimError(f"cannot sign the digest with DKIM: {exc}") from exc


def _self_check(key: Key) -> None:
    """Sign a small message and verify it against the public half: the key really works."""
    message = b"From: check@example.org\r\nSubject: check\r\n\r\nBroadsheet\r\n"
    try:
        signed = _signature(message, "check", "example.org", key) + message
    except DkimError as exc:
        raise ValueError(f"the key cannot sign ({exc.__cause__ or exc})") from None
    record = key.record.encode()
    if not dkim.verify(signed, dnsfunc=lambda name, timeout=5: record):
        raise ValueError("the key's signature does not verify (a damaged key?)")


def _rsa(label: str, der: bytes) -> Key:
    pem = f"-----BEGIN {label}-----\n{base64.encodebytes(der).decode()}-----END {label}-----\n"
    try:
        numbers = crypto.parse_pem_private_key(pem.encode())
    except crypto.UnparsableKeyError:
        raise ValueError(
            "expected an RSA or Ed25519 private key; this one cannot be read"
        ) from None
    modulus, exponent = numbers["modulus"], numbers["publicExponent"]
    if modulus.bit_length() < MIN_RSA_BITS:
        raise ValueError(
            f"the RSA key has {modulus.bit_length()} bits; receivers ignore keys under "
            f"{MIN_RSA_BITS} bits"
        )
    algorithm = _der(0x30, _der(0x06, _RSA_OID) + _der(0x05, b""))
    public = _der(0x30, _integer(modulus) + _integer(exponent))
    info = _der(0x30, algorithm + _der(0x03, b"\0" + public))
    return Key("rsa", modulus.bit_length(), pem.encode(), info)


def _ed25519(der: bytes) -> Key:
    try:
        import nacl.signing
    except ImportError:  # pragma: no cover - PyNaCl is a dependency
        raise ValueError("Ed25519 keys need PyNaCl (pip install pynacl); or use RSA") from None
    octets = _children(der)[2]
    tag, seed, _ = _read(octets[1], 0)
    if octets[0] != 0x04 or tag != 0x04 or len(seed) != 32:
        raise ValueError("the Ed25519 key is damaged (expected a 32-byte private key)")
    public = bytes(nacl.signing.SigningKey(seed).verify_key)
    return Key("ed25519", 256, base64.b64encode(seed), public)


def _algorithm(der: bytes) -> bytes | None:
    """The algorithm OID of a PKCS#8 key (None when ``der`` is not one)."""
    try:
        kind, algorithm = _children(der)[1]
        tag, oid, _ = _read(algorithm, 0)
    except (IndexError, ValueError):
        return None
    return oid if kind == 0x30 and tag == 0x06 else None


def _children(der: bytes) -> list[tuple[int, bytes]]:
    """The (tag, body) items inside the DER SEQUENCE ``der``."""
    tag, body, _ = _read(der, 0)
    if tag != 0x30:
        raise ValueError("not a DER sequence")
    items, at = [], 0
    while at < len(body):
        tag, value, at = _read(body, at)
        items.append((tag, value))
    return items


def _read(data: bytes, at: int) -> tuple[int, bytes, int]:
    """One DER item at ``at``: its tag, its body and where the next one starts."""
    tag, length, at = data[at], data[at + 1], at + 2
    if length & 0x80:
        count = length & 0x7F
        length, at = int.from_bytes(data[at : at + count], "big"), at + count
    body = data[at : at + length]
    if len(body) != length:
        raise ValueError("truncated DER")
    return tag, body, at + length


def _length(body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([size]) + body
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _length(body)


def _integer(number: int) -> bytes:
    return _der(0x02, number.to_bytes(number.bit_length() // 8 + 1, "big"))
