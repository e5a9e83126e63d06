"""docs/reference.md against the CRDs and the code: generated, complete, and not stale."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from statuspage_operator.api.conditions import Reason
from statuspage_operator.domain.notifications import DEFAULT_EVENTS, NotificationEvent
from tools import reference
from unit.crd_schema import crd_files, load_documents, openapi_schema, validation_errors

REFERENCE = reference.OUTPUT


def test_reference_is_up_to_date() -> None:
    """docs/reference.md is what the generator makes of the CRDs today."""
    wanted = reference.render()
    current = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    if current != wanted:
        diff = "".join(
            list(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    wanted.splitlines(keepends=True),
                    fromfile="docs/reference.md",
                    tofile="generated",
                )
            )[:60]
        )
        pytest.fail(f"docs/reference.md is stale: run `make docs`\n{diff}")


@pytest.mark.parametrize("path", crd_files(), ids=lambda path: path.name)
def test_every_field_has_a_description(path: Path) -> None:
    """`kubectl explain` and the reference have something to say about every field."""
    (crd,) = load_documents(path)
    assert reference.missing_descriptions(crd) == [], f"add a description in {path.name}"


def test_every_crd_is_in_the_reference() -> None:
    """A CRD file left out of crds/kustomization.yaml would be left out of the reference too."""
    assert sorted(reference.crd_paths()) == sorted(crd_files())


def test_every_field_is_in_the_reference() -> None:
    """Each kind's spec and status fields all have a row, by their full path."""
    text = REFERENCE.read_text(encoding="utf-8")
    for crd in reference.load_crds():
        schema = reference.schema_of(crd)
        for section in ("spec", "status"):
            if section not in schema["properties"]:
                continue  # PublicationPolicy has no status
            for field in reference.fields(schema["properties"][section], section):
                assert f"| `{field.path}` |" in text, field.path


def test_every_reason_of_the_code_is_described() -> None:
    """The reasons in tests/tools/reference.yaml are exactly the code's Reason."""
    notes = reference.load_notes()
    assert set(notes["reasons"]) == {str(reason) for reason in Reason}


def test_a_reason_missing_from_the_notes_fails_the_generator() -> None:
    """The generator refuses notes that miss a reason of the code (so the doc cannot drift)."""
    notes = reference.load_notes()
    del notes["reasons"][str(Reason.MAINTENANCE_STARTED)]
    with pytest.raises(reference.ReferenceError, match="MaintenanceStarted"):
        reference.check_notes(notes, list(notes["kinds"]))


def test_a_reason_the_code_lacks_fails_the_generator() -> None:
    """...and notes that describe a reason the code does not have."""
    notes = reference.load_notes()
    notes["reasons"]["MaintenancePostponed"] = {"kinds": ["MaintenanceWindow"], "when": "never"}
    with pytest.raises(reference.ReferenceError, match="MaintenancePostponed"):
        reference.check_notes(notes, list(notes["kinds"]))


def test_every_reason_is_in_the_reference() -> None:
    """The reasons table names each reason of the code."""
    text = REFERENCE.read_text(encoding="utf-8")
    section = text.split("\n## Reasons\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([A-Za-z]+)` \|", section, flags=re.MULTILINE))
    assert listed == {str(reason) for reason in Reason}


def test_subscriber_events_match_the_code() -> None:
    """The Subscriber CRD's events and their default are the code's NotificationEvent."""
    spec = openapi_schema("Subscriber")["properties"]["spec"]["properties"]["events"]
    assert set(spec["items"]["enum"]) == {str(event) for event in NotificationEvent}
    assert set(spec["default"]) == {str(event) for event in DEFAULT_EVENTS}


def _examples() -> list[Any]:
    notes = reference.load_notes()
    found = []
    for kind, entry in notes["kinds"].items():
        if entry.get("example"):
            text = (reference.REPO_ROOT / entry["example"]).read_text(encoding="utf-8")
        else:
            text = entry["example_yaml"]
        docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
        found.append(pytest.param(kind, docs, id=kind))
    return found


@pytest.mark.parametrize(("kind", "docs"), _examples())
def test_examples_are_valid(kind: str, docs: list[dict[str, Any]]) -> None:
    """Each kind's example is an object of that kind that its CRD's schema accepts."""
    assert [doc["kind"] for doc in docs] == [kind]
    assert validation_errors(docs[0]) == []


def test_check_reports_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`reference.py --check` exits 1 with a diff when the file differs, 0 when it does not."""
    output = tmp_path / "reference.md"
    output.write_text("# old\n", encoding="utf-8")
    assert reference.main(["--check", "--output", str(output)]) == 1
    assert "+# API reference" in capsys.readouterr().out
    assert output.read_text(encoding="utf-8") == "# old\n"
    assert reference.main(["--output", str(output)]) == 0
    assert reference.main(["--check", "--output", str(output)]) == 0
