"""Why a message was not listed, in the seller's language.

Recognition says why in English, with details (a domain, an order ID) in its sentence; the pages
show a seller the same reason in the page's language. Each known reason is matched by its shape
and given as a catalogue sentence (marked N_) with its details as values; a reason not known
here is shown as recognition said it.
"""

from __future__ import annotations

import re

from optout.http.language import N_

# (how the reason starts, the sentence to translate); a group named "who" or "n" fills its slot
_KNOWN: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern), sentence) for pattern, sentence in (
    (r"no order ID$", N_("no order ID in it")),
    (r"no opt-out wording$", N_("it does not say the buyer opted out")),
    (r"no text to examine$", N_("it has no text to read")),
    (r"a buyer's message relayed by Amazon$", N_("a buyer's message, relayed by Amazon")),
    (r"opt-out wording from Amazon, but no order ID$", N_("an opt-out notice from Amazon, but it names no order")),
    (r"two different order IDs", N_("it names two different orders, and a notice names one")),
    (r"opt-out wording, but the sender \((?P<who>[^)]{1,255})\) is not Amazon",
     N_("it says the buyer opted out, but its sender (%(who)s) is not Amazon")),
    (r"opt-out wording, but the nearest sender before it \((?P<who>[^)]{1,255})\)",
     N_("it says the buyer opted out, but its sender (%(who)s) is not Amazon")),
    (r"opt-out wording, but no sender address", N_("it says the buyer opted out, but shows no sender")),
    (r"opt-out wording, but a buyer's message", N_("a buyer's message, relayed by Amazon")),
    (r"the notice's wording quoted with an example", N_("it quotes the notice as an example")),
    (r"a mailing \(", N_("a mailing that quotes the notice")),
    (r"possible notice in an unknown language$", N_("possibly a notice, in a language optout does not read yet")),
    (r"a look-alike the operator taught", N_("the operator marked mail like this as not a notice")),
    (r"a taught wording \(\d+\), but", N_("a taught wording, but not from Amazon's notice address, or not about one order")),
    (r"too large to examine", N_("too large to read")),
    (r"unparseable", N_("it could not be read")),
    (r"nested too deeply", N_("it could not be read")),
    (r"recognition took too long", N_("it took too long to read")),
))


def known(reason: str | None) -> tuple[str, dict[str, str]] | None:
    """The catalogue sentence for ``reason`` and its values; None for a reason not known here."""
    if not reason:
        return None
    for pattern, sentence in _KNOWN:
        found = pattern.match(reason)
        if found:
            return sentence, {k: v for k, v in found.groupdict().items() if v}
    return None
