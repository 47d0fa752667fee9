"""Hand forwards as mail clients write them, generated from the facts of each layout: which
labels in which order, in the interface's language, the separator line, the attribution line,
Yahoo's one-line block, HTML with bold labels and ``&nbsp;``, and the encodings those clients
send. Used by the tests (each client × language a positive case and a buyer's-message twin)
and by scripts/bench_parse.py (recall by client and language).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP

import mail

AMAZON = ("Amazon Seller Central", "seller-notification@amazon.com")
BUYER = ("Pat Buyer - Amazon Marketplace", "r8t2m5n1c7v3b9x@marketplace.amazon.com")
SELLER = "sam@seller-shop.example"
DATE = "Tue, 3 Mar 2026 09:14"
ORDER = "114-9081726-3545463"


@dataclass(frozen=True)
class Language:
    """An interface language: the labels a client writes (From, Sent/Date, To, Subject), its
    forward separator, its attribution line (``{date}``, ``{who}``), and the charsets its mail
    travels in."""

    frm: str
    sent: str
    to: str
    subject: str
    separator: str
    attribution: str
    charsets: tuple[str, ...] = ("utf-8",)


# Label words are the clients' own (Outlook's localised forward headers, Gmail's and Apple
# Mail's separators, Thunderbird's attribution strings), as listed in public catalogues.
LANGUAGES: dict[str, Language] = {
    "en": Language("From", "Sent", "To", "Subject", "---------- Forwarded message ---------", "On {date}, {who} wrote:"),
    "fr": Language("De", "Envoyé", "À", "Objet", "---------- Message transféré ---------", "Le {date}, {who} a écrit :", ("utf-8", "iso-8859-1")),
    "de": Language("Von", "Gesendet", "An", "Betreff", "---------- Weitergeleitete Nachricht ---------", "Am {date} schrieb {who}:", ("utf-8", "iso-8859-15")),
    "cs": Language("Od", "Odesláno", "Komu", "Předmět", "Začátek přeposílané zprávy:", "Dne {date}, {who} napsal(a):", ("utf-8", "windows-1250", "iso-8859-2")),
    "sk": Language("Od", "Odoslané", "Komu", "Predmet", "---------- Preposlaná správa ---------", "{date}, {who} napísal(a):", ("utf-8", "windows-1250")),
    "da": Language("Fra", "Sendt", "Til", "Emne", "---------- Videresendt meddelelse ----------", "Den {date} skrev {who}:"),
    "no": Language("Fra", "Sendt", "Til", "Emne", "---------- Videresendt melding ----------", "{date} skrev {who}:"),
    "fi": Language("Lähettäjä", "Lähetetty", "Vastaanottaja", "Aihe", "---------- Välitetty viesti ----------", "{who} kirjoitti {date}:"),
    "hu": Language("Feladó", "Elküldve", "Címzett", "Tárgy", "---------- Továbbított üzenet ----------", "{who} ezt írta ({date}):", ("utf-8", "iso-8859-2")),
    "pl": Language("Od", "Wysłano", "Do", "Temat", "---------- Przekazana wiadomość ---------", "{date} {who} napisał:", ("utf-8", "iso-8859-2")),
    "pt": Language("De", "Enviado", "Para", "Assunto", "---------- Mensagem encaminhada ---------", "Em {date}, {who} escreveu:"),
    "es": Language("De", "Enviado el", "Para", "Asunto", "---------- Mensaje reenviado ---------", "El {date}, {who} escribió:"),
    "it": Language("Da", "Inviato", "A", "Oggetto", "---------- Messaggio inoltrato ---------", "Il {date} {who} ha scritto:"),
    "nl": Language("Van", "Verzonden", "Aan", "Onderwerp", "---------- Doorgestuurd bericht ---------", "Op {date} schreef {who}:"),
    "sv": Language("Från", "Skickat", "Till", "Ämne", "---------- Vidarebefordrat meddelande ---------", "Den {date} skrev {who}:"),
    "ro": Language("De la", "Trimis", "Către", "Subiect", "---------- Mesaj redirecționat ---------", "{who} a scris pe {date}:", ("utf-8", "iso-8859-2")),
    "tr": Language("Kimden", "Gönderildi", "Kime", "Konu", "---------- İletilen ileti ---------", "{date} tarihinde {who} şunu yazdı:", ("utf-8", "windows-1254")),
    "ru": Language("От", "Отправлено", "Кому", "Тема", "-------- Пересылаемое сообщение --------", "{date}, {who} написал:", ("utf-8", "koi8-r", "windows-1251")),
    "uk": Language("Від", "Надіслано", "Кому", "Тема", "---------- Пересланий лист ---------", "{date} {who} написав:", ("utf-8", "koi8-u", "windows-1251")),
    "ja": Language("差出人", "送信日時", "宛先", "件名", "---------- 転送メッセージ ----------", "{date} {who} のメッセージ:", ("utf-8", "iso-2022-jp", "shift_jis", "euc-jp")),
    "ko": Language("보낸 사람", "보낸 날짜", "받는 사람", "제목", "---------- 전달된 메시지 ---------", "{date}, {who}님이 작성:", ("utf-8", "euc-kr")),
    "zh": Language("发件人", "发送时间", "收件人", "主题", "------------------ 原始邮件 ------------------", "在 {date}，{who} 写道：", ("utf-8", "gb2312", "gbk", "gb18030")),
    "zh-tw": Language("寄件者", "寄件日期", "收件者", "主旨", "---------- 轉寄的郵件 ----------", "{who} 於 {date} 寫道：", ("utf-8", "big5")),
    # An interface language no catalogue here knows (labels invented): only the shape can find it.
    "xx": Language("Kwulo", "Sakamu", "Teva", "Mizoro", "---- Pazuvo ----", "{date} {who} wrote:"),
}

# A one-line block can only be split where its labels are known: in a language no catalogue
# knows, the block stays one line and the sender is not found (the notice is quarantined).
UNREADABLE = {("yahoo-one-line", "xx")}

CLIENTS = ("gmail", "outlook", "outlook-web", "apple", "thunderbird", "yahoo-one-line", "qq", "attribution",
           "attribution-name-only", "html-nbsp")


def block(client: str, lang: Language, sender: tuple[str, str]) -> str:
    """The header block (or attribution) ``client`` writes above a forwarded message."""
    name, addr = sender
    who = f"{name} <{addr}>"
    if client == "gmail":
        return f"{lang.separator}\n{lang.frm}: {who}\n{lang.sent}: {DATE}\n{lang.subject}: Notice\n{lang.to}: <{SELLER}>"
    if client == "outlook":
        return f"________________________________\n{lang.frm}: {name} <{addr}>\n{lang.sent}: {DATE}\n{lang.to}: {SELLER}\n{lang.subject}: Notice"
    if client == "outlook-web":
        return f"*{lang.frm}:* {name} [mailto:{addr}]\n*{lang.sent}:* {DATE}\n*{lang.to}:* {SELLER}\n*{lang.subject}:* Notice"
    if client == "apple":
        return f"{lang.separator}\n\n{lang.frm}: {who}\n{lang.subject}: Notice\n{lang.sent}: {DATE}\n{lang.to}: {SELLER}"
    if client == "thunderbird":
        return f"-------- {lang.separator.strip('- ')} --------\n{lang.subject}: \tNotice\n{lang.sent}: \t{DATE}\n{lang.frm}: \t{who}\n{lang.to}: \t{SELLER}"
    if client == "yahoo-one-line":
        return f"{lang.frm}: {who}{lang.to}: {SELLER}{lang.sent}: {DATE}{lang.subject}: Notice"
    if client == "qq":
        return f"------------------ 原始邮件 ------------------\n{lang.frm}: \"{name}\"<{addr}>;\n{lang.sent}: {DATE}\n{lang.to}: \"Sam\"<{SELLER}>;\n{lang.subject}: Notice"
    if client == "attribution":
        return lang.attribution.format(date=DATE, who=who)
    if client == "attribution-name-only":
        return lang.attribution.format(date=DATE, who=name)
    if client == "html-nbsp":
        return f"{lang.frm}:\u00a0{who}\n{lang.sent}:\u00a0{DATE}\n{lang.to}:\u00a0{SELLER}\n{lang.subject}:\u00a0Notice"
    raise ValueError(client)


def _quoted(text: str) -> str:
    """Reply-style: the original quoted with '> ' and re-wrapped at 72 columns."""
    out = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            if len(line) + len(word) > 70:
                out.append("> " + line.rstrip())
                line = ""
            line += word + " "
        out.append("> " + line.rstrip())
    return "\n".join(out)


def forward(client: str, code: str, *, sender: tuple[str, str] = AMAZON, body: str | None = None,
            charset: str = "utf-8", html: bool = False, cte: str | None = None) -> bytes:
    """A seller's hand forward from ``client`` in language ``code`` of a notice (or ``body``)."""
    lang = LANGUAGES[code]
    original = body if body is not None else mail.body("en", ORDER)
    if client.startswith("attribution"):
        original = _quoted(original)
    text = f"FYI\n\n{block(client, lang, sender)}\n\n{original}"
    msg = EmailMessage()
    msg["From"] = f"Sam Seller <{SELLER}>"
    msg["To"] = mail.INGEST
    msg["Subject"] = "Fwd: Notice"
    if html or client == "html-nbsp":
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\u00a0", "&nbsp;")
        for label in (lang.frm, lang.sent, lang.to, lang.subject):  # labels in bold, as Outlook writes them
            escaped = escaped.replace(f"\n{label}:", f"\n<b>{label}:</b>")
        markup = "<div>" + escaped.replace("\n", "<br>\n") + "</div>"
        msg.set_content(markup, subtype="html", charset=charset, cte=cte or "quoted-printable")
    else:
        msg.set_content(text, charset=charset, cte=cte or "quoted-printable")
    return msg.as_bytes(policy=SMTP)


def cases() -> Iterator[tuple[str, str, str, bytes, bool]]:
    """(client, language, charset, raw, is_notice) for every client × language × charset: the
    notice forwarded, and its twin, the same wrapper around a buyer's message (never a notice)."""
    for code, lang in LANGUAGES.items():
        for client in CLIENTS:
            if (client, code) in UNREADABLE:
                continue
            for charset in lang.charsets:
                if not _encodable(client, lang, charset):
                    continue
                yield client, code, charset, forward(client, code, charset=charset), True
            buyer_body = "Please stop. I opted out of unsolicited messages.\n\n" + mail.body("en", ORDER)
            yield client, code, "utf-8", forward(client, code, sender=BUYER, body=buyer_body), False


def _encodable(client: str, lang: Language, charset: str) -> bool:
    try:
        block(client, lang, AMAZON).encode(charset)
        return True
    except (UnicodeEncodeError, LookupError):
        return False
