"""One send through the relay, with aiosmtplib: a fresh connection, bounded in time.

Permanent (`MailError.permanent`): the relay answered 5xx for the recipient or the message
(RFC 5321: do not repeat it). Anything else (4xx, a refused or lost connection, a timeout) may
succeed later. The far end's words are not kept: only the code, as a category.
"""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from statuspage_operator.mail.relay import Relay

TIMEOUT = 15.0


class MailError(Exception):
    """A send failed: `permanent` for a 5xx; `category` for conditions and logs."""

    def __init__(self, category: str, permanent: bool) -> None:
        super().__init__(category)
        self.category = category
        self.permanent = permanent


def _code_of(error: aiosmtplib.SMTPException) -> int | None:
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in error.recipients]
        return max(codes) if codes else None
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return int(error.code)
    return None


async def send(relay: Relay, message: EmailMessage, seconds: float = TIMEOUT) -> None:
    """Send one message; MailError when the relay did not take it."""
    try:
        await aiosmtplib.send(
            message,
            hostname=relay.host,
            port=relay.port,
            username=relay.username,
            password=relay.password,
            use_tls=relay.tls == "tls",
            start_tls=relay.tls == "starttls",
            timeout=seconds,
        )
    except aiosmtplib.SMTPAuthenticationError:
        raise MailError("the relay refused the credentials", permanent=False) from None
    except aiosmtplib.SMTPException as error:
        code = _code_of(error)
        if code is not None and 500 <= code < 600:
            raise MailError(f"the relay refused the message ({code})", permanent=True) from None
        if code is not None:
            raise MailError(f"the relay deferred the message ({code})", permanent=False) from None
        raise MailError(f"the relay could not be reached ({type(error).__name__})", False) from None
    except (OSError, TimeoutError) as error:
        raise MailError(f"the relay could not be reached ({type(error).__name__})", False) from None
