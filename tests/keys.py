"""DKIM private keys for the tests, made by openssl exactly as the README tells an admin to."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache

import pytest

OPENSSL = shutil.which("openssl")
COMMANDS = {
    "rsa": ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "ed25519": ["genpkey", "-algorithm", "ed25519"],
    "rsa-512": ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:512"],
    "ec": ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "rsa-pkcs1": ["genrsa", "-traditional", "2048"],
}


@cache
def private_key(kind: str = "rsa") -> str:
    """A new PEM private key of ``kind`` (see COMMANDS), the same one for the whole session."""
    if OPENSSL is None:
        pytest.skip("openssl is not installed (Debian: apt-get install openssl)")
    made = subprocess.run(
        [OPENSSL, *COMMANDS[kind]], capture_output=True, text=True, check=True, timeout=120
    )
    return made.stdout


def public_der(pem: str) -> bytes:
    """The public half of ``pem`` as openssl writes it (DER SubjectPublicKeyInfo)."""
    assert OPENSSL is not None
    made = subprocess.run(
        [OPENSSL, "pkey", "-pubout", "-outform", "DER"],
        input=pem.encode(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    return made.stdout
