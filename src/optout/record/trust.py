"""Whether a notice is genuinely Amazon's: DKIM verification with dkimpy, keys from a pinned-keys
file first and DNS second (short timeout, cached), and the policy that decides what lists a buyer.

Verdicts: ``pass`` (some signature verified and its d= is Amazon's: ``amazon.<tld>`` or a
subdomain, or ``amazonses.com`` beside an Amazon ``From:``), ``fail`` (signatures present, none
of them a verified Amazon one), ``none`` (nothing signed to check, as with inline forwards).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optout.errors import OptoutError
from optout.recognise import notice
from optout.recognise.result import NOTICE, Result
from optout.record.ingest import Inbound, Item, Policy

if TYPE_CHECKING:
    from optout.config import Settings

log = logging.getLogger("optout.record.trust")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_SIGNATURE = re.compile(rb"^dkim-signature:", re.I | re.M)
DkimResult = tuple[str, str | None]
_MAX_SIGNATURES = 10


def policy(cfg: Settings) -> Policy:
    return Policy(require_dkim=cfg.trust == "dkim", daily_limit=cfg.daily_new_entries_limit)


def load_pinned(path: Path | None) -> dict[bytes, bytes]:
    """``selector._domainkey.domain`` -> TXT record, from a file of ``name record`` lines."""
    if path is None:
        return {}
    keys: dict[bytes, bytes] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise OptoutError(f"cannot read DKIM keys file {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, record = line.partition(" ")
        if not record.strip():
            raise OptoutError(f"{path} line {number}: expected 'selector._domainkey.domain TXT'")
        keys[name.lower().rstrip(".").encode()] = record.strip().strip('"').encode()
    return keys


class Verifier:
    """Checks notices' DKIM signatures; one per process, its key cache shared by all checks."""

    def __init__(self, cfg: Settings) -> None:
        self.pinned = load_pinned(cfg.dkim_keys_file)
        self.timeout = cfg.dns_timeout
        self.cache: dict[bytes, bytes | None] = {}

    def check(self, result: Result) -> DkimResult:
        if result.kind != NOTICE or not result.signed_bytes:
            return "none", None
        return self.verify(result.signed_bytes, sender=result.sender)

    def checks(self, result: Result) -> tuple[DkimResult, ...]:
        """The DKIM verdict of each notice the message carries (one, "none", for anything else)."""
        return (self.check(result), *(self.check(more) for more in result.more))

    def item(self, inbound: Inbound, result: Result) -> Item:
        """A message ready to apply, each of its notices' signatures checked."""
        first, *more = self.checks(result)
        return Item(inbound, result, first, tuple(more))

    def verify(self, raw: bytes, *, sender: str | None) -> DkimResult:
        end = _HEADER_END.search(raw)
        if not _SIGNATURE.search(raw, 0, end.start() if end else len(raw)):
            return "none", None  # no signature header: spare dkimpy's full parse of the message
        import dkim  # type: ignore[import-untyped]  # dkimpy ships no type information

        try:
            signer = dkim.DKIM(raw, logger=log)
            count = sum(1 for name, _ in signer.headers if name.lower() == b"dkim-signature")
        except Exception:  # unparseable for DKIM: treat as carrying no usable signature
            return "fail", None
        if count == 0:
            return "none", None
        tried: str | None = None
        for index in range(min(count, _MAX_SIGNATURES)):
            domain, ok = self._one(signer, index)
            tried = tried or domain
            if ok and _amazon_signer(domain, sender):
                return "pass", domain
        return "fail", tried

    def _one(self, signer: Any, index: int) -> tuple[str | None, bool]:
        """``signer`` is dkimpy's DKIM object (dkimpy ships no types)."""
        try:
            ok = bool(signer.verify(idx=index, dnsfunc=self._txt))
        except Exception:  # a malformed signature or key, or DNS trouble: this one fails
            ok = False
        domain = getattr(signer, "domain", None)
        return (domain.decode("ascii", "replace").lower() if domain else None), ok

    def _txt(self, name: bytes, timeout: float = 5) -> bytes | None:
        key = name.lower().rstrip(b".")
        if key in self.pinned:
            return self.pinned[key]
        if key not in self.cache:
            self.cache[key] = _dns_txt(key, min(timeout, self.timeout))
        return self.cache[key]


def _dns_txt(name: bytes, timeout: float) -> bytes | None:
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(name.decode(), "TXT", lifetime=timeout, search=False)
    except dns.exception.DNSException:
        return None
    for record in answer:
        return b"".join(record.strings)
    return None


def _amazon_signer(domain: str | None, sender: str | None) -> bool:
    if not domain:
        return False
    if notice.amazon_domain(f"x@{domain}"):
        return True
    return domain == "amazonses.com" and notice.amazon_domain(sender) is not None
