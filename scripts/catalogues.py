#!/usr/bin/env python3
"""The seller pages' translation catalogues (``src/optout/http/locale/*.po``): what is missing, and
bringing them up to date after a page's wording changed.

    python scripts/catalogues.py            # list every sentence a catalogue lacks; exit 1 if any
    python scripts/catalogues.py --update   # add new sentences (untranslated), drop gone ones

The sentences are gathered as Babel would: ``_()`` and ``{% trans %}`` in the templates, ``N_()``
in the HTTP side's Python, and the sign-in refusals (``Refused(...)``) a page shows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.checkers import python_format
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import write_po

from optout.http import language

SOURCE = language.LOCALE.parent.parent  # src/optout
METHODS = [("http/templates/**.html", "jinja2.ext:babel_extract"), ("http/**.py", "python"),
           ("record/signin.py", "python")]
OPTIONS = {"http/templates/**.html": {"trimmed": "true", "extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "Refused": None}


def sentences() -> Catalog:
    """Every sentence the seller pages can show, as a template catalogue."""
    template = Catalog(project="optout")
    for filename, line, message, comments, context in extract_from_dir(
            SOURCE, method_map=METHODS, options_map=OPTIONS, keywords=KEYWORDS):
        if Path(filename).name not in language.ENGLISH_ONLY:  # the operator's pages: not the sellers' sentences
            template.add(message, locations=[(filename, line)], auto_comments=comments, context=context)
    return template


def problems(template: Catalog, codes: list[str]) -> list[str]:
    """Each sentence a catalogue lacks or mistranslates (a %(slot)s lost or added), one line each."""
    found = []
    for code in codes:
        translated = language.catalogue(code)
        for message in template:
            if not message.id:
                continue
            have = translated.get(message.id)
            if have is None or not have.string:
                found.append(f"{code}: missing: {message.id!r}")
                continue
            try:
                python_format(translated, have)
            except Exception as exc:  # Babel's checker raises TranslationError naming the slot
                found.append(f"{code}: {exc}: {message.id!r}")
    return found


def update(template: Catalog, codes: list[str]) -> None:
    for code in codes:
        translated = language.catalogue(code)
        translated.update(template, no_fuzzy_matching=True)
        translated.obsolete.clear()
        with (language.LOCALE / f"{code}.po").open("wb") as out:
            write_po(out, translated, width=0, omit_header=False, no_location=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true")
    args = parser.parse_args()
    codes = sorted(path.stem for path in language.LOCALE.glob("*.po"))
    template = sentences()
    if args.update:
        update(template, codes)
    missing = problems(template, codes)
    print("\n".join(missing) or f"{len(template)} sentences, translated in {', '.join(codes)}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
