"""Reading mail safely and cheaply: the stdlib parser with ``compat32`` (fast, and it does not
raise on malformed headers), guarded header decoding, and text out of any part.

Every function here bounds its work: headers are cut to ``MAX_HEADER`` characters before
decoding (the modern header parser is quadratic on some inputs, so it is never used), text
parts to ``MAX_TEXT`` characters, nesting to ``MAX_DEPTH``.
"""

from __future__ import annotations

import codecs
import email
import re
from collections.abc import Iterator
from email.header import decode_header
from email.message import Message
from email.policy import Compat32, compat32
from email.utils import getaddresses

from optout.recognise import html, smime

MAX_HEADER = 2000
MAX_TEXT = 256 * 1024  # a notice is a few hundred bytes; a forward of one, a few KB
MAX_DEPTH = 30

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_ANGLED = re.compile(r"<([\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8})>")
_SIMPLE_FROM = re.compile(r'[^<>"@,;:\\]*<([\w.+-]+@[\w-]+(?:\.[\w-]+)+)>\s*')
# The lookbehind makes a search start only where a run of address characters starts, so a long
# run with no @ in it costs one pass, not one pass per character (which is quadratic).
_ADDRESS = re.compile(r"(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}",
                      re.UNICODE)


class _Raw8Bit(Compat32):
    """compat32, except that a header with 8-bit bytes comes back as the text it was (its bytes
    kept as surrogates) rather than a ``Header`` that prints them as "\ufffd": ``header``
    reads them as UTF-8 (RFC 6532), as mail readers do."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


POLICY = _Raw8Bit()


def load(raw: bytes) -> Message:
    """Parse bytes into a message tree without ever raising on bad headers.

    A single-part message (most notices) skips the line-by-line body parse: its headers are
    parsed alone and the body set as the payload, just as the full parser would have set it.
    An opaque S/MIME signed message is read as the message it signs (``smime.unwrap``).
    """
    split = _HEADER_END.search(raw, 0, 256 * 1024)
    if split:
        head = email.message_from_bytes(raw[: split.end()], policy=POLICY)
        content_type = str(head.get("Content-Type", "")).lower()
        if "multipart/" not in content_type and "message/" not in content_type and not head.defects:
            if "pkcs7-mime" in content_type and (inner := smime.unwrap(raw, split.end())) is not None:
                return load(inner)
            head.set_payload(raw[split.end() :].decode("ascii", "surrogateescape"))
            return head
    return email.message_from_bytes(raw, policy=POLICY)


def decoded(value: str) -> str:
    """Header text with 8-bit bytes (kept as surrogates by the parser) read as UTF-8, or as
    Windows-1252 where they are not UTF-8, as mail readers fall back."""
    if value.isascii() or not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def header(msg: Message, name: str) -> str:
    """One header as text: RFC 2047 words decoded, raw UTF-8 read, folding removed, bounded."""
    value = msg.get(name)
    if value is None:
        return ""
    text = decoded(str(value)[:MAX_HEADER])
    try:
        parts = decode_header(text)
    except Exception:  # a malformed encoded word: keep the text as it came
        return _unfold(text)
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            out.append(_decode(chunk, charset))
        else:
            out.append(chunk)
    return _unfold("".join(out))


def _unfold(text: str) -> str:
    return " ".join(text.split())  # folding and runs of white space alike become one space


def address(value: str) -> str | None:
    """The address in a From/To value (``Name <a@b>``, ``[mailto:a@b]`` or bare), lowercased."""
    simple = _SIMPLE_FROM.fullmatch(value)  # the usual `Name <a@b>` without getaddresses' cost
    if simple:
        return simple[1].lower()
    try:
        pairs = getaddresses([value])
    except Exception:
        pairs = []
    for _, addr in pairs:
        if "@" in addr and _ADDRESS.fullmatch(addr):
            return addr.lower()
    # What getaddresses cannot read (and Python 3.11's patch releases read differently): the
    # first address in angle brackets, else the last address written.
    angled = _ANGLED.search(value)
    if angled:
        return angled[1].lower()
    found = _ADDRESS.findall(value)
    return found[-1].lower() if found else None


def addresses(value: str) -> list[str]:
    return [a.lower() for a in _ADDRESS.findall(value)]


# Mail clients label text with a charset whose superset they really wrote (GBK bytes labelled
# gb2312, Windows' Japanese and Korean extensions labelled shift_jis and euc-kr, HKSCS in big5):
# decode with the superset, which reads the labelled charset's bytes the same way.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030",
              "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
              "euc-kr": "cp949", "ks_c_5601-1987": "cp949", "big5": "big5hkscs", "iso-2022-jp": "iso2022_jp_ext",
              "iso-8859-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252"}


def _decode(data: bytes, charset: str | None) -> str:
    name = (charset or "utf-8").strip().strip('"').lower() or "utf-8"
    name = _SUPERSETS.get(name, name)
    try:
        codecs.lookup(name)
    except LookupError:
        name = "utf-8"
    try:
        return data.decode(name)
    except (UnicodeError, LookupError):  # UnicodeError: Python's "undefined" codec refuses everything
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("cp1252", errors="replace")


def part_text(part: Message) -> str:
    """A text part's content as str with ``\\n`` line ends (HTML turned to plain text)."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if not isinstance(data, bytes):
        payload = part.get_payload()
        data = payload.encode("utf-8", "replace") if isinstance(payload, str) else b""
    text = _decode(data[: MAX_TEXT * 4], part.get_content_charset())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return text[:MAX_TEXT]


def html_to_text(markup: str) -> str:
    return html.to_text(markup)


def texts(msg: Message, depth: int = 0) -> Iterator[tuple[str, Message]]:
    """(content subtype, part) for the text parts of this message, not of attached messages."""
    if depth > MAX_DEPTH:
        return
    if msg.is_multipart():
        payload = msg.get_payload()
        if isinstance(payload, list) and msg.get_content_type() != "message/rfc822":
            for sub in payload:
                if isinstance(sub, Message):
                    yield from texts(sub, depth + 1)
        return
    if msg.get_content_maintype() == "text" and not _is_attachment(msg):
        yield msg.get_content_subtype(), msg


def _text_parts(msg: Message) -> tuple[list[Message], list[Message]]:
    """The message's own plain and HTML parts (not its attachments'), in order."""
    plain: list[Message] = []
    markup: list[Message] = []
    for subtype, part in texts(msg):
        if subtype == "plain":
            plain.append(part)
        elif subtype == "html":
            markup.append(part)
    return plain, markup


def html_text(msg: Message) -> str:
    """The HTML alternative's text where the body read was the plain one ("" otherwise): some
    clients write the forwarded header block into the HTML part alone."""
    plain, markup = _text_parts(msg)
    if not plain or not markup:
        return ""
    return "\n".join(part_text(part) for part in markup)[:MAX_TEXT]


def body_text(msg: Message) -> str:
    """The readable body: the plain parts, or the HTML parts where there is no plain one (only
    the parts read are decoded)."""
    plain, markup = _text_parts(msg)
    return "\n".join(part_text(part) for part in (plain or markup))[:MAX_TEXT]


def attached_texts(msg: Message) -> Iterator[str]:
    """The text of plain-text files attached to this message (a notice saved as ``.txt``)."""
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and _is_attachment(part):
            yield part_text(part)


def attached_messages(msg: Message, depth: int = 0) -> Iterator[Message]:
    """Messages attached to this one (``message/rfc822``, or an ``.eml`` file), outermost first."""
    if depth > MAX_DEPTH or not msg.is_multipart():
        return
    for sub in msg.get_payload():
        if not isinstance(sub, Message):
            continue
        if sub.get_content_type() == "message/rfc822":
            inner = sub.get_payload()
            for item in inner if isinstance(inner, list) else []:
                if isinstance(item, Message):
                    yield item
        elif _is_eml_file(sub):
            data = sub.get_payload(decode=True)
            if isinstance(data, bytes) and data:
                yield load(data)
        elif _is_signed_data(sub):
            data = sub.get_payload(decode=True)
            inner = smime.content(data) if isinstance(data, bytes) else None
            if inner is not None:
                yield load(inner)
        elif sub.is_multipart():
            yield from attached_messages(sub, depth + 1)


def _is_attachment(part: Message) -> bool:
    return str(part.get("Content-Disposition", "")).lower().startswith("attachment")


def _is_eml_file(part: Message) -> bool:
    """An attached mail as a file: ``.eml`` by name (Outlook, Thunderbird and webmails send it as
    ``message/rfc822``, ``application/octet-stream`` or ``text/plain``)."""
    name = (part.get_filename() or "") if not part.is_multipart() else ""
    return isinstance(name, str) and name.lower().endswith(".eml")


def _is_signed_data(part: Message) -> bool:
    return "pkcs7-mime" in part.get_content_type() and "enveloped" not in str(part.get("Content-Type", "")).lower()


def as_bytes(msg: Message) -> bytes | None:
    """The bytes of an attached message, for DKIM; None if it cannot be written back."""
    try:
        return msg.as_bytes(policy=compat32.clone(linesep="\r\n"))
    except Exception:
        return None
