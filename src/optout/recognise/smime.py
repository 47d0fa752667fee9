"""Opaque S/MIME signed mail: the message inside the signature.

A client that signs "opaquely" (``application/pkcs7-mime; smime-type=signed-data``, Outlook's
default in some organisations) sends no readable part at all: the signed MIME entity travels
inside the CMS structure. It is read here without checking the signature (which vouches for the
forwarder, not for Amazon). The CMS is parsed with asn1crypto, which reads the BER that signing
tools write (indefinite lengths, octet strings in chunks) and bounds nothing itself, so the input
is bounded here.
"""

from __future__ import annotations

import base64
import binascii
import re

MAX_DER = 16 * 1024 * 1024
_FIELD = re.compile(rb"^(?=[^ \t\r\n])", re.MULTILINE)  # where each header field starts


def content(der: bytes) -> bytes | None:
    """The content an opaque signed-data structure carries; None if ``der`` is not one."""
    if not der or len(der) > MAX_DER:
        return None
    from asn1crypto import cms  # type: ignore[import-untyped]  # imported here: only S/MIME mail pays for it

    try:
        info = cms.ContentInfo.load(der, strict=False)
        if info["content_type"].native != "signed_data":
            return None
        inner = info["content"]["encap_content_info"]["content"].native
    except Exception:  # not CMS, or damaged: read as the opaque part it is
        return None
    return inner if isinstance(inner, bytes) and inner else None


def unwrap(raw: bytes, body_start: int) -> bytes | None:
    """A whole message whose body is base64 signed-data, as the message it signs: its own
    headers (less their Content-* fields) above the signed entity, which brings its own."""
    try:
        der = base64.b64decode(b"".join(raw[body_start:].split()), validate=False)
    except (binascii.Error, ValueError):
        return None
    inner = content(der)
    if inner is None:
        return None
    head = raw[:body_start].rstrip(b"\r\n")
    fields = [f for f in _FIELD.split(head) if f and not f.lower().startswith((b"content-", b"mime-version"))]
    return b"".join(f if f.endswith(b"\n") else f + b"\r\n" for f in fields) + b"MIME-Version: 1.0\r\n" + inner
