"""Which destination URLs the operator sends to: its own webhooks, and an allow-list of Apprise
schemes without the options that would turn a notification into some other request.

`json://`/`jsons://` are our own webhooks (channels.py). Of Apprise's 100-odd schemes only
these are sent to, because their clients resolve and connect through `socket.getaddrinfo`
(requests, smtplib), which resolving.py pins to the egress policy:

- a host fixed by the service: Slack, Discord, Telegram, Pushover, PagerDuty, Opsgenie, Google
  Chat, Webex, Pushbullet, Power Automate workflows (Teams);
- a host the URL chooses, checked like a webhook's: mailto/mailtos (the SMTP server), ntfy,
  Gotify, Mattermost, Rocket.Chat, Matrix, and the generic form/xml.

Everywhere, a query option that adds or drops request headers or payload fields (`+Name=`,
`-Name=`) or a `method=` other than POST is refused: with them a "notification" could DELETE or
PUT on an API that trusts its caller.
"""

from __future__ import annotations

from urllib.parse import unquote

WEBHOOK_SCHEMES = frozenset({"json", "jsons"})
FIXED_HOST = frozenset(
    {
        "slack",
        "discord",
        "tgram",
        "pover",
        "pagerduty",
        "opsgenie",
        "gchat",
        "wxteams",
        "webex",
        "pbul",
        "workflow",
        "workflows",
    }
)
CHOSEN_HOST = frozenset(
    {
        "mailto",
        "mailtos",
        "ntfy",
        "ntfys",
        "gotify",
        "gotifys",
        "mmost",
        "mmosts",
        "rocket",
        "rockets",
        "matrix",
        "matrixs",
        "form",
        "forms",
        "xml",
        "xmls",
    }
)
APPRISE_SCHEMES = FIXED_HOST | CHOSEN_HOST


def _options(url: str) -> list[tuple[str, str]]:
    """The URL's query options as Apprise reads them (`+` kept, `&` and `;` separate)."""
    _, _, query = url.partition("?")
    query = query.partition("#")[0]
    found = []
    for item in (p for part in query.split("&") for p in part.split(";")):
        if item:
            key, _, value = item.partition("=")
            found.append((unquote(key).strip(), unquote(value).strip()))
    return found


def scheme_problem(scheme: str, url: str) -> str | None:
    """What makes a URL of this scheme one the operator will not send to, or None."""
    if scheme in WEBHOOK_SCHEMES:
        return None
    if scheme not in APPRISE_SCHEMES:
        return (
            f"unknown scheme {scheme}://, or one the operator does not send to; use json:// or "
            "jsons:// for a webhook, or one of "
            + ", ".join(f"{s}://" for s in sorted(APPRISE_SCHEMES))
        )
    for key, value in _options(url):
        if key[:1] in ("+", "-"):
            return f"the {scheme}:// URL sets request headers or payload fields (+/- options)"
        if key.lower() == "method" and value.lower() != "post":
            return f"the {scheme}:// URL asks for a method other than POST"
    return None
