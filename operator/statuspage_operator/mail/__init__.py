"""Mail to subscribers made by the public, through the relay the cluster admin configures.

- relay.py  the relay Secret (`--mail-secret`): where to send from and as whom
- compose.py a message: From, To, Subject, Date, Message-ID, and for news the list headers
            (RFC 2369 List-Unsubscribe, RFC 8058 List-Unsubscribe-Post) and the manage link
- smtp.py   one send with aiosmtplib; a 5xx is permanent, anything else may be tried again

Both `statuspage-signup` (confirmations) and the operator (news) send this way. DKIM and SPF are
the relay's job: the messages leave unsigned, From the relay Secret's address.
"""

from statuspage_operator.mail.compose import compose
from statuspage_operator.mail.relay import Relay, RelayError, relay_of
from statuspage_operator.mail.smtp import MailError, send

__all__ = ["MailError", "Relay", "RelayError", "compose", "relay_of", "send"]
