"""Inline forwards: the header block a mail client writes above a forwarded message.

Gmail, Outlook (desktop, new, web), Apple Mail, Thunderbird and Yahoo all write a block of
``Label: value`` lines (From, To, Subject, Date/Sent, in the interface's language, in varying
order, sometimes with ``*bold*`` labels, ``>`` quoting or a space before the colon). A block is
two or more such lines together, one of them a From line; its *section* is the text that
follows, up to the next block. A forward of a forward gives several blocks, outermost first.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from optout.recognise import mime

_DATA = tomllib.loads((Path(__file__).with_name("phrases.toml")).read_text(encoding="utf-8"))
_LABELS = {role: labels for role, labels in _DATA["forward"].items()}
_ROLE_OF = {label: role for role, labels in _LABELS.items() for label in labels}
_ALL = sorted(_ROLE_OF, key=len, reverse=True)
_LABEL_LINE = re.compile(
    r"^[ \t]*[*_]{0,2}(" + "|".join(re.escape(label) for label in _ALL) + r")[*_]{0,2}[ \t\u00a0]*[:：][*_]{0,2}[ \t]*(.*)$",
    re.IGNORECASE | re.MULTILINE,
)
_QUOTE = re.compile(r"^(?:[ \t]*>)+[ \t]?", re.MULTILINE)
MAX_BLOCKS = 20


@dataclass(slots=True)
class Section:
    """One forwarded message found inline: who sent it, to whom, about what, and its text."""

    sender: str | None
    sender_line: str
    to: list[str]
    subject: str
    text: str


def unquote(text: str) -> str:
    """Text with ``>`` quote markers removed from the start of every line."""
    return _QUOTE.sub("", text)


def sections(text: str) -> list[Section]:
    """The forwarded messages written inline in ``text``, outermost first."""
    text = unquote(text)
    blocks = _blocks(text)
    found = []
    for index, (_start, end, fields) in enumerate(blocks):
        stop = blocks[index + 1][0] if index + 1 < len(blocks) else len(text)
        sender_line = fields.get("from", "")
        found.append(Section(
            sender=mime.address(sender_line) if sender_line else None,
            sender_line=sender_line,
            to=mime.addresses(fields.get("to", "")),
            subject=fields.get("subject", ""),
            text=text[end:stop],
        ))
    return found


def _blocks(text: str) -> list[tuple[int, int, dict[str, str]]]:
    """(start, end, {role: value}) for each run of label lines that has a From line."""
    blocks: list[tuple[int, int, dict[str, str]]] = []
    run: list[re.Match[str]] = []
    for match in _LABEL_LINE.finditer(text):
        if run and not _adjacent(text, run[-1].end(), match.start()):
            _close(run, blocks)
            run = []
        run.append(match)
        if len(blocks) >= MAX_BLOCKS:
            break
    _close(run, blocks)
    return blocks


def _adjacent(text: str, end: int, start: int) -> bool:
    """Label lines belong together when at most one blank line (and no other text) lies between."""
    gap = text[end:start]
    return not gap.strip() and gap.count("\n") <= 2


def _close(run: list[re.Match[str]], blocks: list[tuple[int, int, dict[str, str]]]) -> None:
    fields: dict[str, str] = {}
    for match in run:
        role = _ROLE_OF[match[1].lower()]
        fields.setdefault(role, match[2].strip())
    if len(run) >= 2 and "from" in fields:
        blocks.append((run[0].start(), run[-1].end(), fields))
