"""Wordings the operator taught at run time (``optout wordings learn``, the overview's button):
a notice in a language ``phrases.toml`` lacks, or a changed English one, and look-alikes to keep
out. Recognition stays pure: the taught wordings are handed to it (``use``) by whoever reads
them from the database (the listener's worker every few seconds, a command once).

A wording is the *signature* of a sample: the sentence around its order ID, normalised (lower
case, white space collapsed) and masked (the order ID as ``###``, addresses as ``@``, other
numbers as ``#``), so that every notice of that wording, whatever its order, buyer, date or
name, has the same signature. Messages in quarantine with the same signature form one group.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from optout.identifiers import ORDER_ID

SLOT = "###"
_ADDRESS = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
_NUMBER = re.compile(r"\d+")
_SENTENCE_END = re.compile(r"[.!?:](?:\s|$)|[。！？：]")
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_REACH = 300  # characters either side of the order ID a sentence may span


@dataclass(frozen=True, slots=True)
class Taught:
    id: int
    language: str
    kind: str  # "notice" or "lookalike"
    sentence: str  # a signature, with SLOT where the order ID stands


_TAUGHT: tuple[Taught, ...] = ()


def use(taught: tuple[Taught, ...]) -> None:
    """The wordings recognition matches from now on (replacing the ones before)."""
    global _TAUGHT
    _TAUGHT = taught


def current() -> tuple[Taught, ...]:
    return _TAUGHT


def mask(flat: str) -> str:
    """Order IDs as ###, addresses as @, other numbers as #."""
    text = ORDER_ID.sub(SLOT, flat)
    text = _ADDRESS.sub("@", text)
    return _NUMBER.sub("#", text)


def signature(text: str) -> str | None:
    """The masked sentence around the text's first order ID, or None without one. ``text`` is
    lower-cased and unquoted but keeps its line breaks: the sentence is sought within the
    paragraph holding the ID, so a greeting on a line of its own ("Estimado vendedor Ana:") and a
    signature stay out of it, as names should."""
    found = ORDER_ID.search(text)
    if found is None:
        return None
    breaks = [m.end() for m in _PARAGRAPH.finditer(text, 0, found.start())]
    para_end = _PARAGRAPH.search(text, found.end())
    paragraph = text[breaks[-1] if breaks else 0:para_end.start() if para_end else len(text)]
    flat = " ".join(paragraph.split())
    at = ORDER_ID.search(flat)
    assert at is not None  # the paragraph holds it
    lo = max(0, at.start() - _REACH)
    ends = [m.end() for m in _SENTENCE_END.finditer(flat, lo, at.start())]
    start = ends[-1] if ends else lo
    after = _SENTENCE_END.search(flat, at.end(), at.end() + _REACH)
    end = after.end() if after else min(len(flat), at.end() + _REACH)
    return mask(flat[start:end]).strip()


def group_key(sentence: str) -> str:
    """A short stable name for a group of messages sharing a signature."""
    return hashlib.sha256(sentence.encode()).hexdigest()[:12]


def match(flat: str, kind: str) -> Taught | None:
    """The first live taught wording of ``kind`` whose sentence stands in ``flat``."""
    wanted = [t for t in _TAUGHT if t.kind == kind]
    if not wanted:
        return None
    masked = mask(flat)
    return next((t for t in wanted if t.sentence in masked), None)
