"""Rendering the seller pages: one Jinja2 environment a language (autoescaping everything: a
quarantined message's headers are shown as text, never as markup; ``http/language.py`` picks the
language and holds its catalogue), the filters the templates share, and the headers every page
carries.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from optout.clock import utcnow
from optout.consult.lookup import iso
from optout.http import language, reasons, session

HERE = Path(__file__).parent
# The pages load nothing from elsewhere and run only their own script: a message that carries
# script, forms or remote images cannot act even if it were ever rendered. no-referrer keeps a
# sign-in link out of the Referer of anything the page links to.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _environment(code: str) -> jinja2.Environment:
    """One environment a language: its catalogue installed, its dates in its filters."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             extensions=["jinja2.ext.i18n"])
    catalogue = language.translations(code)
    env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
    env.policies["ext.i18n.trimmed"] = True  # a sentence's line breaks in a template are not the translator's
    # a sentence made in Python (an error's title and detail, marked N_), translated as it is: unlike
    # _(), no %-formatting, so a "%" in an account's name cannot break it
    env.globals["tr"] = catalogue.gettext
    env.globals["reason"] = lambda text: _reason(catalogue.gettext, text)
    env.filters["when"] = lambda value: when(value, code)
    env.filters["ago"] = lambda value: ago(value, code)
    return env


ENVS = {code: _environment(code) for code in language.LANGUAGES}


def _reason(gettext: Any, text: str | None) -> str:
    """Why a message was not listed, in the page's language where the reason is a known one."""
    found = reasons.known(text)
    if found is None:
        return text or ""
    sentence, values = found
    translated: str = gettext(sentence)
    return translated % values if values else translated


def when(value: Any, code: str = language.DEFAULT) -> Markup:
    """A stored UTC time as ``<time>``: UTC in the page's language in the text (the page's
    script shows it in the viewer's zone) and always on hover."""
    if value is None:
        return Markup(escape(language.translations(code).gettext("never")))
    stamp = iso(value) or ""
    utc = language.when_text(datetime.fromisoformat(stamp), code) + " UTC"
    return Markup(f'<time datetime="{escape(stamp)}" title="{escape(utc)}">{escape(utc)}</time>')


def ago(value: Any, code: str = language.DEFAULT) -> str:
    """How long ago, in words, for the checklist ("3 days ago", "vor 3 Tagen")."""
    if value is None:
        return ""
    return language.ago_text(value, utcnow(), code)


def show(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page, with the browser's CSRF token in its forms (and its cookie set if new)."""
    session.csrf_token(request)
    response = page(request, name, status, **context)
    session.issue(request, response)
    return response


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    code = language.DEFAULT if name in language.ENGLISH_ONLY else language_of(request)
    context.setdefault("viewer", getattr(request.state, "viewer", None))
    context.setdefault("csrf", getattr(request.state, "csrf", ""))
    context.setdefault("operator", request.app.state.operator)
    switch = None if name in language.ENGLISH_ONLY else language.LANGUAGES
    html = ENVS[code].get_template(name).render(request=request, lang=code, languages=switch, **context)
    response = HTMLResponse(html, status_code=status, headers=HEADERS)
    response.headers["Content-Language"] = code
    response.headers["Vary"] = "Accept-Language, Cookie"
    asked = request.query_params.get("lang")
    if asked in language.LANGUAGES:  # the switch: remembered for a year, for every page
        response.set_cookie(language.COOKIE, asked, max_age=365 * 86400, path="/", samesite="lax",
                            secure=session.secure(request), httponly=True)
    return response


def language_of(request: Request) -> str:
    """The language the request's page is shown in."""
    return language.choose(asked=request.query_params.get("lang"), remembered=request.cookies.get(language.COOKIE),
                           accept=request.headers.get("accept-language"))
