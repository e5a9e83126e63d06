"""The sign-up process's pages: Jinja2 (autoescaped), no JavaScript, one inline style sheet.

The Content-Security-Policy allows that style sheet by its hash and nothing else but posting a
form back to this origin (`form-action 'self'`); no frame may hold the pages.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from statuspage_operator.api.signup_form import Choice

_TEMPLATES = resources.files("statuspage_operator.signup") / "templates"
CSS = (_TEMPLATES / "signup.css").read_text(encoding="utf-8").strip()
CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{CSS_HASH}'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class Renderer:
    """The templates, loaded once."""

    def __init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("statuspage_operator.signup", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def _render(self, template: str, heading: str, **values: Any) -> str:
        return self._env.get_template(template).render(
            # Our own sheet, as is: escaped, it would no longer match CSS_HASH and be blocked.
            heading=heading,
            css=Markup(CSS),
            **values,
        )

    def message(
        self, heading: str, *lines: str, link: str | None = None, link_text: str = ""
    ) -> str:
        """A page that says something, with an optional link."""
        return self._render("message.html.j2", heading, lines=lines, link=link, link_text=link_text)

    def button(self, heading: str, lines: Sequence[str], button: str, quiet: bool = False) -> str:
        """A page whose one button POSTs back to its own URL (what a GET of a link shows)."""
        return self._render("button.html.j2", heading, lines=lines, button=button, quiet=quiet)

    def form(
        self,
        title: str,
        options: Sequence[Choice],
        given: str = "",
        ticked: Iterable[str] = (),
        error: str | None = None,
    ) -> str:
        """The "Get updates" form of a page."""
        return self._render(
            "form.html.j2",
            f"Get updates from {title}",
            title=title,
            options=options,
            given=given,
            ticked=frozenset(ticked),
            error=error,
        )

    def manage(
        self,
        title: str,
        options: Sequence[Choice],
        ticked: Iterable[str],
        saved: bool = False,
    ) -> str:
        """The manage page: choices ticked, Save and Unsubscribe."""
        return self._render(
            "manage.html.j2",
            f"Your updates from {title}",
            options=options,
            ticked=frozenset(ticked),
            saved=saved,
        )
