"""The forms' bodies, read at the boundary: form-urlencoded, at most MAX_BODY bytes.

Nothing here knows aiohttp: a body's bytes in, typed values out. An address is checked for
syntax only (api/subscription_tokens.py normalized_address); the components ticked are kept as
their form values and judged against the page's choices later (api/signup_form.py chosen).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl

from statuspage_operator.api.signup_form import FIELD, MAX_CHOICES
from statuspage_operator.api.subscription_tokens import MAX_ADDRESS, normalized_address

MAX_BODY = 4 * 1024
# More fields than a form with every choice ticked can send: the rest is not read.
MAX_FIELDS = MAX_CHOICES + 4
EMAIL = "email"
ACTION = "action"


class FormError(Exception):
    """A body that is not one of our forms (400), or an address that is not one."""


class Action(StrEnum):
    """The manage page's two buttons."""

    SAVE = "save"
    UNSUBSCRIBE = "unsubscribe"


@dataclass(frozen=True, slots=True)
class SignUpForm:
    """What the sign-up form sent: the address as given (for the form shown again) and normalized
    (None when it is not an address), and the ticked values."""

    given: str
    address: str | None
    ticked: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ManageForm:
    """What the manage form sent: which button, and the ticked values."""

    action: Action
    ticked: tuple[str, ...]


def fields(body: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs of a form-urlencoded body; FormError when it is not one."""
    if len(body) > MAX_BODY:
        raise FormError("the form is too large")
    try:
        text = body.decode("ascii")
        return parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise FormError("the form could not be read") from error


def _ticked(pairs: list[tuple[str, str]]) -> tuple[str, ...]:
    # Duplicates are harmless: `chosen` reads them as a set.
    return tuple(value for name, value in pairs if name == FIELD and len(value) <= 300)


def sign_up_form(body: bytes) -> SignUpForm:
    """The sign-up form; FormError for a body that is not a form."""
    pairs = fields(body)
    given = next((value for name, value in pairs if name == EMAIL), "")
    address = normalized_address(given) if len(given) <= MAX_ADDRESS else None
    return SignUpForm(given[:MAX_ADDRESS], address, _ticked(pairs))


def manage_form(body: bytes) -> ManageForm:
    """The manage form; FormError when it names no known action."""
    pairs = fields(body)
    action = next((value for name, value in pairs if name == ACTION), "")
    try:
        return ManageForm(Action(action), _ticked(pairs))
    except ValueError as error:
        raise FormError("the form names no action") from error
