"""`make run`'s stand-in for a mail relay: aiosmtpd keeping every message in a file.

    python -m aiosmtpd -n -l 127.0.0.1:8025 -c tools.maillog.Printer .cluster/mail.log

Each message is appended whole (headers and decoded text body), so the walkthrough can follow a
confirmation link with `grep` and see the List-Unsubscribe headers of the news.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any


class Printer:
    """An aiosmtpd handler appending what it receives to `path`."""

    def __init__(self, path: str = ".cluster/mail.log") -> None:
        self.path = Path(path)

    @classmethod
    def from_cli(cls, parser: Any, *args: str) -> Printer:
        """aiosmtpd's hook for the handler's command-line arguments: the file."""
        return cls(*args[:1])

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(("plain",))
        lines = [f"{name}: {value}" for name, value in message.items()]
        text = "" if body is None else str(body.get_content())
        entry = "\n".join(["-" * 72, *lines, "", text.rstrip(), ""]) + "\n"
        with self.path.open("a", encoding="utf-8") as log:
            log.write(entry.replace("\r\n", "\n"))
        return "250 OK"
