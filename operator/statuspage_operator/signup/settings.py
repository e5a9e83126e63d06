"""The two Secrets the process needs, read by name and read again so a rotation takes effect.

`--subscription-key-secret NAMESPACE/NAME` (data `key`, `previous`, `naming`: tokens and names,
api/subscription_tokens.py) and `--mail-secret NAMESPACE/NAME` (data `url`, `from`: the relay,
mail/relay.py). The process's Role may `get` these two names and no other Secret. Until both are
usable the process is not ready, and the log says what to fix, never a value.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from statuspage_operator.api.subscription_tokens import SubscriptionKeys, subscription_keys
from statuspage_operator.mail import Relay, RelayError, relay_of

logger = logging.getLogger("statuspage_operator.signup.settings")
REFRESH_SECONDS = 30.0
TIMEOUT = (5.0, 10.0)
NO_KEYS = SubscriptionKeys((), None)

Ref = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True, slots=True)
class Settings:
    """The keys and the relay as last read; `problems` says what is missing (no values)."""

    keys: SubscriptionKeys = NO_KEYS
    relay: Relay | None = None
    problems: tuple[str, ...] = ("the Secrets have not been read yet",)

    @property
    def usable(self) -> bool:
        """Whether tokens can be signed and mail sent."""
        return self.keys.usable and self.relay is not None


def secret_ref(text: str) -> Ref:
    """`NAMESPACE/NAME` as a pair; ValueError if it is not one."""
    namespace, _, name = text.partition("/")
    if not namespace or not name or "/" in name:
        raise ValueError(f"{text!r} is not NAMESPACE/NAME")
    return namespace, name


def _data(core: client.CoreV1Api, ref: Ref, what: str, problems: list[str]) -> dict[str, Any]:
    namespace, name = ref
    try:
        secret = core.read_namespaced_secret(name, namespace, _request_timeout=TIMEOUT)
    except ApiException as error:
        problems.append(
            f"the {what} Secret {namespace}/{name} could not be read (HTTP {error.status})"
        )
        return {}
    except urllib3.exceptions.HTTPError as error:
        problems.append(f"the {what} Secret {namespace}/{name}: {type(error).__name__}")
        return {}
    return dict(secret.data or {})


def read_settings(core: client.CoreV1Api, keys_ref: Ref, mail_ref: Ref) -> Settings:
    """Both Secrets, read now (blocking)."""
    problems: list[str] = []
    keys = subscription_keys(_data(core, keys_ref, "subscription key", problems))
    where = f"the subscription key Secret {keys_ref[0]}/{keys_ref[1]}"
    if not problems and not keys.signing:
        problems.append(f"{where} has no `key` of 32 bytes or more")
    if not problems and keys.naming is None:
        problems.append(f"{where} has no `naming` of 32 bytes or more")
    relay: Relay | None = None
    count = len(problems)
    data = _data(core, mail_ref, "mail relay", problems)
    if len(problems) == count:
        try:
            relay = relay_of(data)
        except RelayError as error:
            problems.append(f"{error} ({mail_ref[0]}/{mail_ref[1]})")
    return Settings(keys, relay, tuple(problems))


async def keep_fresh(
    read: Callable[[], Settings],
    store: Callable[[Settings], None],
    interval: float = REFRESH_SECONDS,
) -> None:
    """Read both Secrets now and every `interval` seconds, until cancelled; a change of what is
    missing is logged once."""
    said: tuple[str, ...] | None = None
    while True:
        try:
            settings = await asyncio.to_thread(read)
        except Exception:  # a network error must not stop the refresh for good
            logger.exception("reading the Secrets failed; keeping what is held")
        else:
            store(settings)
            if settings.problems != said:
                for problem in settings.problems:
                    logger.warning("not ready: %s", problem)
                if not settings.problems:
                    logger.info("the subscription key and the mail relay are usable")
                said = settings.problems
        await asyncio.sleep(interval)
