"""The private feed key, read from its one Secret by name and re-read so a rotation takes effect.

`--feed-key-secret NAMESPACE/NAME` names it; the server's Role may `get` that Secret and no other
(manifests/server/). Until it has been read, or while it cannot be, no feed token is accepted:
private feeds answer as an unknown page does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from statuspage_operator.api.feed_tokens import keys_of

REFRESH_SECONDS = 30.0

logger = logging.getLogger("statuspage_operator.server.feed_keys")


def secret_name(text: str) -> tuple[str, str]:
    """`NAMESPACE/NAME` as a pair; ValueError if it is not one."""
    namespace, _, name = text.partition("/")
    if not namespace or not name or "/" in name:
        raise ValueError(f"{text!r} is not NAMESPACE/NAME")
    return namespace, name


def read_keys(api_client: client.ApiClient, namespace: str, name: str) -> tuple[bytes, ...]:
    """The keys the Secret holds now (empty when it is missing or unreadable)."""
    try:
        secret = client.CoreV1Api(api_client).read_namespaced_secret(name, namespace)
    except ApiException as error:
        logger.warning("feed key Secret %s/%s: HTTP %s", namespace, name, error.status)
        return ()
    except urllib3.exceptions.HTTPError as error:
        logger.warning("feed key Secret %s/%s: %s", namespace, name, type(error).__name__)
        return ()
    keys = keys_of(secret.data)
    logger.debug("feed key Secret %s/%s: %d keys", namespace, name, len(keys))
    if not keys:
        logger.warning("feed key Secret %s/%s holds no key of 32 bytes or more", namespace, name)
    return keys


async def keep_fresh(
    read: Callable[[], tuple[bytes, ...]],
    store: Callable[[tuple[bytes, ...]], None],
    interval: float = REFRESH_SECONDS,
) -> None:
    """Read the keys again every `interval` seconds, until cancelled (the caller read them once
    before serving, so the server is ready with its key)."""
    while True:
        await asyncio.sleep(interval)
        try:
            store(await asyncio.to_thread(read))
        except Exception:  # a network error must not end private feeds for good
            logger.exception("reading the feed key failed; keeping the keys held")
