"""Subscriber notifications: every notice a status write records becomes deliveries, each once.

- notifier.py     which notices become deliveries, to whom (the Writer offers them); the entry
                  point for the rest of the operator
- subscribers.py  the Subscriber reconciler: held, destination checked, status written
- deliveries.py   one attempt at a delivery: destination, body, send; retried or given up
- lanes.py        each subscriber's lane: in order per object, a few sends at once
- record.py       the delivered keys in each Subscriber's status, written in batches
- channels.py     where a delivery goes: webhooks (aiohttp) and Apprise
- mailboxes.py    mail to mailbox subscribers: the relay and key Secrets (read by name), sends
- failures.py     what went wrong with an attempt, as a category (never the far end's words)
- schemes.py      which URLs are sent to: webhooks and an allow-list of Apprise schemes
- egress.py       (pure) the egress policy: which names and addresses may be sent to
- resolving.py    resolution under the policy, pinned: aiohttp's resolver, Apprise's threads
- api/news.py     (pure) a notice as news, in the words of its page

What runs in the background, and what starts and stops it:

- a lane's workers ("deliver to <ns>/<name>" tasks, at most 8 per subscriber, 2 for Apprise):
  started when a delivery is ready and its lane has room (a status write's or a replay's notices,
  or a retry's timer); each ends when its lane has nothing ready; cancelled by `Notifier.close`
  (kopf's on.cleanup, through `Runtime.close`).
- retry timers (`loop.call_later`, no task): started by a failed attempt; cancelled by
  `Notifier.close`.
- record flushes ("record <ns>/<name>" tasks, one per subscriber with something to record):
  started by a finished delivery; each ends once the record is written; `Notifier.close` gives
  them 5 seconds.
- Apprise's threads (16, once a Subscriber uses a scheme other than json/jsons) and the webhook
  connection pool: made on first use; closed by `Notifier.close`.
- a Subscriber's Warning Events: the Announcer's tasks (control/writer.py), drained by
  `Runtime.close`.
- the recheck of a Subscriber waiting for its Secret: kopf's timer `recheck`
  (handlers/subscribers.py), not a task of ours. kopf starts it when a watch event shows the
  Subscriber's Ready reason SecretNotFound or InvalidDestination, runs it every RECHECK seconds,
  and stops it when an event shows another reason, when the Subscriber is deleted, and at exit.
"""

from statuspage_operator.control.notifications.channels import Channels
from statuspage_operator.control.notifications.deliveries import ATTEMPTS, RETRY_BASE
from statuspage_operator.control.notifications.egress import CLUSTER_DOMAIN, EgressPolicy
from statuspage_operator.control.notifications.mailboxes import Mailboxes
from statuspage_operator.control.notifications.notifier import Notifier
from statuspage_operator.control.notifications.record import UNRECORDED
from statuspage_operator.control.notifications.subscribers import RECHECK, waits_for_destination

__all__ = [
    "ATTEMPTS",
    "CLUSTER_DOMAIN",
    "RECHECK",
    "RETRY_BASE",
    "UNRECORDED",
    "Channels",
    "EgressPolicy",
    "Mailboxes",
    "Notifier",
    "waits_for_destination",
]
