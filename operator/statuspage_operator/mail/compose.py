"""A message as mail servers expect it: plain text, UTF-8, one recipient, its own links."""

from __future__ import annotations

import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from statuspage_operator.mail.relay import Relay

_BREAKS = re.compile(r"[\r\n\x00]+")
MAX_SUBJECT = 200


def _line(text: str, limit: int) -> str:
    """One header line: no line breaks (header injection), bounded."""
    return _BREAKS.sub(" ", text).strip()[:limit]


def compose(
    relay: Relay,
    to: str,
    display_name: str,
    subject: str,
    text: str,
    now: datetime,
    unsubscribe_url: str | None = None,
) -> EmailMessage:
    """One message to `to`, From the relay's address under `display_name` (a page's title).

    With `unsubscribe_url` it is news to a list member: List-Unsubscribe (RFC 2369) and
    List-Unsubscribe-Post (RFC 8058, one click) name it, and it is marked auto-generated; the body
    is expected to carry the manage link itself.
    """
    message = EmailMessage()
    message["From"] = Address(display_name=_line(display_name, 100), addr_spec=relay.sender)
    message["To"] = to
    message["Subject"] = _line(subject, MAX_SUBJECT)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=relay.sender.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"
    if unsubscribe_url is not None:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    return message
