"""Rendering the seller pages: one Jinja2 environment (autoescaping everything: a quarantined
message's headers are shown as text, never as markup), the filters the templates share, and the
headers every page carries.
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
from optout.http import session

HERE = Path(__file__).parent
ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                         undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
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


def when(value: Any) -> Markup:
    """A stored UTC time as ``<time>``: UTC in the text (the page's script shows it in the
    viewer's zone) and always on hover."""
    if value is None:
        return Markup("never")
    stamp = iso(value) or ""
    utc = stamp[:16].replace("T", " ") + " UTC"
    return Markup(f'<time datetime="{escape(stamp)}" title="{escape(utc)}">{escape(utc)}</time>')


def ago(value: Any) -> str:
    """How long ago, in words, for the checklist ("3 days ago")."""
    if value is None:
        return ""
    then = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    seconds = max(0, int((utcnow() - then).total_seconds()))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


ENV.filters["when"] = when
ENV.filters["ago"] = ago


def show(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page, with the browser's CSRF token in its forms (and its cookie set if new)."""
    session.csrf_token(request)
    response = page(request, name, status, **context)
    session.issue(request, response)
    return response


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("viewer", getattr(request.state, "viewer", None))
    context.setdefault("csrf", getattr(request.state, "csrf", ""))
    context.setdefault("operator", request.app.state.operator)
    html = ENV.get_template(name).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)
