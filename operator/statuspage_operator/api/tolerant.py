"""Reading one field of an object without trusting it: the wrong type or format is None.

The building blocks of the read model (api/objects.py): every reader of our objects other than
the operator goes through these, so "missing" and "malformed" mean the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from statuspage_operator.domain.occurrence import Occurrence
from statuspage_operator.domain.timestamps import parse_time

Raw = Mapping[str, Any]
E = TypeVar("E", bound=StrEnum)


def section(obj: Any, key: str) -> Raw:
    """`obj[key]` when both are mappings, else empty."""
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def text(value: Any) -> str | None:
    """A non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def instant(value: Any) -> datetime | None:
    """An RFC 3339 time as an aware UTC datetime, else None."""
    if not isinstance(value, str):
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def member(kind: type[E], value: Any) -> E | None:
    """The enum member whose value is `value`, else None."""
    try:
        return kind(value) if isinstance(value, str) else None
    except ValueError:
        return None


def occurrence(value: Any) -> Occurrence | None:
    """`{start, end}` as the operator writes it, with end after start, else None."""
    if not isinstance(value, Mapping):
        return None
    start, end = instant(value.get("start")), instant(value.get("end"))
    return Occurrence(start, end) if start and end and end > start else None
