"""DKIM for the tests: key pairs made at import, a signer, and the pinned-keys file that lets
optout verify without DNS (``dkim_keys_file``)."""

from __future__ import annotations

import base64
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _keypair() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"


AMAZON_KEY, AMAZON_TXT = _keypair()
EVIL_KEY, EVIL_TXT = _keypair()


def sign(raw: bytes, *, domain: str = "amazon.com", key: bytes = AMAZON_KEY, selector: str = "s1") -> bytes:
    signature = dkim.sign(raw, selector.encode(), domain.encode(), key,
                          include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    return signature + raw


def pinned(path: Path) -> Path:
    """A keys file pinning amazon.com's and amazonses.com's test key, and evil.example's."""
    path.write_text("# pinned for the tests\n"
                    f"s1._domainkey.amazon.com {AMAZON_TXT}\n"
                    f"s1._domainkey.amazonses.com {AMAZON_TXT}\n"
                    f"s1._domainkey.evil.example {EVIL_TXT}\n")
    return path
