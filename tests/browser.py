"""A real browser for the seller pages: Debian's Chromium driven by Playwright (the test machines
cannot download Playwright's own builds), a screenshot per test, and axe-core's accessibility
check run in the page. Also a signed-in httpx client, for what a browser would not send."""

from __future__ import annotations

import json
import os
import re
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from web import Serve

# Without the background-networking flags, Chromium keeps trying hosts this machine cannot reach.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("OPTOUT_SCREENSHOTS") or Path(__file__).resolve().parents[1] / "screenshots")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def shot(page: Any, name: str) -> Path:
    """A full-page screenshot under screenshots/ (README pictures are picked from there)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def accessible(page: Any) -> None:
    """axe-core finds no WCAG level A or AA violation in the page as it stands."""
    import axe_playwright_python

    # evaluated through the DevTools protocol, which the pages' CSP (script-src 'self') allows,
    # where a <script> tag added to the page would be refused
    page.evaluate((Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8"))
    found = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    problems = [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
                for v in found["violations"]]
    assert not problems, f"{page.url}: " + "; ".join(problems)
    assert found["passes"], "axe ran no check at all"


@dataclass
class Site:
    """The seller pages of a running `optout serve`, with the CLI to make links and keys."""

    serve: Serve
    cli: Any

    @property
    def base(self) -> str:
        return self.serve.base

    def address(self, slug: str = "acme") -> str:
        made = self.cli("accounts", "show", slug, "--json")
        assert made.exit_code == 0, made.output
        return json.loads(made.stdout)["address"]

    def link(self, slug: str = "acme", valid: str = "7d") -> str:
        made = self.cli("accounts", "link", slug, "--valid", valid)
        assert made.exit_code == 0, made.output
        url = made.stdout.strip()
        assert url.startswith(self.base + "/signin/"), url
        return url

    def send(self, raw: bytes, slug: str = "acme") -> None:
        """Deliver ``raw`` over SMTP; the 250 comes after the commit, so it is stored on return."""
        with smtplib.SMTP("127.0.0.1", self.serve.smtp_port, timeout=30) as smtp:
            smtp.sendmail("sender@example.net", [self.address(slug)], raw)

    @contextmanager
    def signed_in(self, url: str) -> Iterator[httpx.Client]:
        """An httpx client that opened the sign-in link ``url`` (holds its cookies)."""
        with httpx.Client(base_url=self.base, timeout=30) as client:
            answer = client.get(url)
            assert answer.status_code == 303, answer.text
            yield client


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found[1]
