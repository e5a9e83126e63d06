"""The objects the server holds, indexed by page, mutated only on the event loop's thread.

Objects are kept compact: metadata reduced to what the page shows (name, namespace, uid,
creationTimestamp, generation), spec, and status without conditions. Every change bumps the
version of its namespace, which is what rendered responses are cached against. A change of a page
or a PublicationPolicy decides publication again (domain/publication.py), for every page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from statuspage_operator.api.names import Kind
from statuspage_operator.api.publication import claim_of, policy_of
from statuspage_operator.domain.publication import Outcome, Publication, decide

JsonObject = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)

_METADATA = ("name", "namespace", "uid", "creationTimestamp", "generation")


def compact(obj: Mapping[str, Any]) -> JsonObject:
    """What the server keeps of an object: no managedFields, annotations, labels, conditions,
    nor the alerts listed in a component's status (never shown; up to 50 each)."""
    metadata = obj.get("metadata") or {}
    status = {key: value for key, value in (obj.get("status") or {}).items() if key != "conditions"}
    alerts = status.get("alerts")
    if isinstance(alerts, Mapping) and "listed" in alerts:
        status["alerts"] = {key: value for key, value in alerts.items() if key != "listed"}
    return {
        "metadata": {key: metadata[key] for key in _METADATA if key in metadata},
        "spec": obj.get("spec") or {},
        "status": status,
    }


def key_of(obj: Mapping[str, Any]) -> Key:
    """(namespace, name) of an object."""
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace", "")), str(metadata.get("name", ""))


def _page_of(kind: Kind, obj: Mapping[str, Any]) -> str | None:
    if kind is Kind.PAGE:
        return None
    page = (obj.get("spec") or {}).get("page")
    return page if isinstance(page, str) else None


@dataclass
class Cache:
    """Our kinds by (namespace, name), each page's members, change versions, the publication."""

    objects: dict[Kind, dict[Key, JsonObject]] = field(
        default_factory=lambda: {kind: {} for kind in Kind}
    )
    # (namespace, page) -> kind -> names of the members that name that page.
    members: dict[Key, dict[Kind, set[str]]] = field(
        default_factory=lambda: defaultdict(
            lambda: {kind: set() for kind in Kind if kind != Kind.PAGE}
        )
    )
    versions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    publication: Publication = field(default_factory=Publication)
    synced: set[Kind] = field(default_factory=set)
    generation: int = 0  # bumped on every change anywhere

    def upsert(self, kind: Kind, obj: Mapping[str, Any]) -> None:
        """Add or replace an object."""
        kept = compact(obj)
        key = key_of(kept)
        self._unlink(kind, key)
        self.objects[kind][key] = kept
        page = _page_of(kind, kept)
        if page is not None:
            self.members[(key[0], page)][kind].add(key[1])
        self._changed(kind, key[0])

    def delete(self, kind: Kind, key: Key) -> None:
        """Forget an object (no error if unknown)."""
        self._unlink(kind, key)
        self.objects[kind].pop(key, None)
        self._changed(kind, key[0])

    def replace(self, kind: Kind, objs: Iterable[Mapping[str, Any]]) -> None:
        """A fresh list of a kind: the objects not in it are gone."""
        fresh = {key_of(obj): obj for obj in objs}
        for key in set(self.objects[kind]) - set(fresh):
            self.delete(kind, key)
        for obj in fresh.values():
            self.upsert(kind, obj)
        self.synced.add(kind)

    def _unlink(self, kind: Kind, key: Key) -> None:
        old = self.objects[kind].get(key)
        if old is None:
            return
        page = _page_of(kind, old)
        if page is not None:
            names = self.members.get((key[0], page))
            if names is not None:
                names[kind].discard(key[1])
                if not any(names.values()):
                    del self.members[(key[0], page)]

    def _changed(self, kind: Kind, namespace: str) -> None:
        self.versions[namespace] += 1
        self.generation += 1
        if kind in (Kind.PAGE, Kind.POLICY):
            self._decide()

    def _decide(self) -> None:
        # The operator's decision too (one derivation): its Published condition says this.
        claims = [claim_of(*key, page["spec"]) for key, page in self.objects[Kind.PAGE].items()]
        policies = [policy_of(policy) for policy in self.objects[Kind.POLICY].values()]
        self.publication = decide(policies, claims)

    def outcome(self, key: Key) -> Outcome:
        """What the publication decision says of a page (an unknown page is not published)."""
        return self.publication.outcome(key)

    def page(self, key: Key) -> JsonObject | None:
        """A StatusPage by (namespace, name)."""
        return self.objects[Kind.PAGE].get(key)

    def members_of(self, key: Key, kind: Kind) -> list[JsonObject]:
        """The objects of a kind that name the page."""
        names = self.members.get(key)
        if names is None:
            return []
        store = self.objects[kind]
        return [store[(key[0], name)] for name in names[kind] if (key[0], name) in store]

    def snapshot(self, key: Key) -> Snapshot:
        """A page and its members as they are now, for a rendering in another thread.

        The lists are copied here, on the loop's thread; the objects are shared, since a change
        replaces an object and never mutates one.
        """
        members: dict[Kind, list[JsonObject]] = {
            kind: self.members_of(key, kind) for kind in Kind if kind is not Kind.PAGE
        }
        return Snapshot(key, self.page(key), members)

    def size(self, key: Key) -> int:
        """How many objects name the page."""
        names = self.members.get(key)
        return 0 if names is None else sum(len(held) for held in names.values())

    def counts(self) -> Mapping[Kind, int]:
        """How many objects of each kind are held."""
        return {kind: len(objs) for kind, objs in self.objects.items()}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One page's objects at one instant (`Cache.snapshot`): what `view.build` reads."""

    key: Key
    raw: JsonObject | None
    members: Mapping[Kind, list[JsonObject]]

    def page(self, key: Key) -> JsonObject | None:
        """The StatusPage, if `key` is the page held."""
        return self.raw if key == self.key else None

    def members_of(self, key: Key, kind: Kind) -> list[JsonObject]:
        """The objects of a kind that name the page."""
        return list(self.members.get(kind, ())) if key == self.key else []
