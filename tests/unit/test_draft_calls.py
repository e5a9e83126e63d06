"""The calls on the operator's own drafts: a 409 its status alone caused is retried at once; a
409 from a person's change of the spec is not (they win, the plan decides again)."""

from __future__ import annotations

import asyncio

import pytest

from statuspage_operator.api.names import Kind
from statuspage_operator.k8s import drafts as calls
from statuspage_operator.k8s.client import ConflictError
from unit.fakes import FakeClient, resource

NS = "default"
LOOKING = {"status": "Investigating", "message": "Looking."}
RESOLVED = {"status": "Resolved", "message": "Resolved."}


def incident(api: FakeClient) -> str:
    """A draft; returns the resourceVersion the decision is made on."""
    stored = api.add(
        resource(Kind.INCIDENT, NS, "alert-k1", {"page": "p", "draft": True, "updates": [LOOKING]})
    )
    return str(stored["metadata"]["resourceVersion"])


def stamp_status(api: FakeClient) -> None:
    """The operator's own status write to the incident: a new resourceVersion, same spec."""
    asyncio.run(api.patch_status(Kind.INCIDENT, NS, "alert-k1", {"phase": "Investigating"}))


def test_a_status_write_meanwhile_does_not_delay_the_resolved_update() -> None:
    api = FakeClient()
    decided = incident(api)
    stamp_status(api)
    stored = asyncio.run(calls.append_update(api, NS, "alert-k1", decided, [LOOKING], RESOLVED))
    assert stored["spec"]["updates"] == [LOOKING, RESOLVED]


def test_a_person_s_update_meanwhile_wins() -> None:
    api = FakeClient()
    decided = incident(api)
    api.edit(Kind.INCIDENT, NS, "alert-k1", {"page": "p", "draft": False, "updates": [LOOKING]})
    with pytest.raises(ConflictError):
        asyncio.run(calls.delete_incident(api, NS, "alert-k1", decided, [LOOKING]))
    found = asyncio.run(
        api.request(
            "GET", f"/apis/statuspage.dev/v1alpha1/namespaces/{NS}/statusincidents/alert-k1"
        )
    )
    assert found["spec"]["draft"] is False


def test_a_status_write_meanwhile_does_not_delay_the_deletion() -> None:
    api = FakeClient()
    decided = incident(api)
    stamp_status(api)
    asyncio.run(calls.delete_incident(api, NS, "alert-k1", decided, [LOOKING]))
    assert ("statusincidents", NS, "alert-k1") not in api.objects
