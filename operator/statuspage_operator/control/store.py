"""The operator's view of the cluster: every object of our four kinds, parsed once per generation.

Fed by the initial list and then by watch events, idempotently (kopf re-lists and replays after a
410 Gone), and by the responses to our own writes. A dict with reverse indexes instead of
`@kopf.index`, which slows down badly past a few thousand objects (kopf-notes.md).

`apply()` answers which objects must be reconciled because of a change: the object itself and
everything related to it before and after the change (its page, its components, what names it).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from statuspage_operator.api.names import Kind
from statuspage_operator.api.specs import (
    ComponentSpec,
    IncidentSpec,
    PageSpec,
    WindowSpec,
    parse,
    updates_of,
    window_of,
)
from statuspage_operator.domain.errors import InvalidSpecError
from statuspage_operator.domain.incidents import IncidentPhase, Update
from statuspage_operator.domain.maintenance import Window


class Key(NamedTuple):
    """Which object: kind, namespace, name."""

    kind: Kind
    namespace: str
    name: str


@dataclass(slots=True)
class Record:
    """One object as last seen, with its spec parsed (or the reason it cannot be)."""

    key: Key
    uid: str
    generation: int
    resource_version: str
    deleting: bool
    finalizers: tuple[str, ...]
    spec: PageSpec | ComponentSpec | WindowSpec | IncidentSpec | None
    error: InvalidSpecError | None
    status_json: str
    window: Window | None = None
    updates: tuple[Update, ...] = ()

    @property
    def status(self) -> dict[str, Any]:
        """The object's status as last seen (kept as compact JSON: a third of the memory)."""
        status: dict[str, Any] = json.loads(self.status_json)
        return status

    @property
    def page(self) -> str | None:
        """The page a component, window or incident belongs to (None for pages)."""
        spec = self.spec
        return None if spec is None or isinstance(spec, PageSpec) else spec.page

    @property
    def component_names(self) -> tuple[str, ...]:
        """Components a window or incident lists."""
        if isinstance(self.spec, WindowSpec):
            return self.spec.components
        if isinstance(self.spec, IncidentSpec):
            return tuple(c.name for c in self.spec.components)
        return ()

    @property
    def incident_phase(self) -> IncidentPhase:
        """An incident's phase: its latest update's status."""
        return self.updates[-1].status if self.updates else IncidentPhase.INVESTIGATING

    def ref(self) -> dict[str, str]:
        """An object reference for Events."""
        return {
            "kind": str(self.key.kind),
            "namespace": self.key.namespace,
            "name": self.key.name,
            "uid": self.uid,
        }


_MODELS: dict[Kind, type[PageSpec | ComponentSpec | WindowSpec | IncidentSpec]] = {
    Kind.PAGE: PageSpec,
    Kind.COMPONENT: ComponentSpec,
    Kind.WINDOW: WindowSpec,
    Kind.INCIDENT: IncidentSpec,
}


def _newer(old: str, new: str) -> bool:
    """Whether resourceVersion `new` is at least `old`; etcd's are integers, else trust order."""
    try:
        return int(new) >= int(old)
    except ValueError:
        return True


def _parse(key: Key, body: dict[str, Any], previous: Record | None) -> Record:
    meta = body.get("metadata", {})
    generation = int(meta.get("generation") or 0)
    record = Record(
        key=key,
        uid=str(meta.get("uid", "")),
        generation=generation,
        resource_version=str(meta.get("resourceVersion", "")),
        deleting=bool(meta.get("deletionTimestamp")),
        finalizers=tuple(meta.get("finalizers") or ()),
        spec=None,
        error=None,
        status_json=json.dumps(body.get("status") or {}, sort_keys=True, separators=(",", ":")),
    )
    if previous is not None and previous.generation == generation and previous.uid == record.uid:
        record.spec, record.error = previous.spec, previous.error
        record.window, record.updates = previous.window, previous.updates
        return record
    try:
        spec = parse(_MODELS[key.kind], body.get("spec"))
        record.spec = spec
        if isinstance(spec, WindowSpec):
            record.window = window_of(spec)
        elif isinstance(spec, IncidentSpec):
            record.updates = updates_of(spec)
    except InvalidSpecError as error:
        record.error = error
    return record


@dataclass
class Store:
    """All objects by key, plus who belongs to which page and who names which component."""

    records: dict[Key, Record] = field(default_factory=dict)
    _by_page: defaultdict[tuple[str, str], set[Key]] = field(
        default_factory=lambda: defaultdict(set)
    )
    _naming: defaultdict[tuple[str, str], set[Key]] = field(
        default_factory=lambda: defaultdict(set)
    )

    def get(self, key: Key) -> Record | None:
        """The record of one object, if it exists."""
        return self.records.get(key)

    def find(self, kind: Kind, namespace: str, name: str) -> Record | None:
        """The record of one object by kind and name."""
        return self.records.get(Key(kind, namespace, name))

    def of_page(self, namespace: str, page: str, kind: Kind) -> Iterator[Record]:
        """Objects of one kind that name `page` as theirs."""
        for key in self._by_page.get((namespace, page), ()):
            if key.kind is kind and (record := self.records.get(key)) is not None:
                yield record

    def naming(self, namespace: str, component: str, kind: Kind) -> Iterator[Record]:
        """Windows or incidents that list a component name."""
        for key in self._naming.get((namespace, component), ()):
            if key.kind is kind and (record := self.records.get(key)) is not None:
                yield record

    def count(self, kind: Kind) -> int:
        """How many objects of a kind are held."""
        return sum(1 for key in self.records if key.kind is kind)

    # -- changes ---------------------------------------------------------------------------

    def apply(self, kind: Kind, event_type: str | None, body: dict[str, Any]) -> set[Key]:
        """Take a watch event or a write's response; return the keys to reconcile."""
        meta = body.get("metadata", {})
        key = Key(kind, str(meta.get("namespace", "")), str(meta.get("name", "")))
        previous = self.records.get(key)
        if event_type == "DELETED":
            if previous is None:
                return set()
            self._unindex(previous)
            del self.records[key]
            return self._related(previous)
        version = str(meta.get("resourceVersion", ""))
        if (
            previous is not None
            and previous.uid == meta.get("uid")
            and not _newer(previous.resource_version, version)
        ):
            return set()
        record = _parse(key, body, previous)
        if previous is not None:
            self._unindex(previous)
        self.records[key] = record
        self._index(record)
        if previous is None or previous.uid != record.uid:
            return {key} | self._related(record)
        if kind is Kind.PAGE and previous.deleting == record.deleting:
            # What a page's members show depends on the page existing, not on its spec.
            return {key} if previous.generation != record.generation else set()
        if (
            previous.generation != record.generation
            or previous.deleting != record.deleting
            or previous.finalizers != record.finalizers
        ):
            return {key} | self._related(previous) | self._related(record)
        if previous.status_json != record.status_json:
            # Someone else's status write (ours are applied before their events arrive).
            dirty = {key}
            if kind is Kind.COMPONENT and record.page:
                dirty.add(Key(Kind.PAGE, key.namespace, record.page))
            return dirty
        return set()

    def refresh(self, body: dict[str, Any], kind: Kind) -> None:
        """Take the response to our own write, so the next reconcile starts from it."""
        self.apply(kind, "MODIFIED", body)

    def _related(self, record: Record) -> set[Key]:
        namespace = record.key.namespace
        related: set[Key] = set()
        if record.key.kind is Kind.PAGE:
            related |= self._by_page.get((namespace, record.key.name), set())
            return related
        if record.page:
            related.add(Key(Kind.PAGE, namespace, record.page))
        if record.key.kind is Kind.COMPONENT:
            related |= self._naming.get((namespace, record.key.name), set())
        for name in record.component_names:
            related.add(Key(Kind.COMPONENT, namespace, name))
        return related

    def _index(self, record: Record) -> None:
        namespace = record.key.namespace
        if record.page:
            self._by_page[(namespace, record.page)].add(record.key)
        for name in record.component_names:
            self._naming[(namespace, name)].add(record.key)

    def _unindex(self, record: Record) -> None:
        namespace = record.key.namespace
        if record.page:
            _discard(self._by_page, (namespace, record.page), record.key)
        for name in record.component_names:
            _discard(self._naming, (namespace, name), record.key)

    def keys(self, kinds: Iterable[Kind] | None = None) -> list[Key]:
        """Every key held, optionally of some kinds only."""
        wanted = set(kinds) if kinds is not None else set(Kind)
        return [key for key in self.records if key.kind in wanted]


def _discard(
    index: defaultdict[tuple[str, str], set[Key]], slot: tuple[str, str], key: Key
) -> None:
    members = index.get(slot)
    if members is not None:
        members.discard(key)
        if not members:
            del index[slot]
