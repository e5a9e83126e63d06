"""Compact JSON serialised in slices, so that no single call holds the interpreter for long.

A rendering runs in the server's worker thread (server/app.py) while the event loop keeps
answering; the interpreter switches between the two every few milliseconds, but not inside one
C call. One `json.dumps` of `components.json` at 1,100 components (6.4 MB) is one such call of
tens of milliseconds, so the top levels of a document (the object, and each list under it) are
written item by item and only the items, each a component or an incident of a few KB, whole.
The bytes are exactly those of `json.dumps(value, separators=(",", ":"), ensure_ascii=False)`:
the ETag of a representation does not depend on how it was written.
"""

from __future__ import annotations

import functools
import json
from typing import Any

_dump = functools.partial(json.dumps, separators=(",", ":"), ensure_ascii=False)
SLICED_LEVELS = 3  # the document, its lists, their items: deeper values are written whole


def dumps(value: Any, levels: int = SLICED_LEVELS) -> bytes:
    """`value` as compact UTF-8 JSON, the top `levels` of it written piece by piece."""
    out: list[str] = []
    _write(value, levels, out)
    return "".join(out).encode()


def _write(value: Any, levels: int, out: list[str]) -> None:
    if levels <= 1 or not isinstance(value, dict | list) or not value:
        out.append(_dump(value))
        return
    if isinstance(value, list):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, levels - 1, out)
        out.append("]")
        return
    out.append("{")
    for index, (name, item) in enumerate(value.items()):
        if index:
            out.append(",")
        # Keys as json.dumps writes them (it turns a number or None key into a string too).
        out.append(_dump({name: None})[1:-5])
        _write(item, levels - 1, out)
    out.append("}")
