"""A fake at the edge for notification tests: a channel that records instead of sending.

`FakeChannels` takes the place of the network: it records what was sent and counts the attempts,
and fails for the destinations it is told to.
"""

from __future__ import annotations

import asyncio

from statuspage_operator.control.notifications.channels import Channels, Destination
from statuspage_operator.control.notifications.failures import Failure, SendError


class FakeChannels(Channels):
    """Records each send and counts the attempts; fails for the URLs in `failing`."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, dict[str, str], bytes]] = []
        # The headers of every attempt, failed ones included.
        self.tried: list[dict[str, str]] = []
        self.failing: set[str] = set()
        self.attempts = 0

    async def send(
        self,
        destination: Destination,
        title: str,
        text: str,
        payload: bytes,
        headers: dict[str, str],
    ) -> None:
        """One attempt: recorded, or SendError for a failing URL."""
        self.attempts += 1
        self.tried.append(dict(headers))
        # Others may start meanwhile, as they would while a request is on the wire.
        await asyncio.sleep(0.001)
        if destination.url in self.failing:
            raise SendError(Failure.SERVER)
        self.sent.append((destination.url, headers, payload))

    def to(self, url: str) -> list[str]:
        """The events sent to one URL, in order."""
        return [headers["X-Statuspage-Event"] for sent, headers, _ in self.sent if sent == url]
