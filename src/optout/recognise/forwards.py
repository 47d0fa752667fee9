"""Inline forwards: finding the forwarded message inside a forward written by hand.

Mail clients write the forwarded message's headers above its text, in the language of their
interface and in many layouts. A block is found by its shape, not by its words:

- a *header block*: two or more ``Label: value`` lines together (a label of one to four words
  in any script, ASCII or full-width colon, optional ``*``/``_`` markup, ``>`` quoting), one of
  whose values holds an address or a date. Yahoo's block written on one line is split first.
- an *attribution line*: ``On …, Amazon <…> wrote:`` and its equivalents (``Le … a écrit :``,
  ``Am … schrieb …:``, ``在 … 写道：``, ``… 님이 작성:``), one line or two.

Who sent the forwarded message is decided by role where the label is known (the catalogue in
``phrases.toml``: From, Von, De, Od, 发件人 …) and by shape where it is not: the first line of
the block whose value holds an address. A From value with a name and no address is kept as the
sender's *name* (some clients write only that for a known contact); ``notice.py`` decides
whether the name is one Amazon uses. Everything here is linear in the text's length.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from optout.recognise import mime

_DATA = tomllib.loads((Path(__file__).with_name("phrases.toml")).read_text(encoding="utf-8"))
_ROLE_OF = {label.lower(): role for role, labels in _DATA["forward"].items() for label in labels}
_WROTE = tuple(sorted((word.lower() for word in _DATA["attribution"]["wrote"]), key=len, reverse=True))
_AMAZON_NAMES: dict[tuple[str, ...], str] = {tuple(name.split()): name for name in _DATA["amazon_names"]["names"]}
# Words an attribution line puts around the name besides the date and the verb.
_FILLER = frozenset({"on", "le", "am", "um", "dne", "den", "op", "il", "el", "em", "in", "at", "a", "à", "de", "o",
                     "w", "dnia", "pe", "kl.", "klo", "tarihinde", "şunu", "ezt", "於", "在", "님이"})

# A label of one to four words in any script (letters, marks, digits after the first), then a
# colon. Bounded repetition only, so each line is looked at a fixed number of times.
# Combining marks are no \w in Python's re, yet Thai, Hindi, Arabic and Hebrew labels carry them
# ("ส่ง", "प्रेषक"): a label's letters after the first may be one.
MARKS = "\u0300-\u036f\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0900-\u0903\u093a-\u094f\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u3099\u309a"
_LABEL_LINE = re.compile(
    rf"^[ \t]{{0,8}}[*_]{{0,2}}(?P<label>[^\W\d_][\w.'’(){MARKS}-]{{0,24}}(?:[ \t][\w.'’(){MARKS}-]{{1,24}}){{0,3}})[*_]{{0,2}}[ \t]{{0,4}}"
    r"[:：][*_]{0,2}[ \t]{0,8}(?P<value>[^\n]{0,2000})$", re.MULTILINE)
_QUOTE = re.compile(r"^(?:[ \t]{0,8}>)+[ \t]?", re.MULTILINE)
_DATE = re.compile(r"\d{1,4}[-/.年]\d{1,2}|\d{1,2}:\d{2}|\b(?:19|20)\d{2}\b")
_ONE_LINE_LABELS = sorted((label for label in _ROLE_OF if len(label) > 1), key=len, reverse=True)
_INLINE_LABEL = re.compile(r"(?<=[>\]\w.])[ \t]{0,4}(" + "|".join(re.escape(label) for label in _ONE_LINE_LABELS)
                           + r")[ \t]{0,2}[:：]", re.IGNORECASE)
# A label written at once after an address's closing ">" (or "]"): split before it, by shape
_LABEL_AFTER_ADDRESS = re.compile(r"(?<=[>\]])[ \t]{0,2}(?=[^\W\d_][\w'’-]{0,24}(?:[ \t][\w'’-]{1,24}){0,2}[ \t]{0,2}[:：])")
_AFTER_SEPARATOR = re.compile(r"^[ \t]{0,8}(?:-{3,}|_{3,}|={3,})[^:：\n]{0,60}?(?:-{3,}|_{3,}|={3,})[ \t]*")
_AFTER_DATE = re.compile(r"^.{0,300}\d(?:[ \t]{0,2}[ap]\.?m\.?)?[ \t]{0,2}(?:\([^)]{0,20}\))?", re.IGNORECASE)
_LINE_ENDS_WITH_COLON = re.compile(r"[:：][ \t]{0,4}$", re.MULTILINE)
MAX_BLOCKS = 20


@dataclass(slots=True)
class Section:
    """One forwarded message found inline: who sent it, to whom, about what, and its text."""

    sender: str | None
    sender_line: str
    to: list[str]
    subject: str
    text: str
    sender_name: str | None = None  # the sender's display name, kept when no address is given
    fields: dict[str, str] = field(default_factory=dict)


def unquote(text: str) -> str:
    """Text with ``>`` quote markers removed from the start of every line."""
    return _QUOTE.sub("", text)


def sections(text: str) -> list[Section]:
    """The forwarded messages written inline in ``text``, outermost first."""
    text = _split_one_line_blocks(unquote(text.replace("\u00a0", " ").replace("\r", "\n")))
    found = _header_blocks(text) + _attributions(text)
    found.sort(key=lambda block: block[0])
    sections_ = []
    for index, (_start, end, fields) in enumerate(found[:MAX_BLOCKS]):
        stop = found[index + 1][0] if index + 1 < len(found) else len(text)
        sections_.append(_section(fields, text[end:stop]))
    return sections_


def _section(fields: dict[str, str], text: str) -> Section:
    sender_line = fields.get("from", "")
    sender = mime.address(sender_line) if sender_line else None
    name = None if sender else _display_name(sender_line)
    return Section(sender=sender, sender_line=sender_line, to=mime.addresses(fields.get("to", "")),
                   subject=fields.get("subject", ""), text=text, sender_name=name, fields=fields)


def _display_name(value: str) -> str | None:
    """``Amazon Seller Central`` from ``"Amazon Seller Central"`` or ``Amazon Seller Central [via …]``."""
    name = value.strip().strip('"').strip("'").strip()
    return name[:80] or None


def _split_one_line_blocks(text: str) -> str:
    """Yahoo (and some webmails) write the whole block on one line, often after the separator:
    ``----- Forwarded Message ----- From: A <a@b>To: …Cc: …Sent: …Subject: …``. Such a line (three
    or more colons and an address) is split after the separator, and before every label that
    follows a closing ``>`` at once (by shape, in any language) or that the catalogue knows.
    (Cheap tests first: most lines have fewer than three colons.)"""
    if text.count(":") + text.count("：") < 3 or "@" not in text:
        return text
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if len(line) > 40 and line.count(":") + line.count("：") >= 3 and "@" in line:
            lines[index] = _split_line(line)
    return "\n".join(lines)


def _split_line(line: str) -> str:
    head = _AFTER_SEPARATOR.match(line)
    start = head.end() if head else 0
    if not _LABEL_LINE.match(line[start:]):  # (its "^" would not match at a start position)
        return line
    first = min(i for i in (line.find(":", start), line.find("：", start)) if i != -1) + 1  # after the first label
    rest = _INLINE_LABEL.sub(lambda m: "\n" + m.group(0).lstrip(), line[first:])
    if rest.count("\n") < 2:  # not a block after all: a line of prose with times or links in it
        rest = _LABEL_AFTER_ADDRESS.sub("\n", line[first:])
    else:
        rest = _LABEL_AFTER_ADDRESS.sub("\n", rest)
    if rest.count("\n") < 2:
        return line
    return (line[:start].rstrip() + "\n" if start else "") + line[start:first] + rest


def _header_blocks(text: str) -> list[tuple[int, int, dict[str, str]]]:
    """(start, end, {role: value}) of each run of two or more label lines with an address or a date."""
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
    if len(run) < 2:
        return
    values = [m["value"] for m in run]
    if not any("@" in v for v in values) and not any(_DATE.search(v) for v in values):
        return  # "Note: …" lines in prose, not a header block
    fields: dict[str, str] = {}
    unknown = []
    for match in run:
        role = _ROLE_OF.get(" ".join(match["label"].lower().split()))
        if role:
            fields.setdefault(role, match["value"].strip())
        else:
            unknown.append(match["value"])
    if "from" not in fields:
        # A label this catalogue does not know: by shape, the first such line with an address.
        # (Known To and Subject lines alone, as in a quoted original, are no sender at all.)
        fields["from"] = next((v.strip() for v in unknown if "@" in v and mime.address(v)), "")
    if fields["from"]:
        blocks.append((run[0].start(), run[-1].end(), fields))


def _attributions(text: str) -> list[tuple[int, int, dict[str, str]]]:
    """Reply-style attribution lines (``On …, Amazon <…> wrote:``): the sender, then the text."""
    found: list[tuple[int, int, dict[str, str]]] = []
    for end in _LINE_ENDS_WITH_COLON.finditer(text):
        colon = end.start()
        start = text.rfind("\n", 0, max(0, text.rfind("\n", 0, colon))) + 1  # this line and the one before
        line = " ".join(text[start:colon].split())  # a verb re-wrapped across lines ("a\nécrit")
        if len(line) < 400 and any(word in line.lower() for word in _WROTE):
            who = _attributed(line)
            if who:
                found.append((start, end.end(), {"from": who}))
                if len(found) >= MAX_BLOCKS:
                    break
    return found


def _attributed(line: str) -> str | None:
    """Who an attribution line names: ``Name <address>``, an address, or a name before the verb."""
    flat = " ".join(line.split())
    address = mime.address(flat)
    if address:
        angle = flat.find("<")
        before = flat[:angle] if angle != -1 else ""
        name = before.rsplit(",", 1)[-1].strip() if before else ""
        return f"{name} <{address}>" if name else address
    known = _known_name(flat)
    if known:
        return known
    for word in _WROTE:  # any other name: the words between the date and the verb
        at = flat.lower().find(word)
        if at >= 0:
            name = _AFTER_DATE.sub("", flat[:at].replace("，", ",")).rstrip(" ,").rsplit(",", 1)[-1].strip()
            # "Am 3.3.2026 um 09:14 schrieb Amazon Seller Central:": the name after the verb
            return name or flat[at + len(word):].strip(" :：") or None
    return None


def _known_name(flat: str) -> str | None:
    """A display name Amazon uses, standing alone in an attribution line: between the date, the
    verb and filler words, not inside another name ("Pat Buyer - Amazon Marketplace" is not)."""
    lowered = flat.lower()
    verb = next((w for w in _WROTE if w in lowered), None)
    if verb is None:
        return None
    at = lowered.find(verb)
    for segment in (lowered[:at], lowered[at + len(verb):]):
        words = segment.replace("，", " ").replace(",", " ").replace(":", " ").replace("：", " ").split()
        for start in range(len(words)):
            for size in (4, 3, 2, 1):
                name = _AMAZON_NAMES.get(tuple(words[start:start + size]))
                if name and _alone(words, start, start + size):
                    return name
    return None


def _alone(words: list[str], start: int, end: int) -> bool:
    """Are the words just before and after ``words[start:end]`` a date, filler, or nothing?"""
    around = [words[i] for i in (start - 1, end) if 0 <= i < len(words)]
    return all(any(ch.isdigit() for ch in w) or w in _FILLER or w.startswith("(") for w in around)
