"""The CRDs and samples against the API contract, without a cluster.

The contract is written down here (field names, enums, defaults): docs/reference.md is generated
from the CRDs, so these lists are what keeps a CRD edit from changing the API by accident.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from statuspage_operator.api.event_budget import EVENTS_PER_HOUR, MAX_FOLDED
from statuspage_operator.domain.recurrence import MIN_DURATION, MIN_PERIOD
from unit.crd_schema import (
    API_VERSION,
    CRD_DIR,
    GROUP,
    KINDS,
    SAMPLES_DIR,
    VERSION,
    JsonObject,
    crd_files,
    crd_version,
    kustomize,
    load_crd,
    load_documents,
    openapi_schema,
    resolve_json_path,
    validation_errors,
    walk,
)

NAMES = {
    "StatusPage": ("statuspages", "statuspage", "sp"),
    "Component": ("components", "component", "comp"),
    "MaintenanceWindow": ("maintenancewindows", "maintenancewindow", "mw"),
    "StatusIncident": ("statusincidents", "statusincident", "si"),
}

SPEC_FIELDS = {
    "StatusPage": {
        "title",
        "description",
        "timeZone",
        "hostnames",
        "url",
        "remindBefore",
        "visibility",
        "audiences",
        "alerts",
        "subscriptions",
    },
    "Component": {
        "page",
        "displayName",
        "description",
        "group",
        "position",
        "manualStatus",
        "alerts",
    },
    "MaintenanceWindow": {
        "page",
        "title",
        "description",
        "components",
        "startTime",
        "endTime",
        "recurrence",
        "autoUpdateStatus",
        "notifySubscribers",
        "remindBefore",
        "cancelled",
        "silenceMatchers",
    },
    "StatusIncident": {
        "page",
        "title",
        "impact",
        "components",
        "incidentRef",
        "notifySubscribers",
        "draft",
        "updates",
    },
}

REQUIRED_SPEC_FIELDS = {
    "StatusPage": {"title"},
    "Component": {"page"},
    "MaintenanceWindow": {"page", "title", "startTime", "endTime"},
    "StatusIncident": {"page", "title"},
}

STATUS_FIELDS = {
    "StatusPage": {
        "indicator",
        "description",
        "components",
        "unresolvedIncidents",
        "activeMaintenances",
        "conditions",
        "observedGeneration",
        "notices",
        "eventBudget",
        "alertIncidents",
    },
    "Component": {
        "status",
        "statusFrom",
        "alertsFiring",
        "alerts",
        "activeMaintenanceWindows",
        "unresolvedIncidents",
        "lastStatusChangeTime",
        "history",
        "conditions",
        "observedGeneration",
        "notices",
        "eventBudget",
    },
    "MaintenanceWindow": {
        "lastReminder",
        "silence",
        "phase",
        "occurrence",
        "overlaps",
        "currentOccurrence",
        "nextOccurrence",
        "lastOccurrence",
        "startedAt",
        "completedAt",
        "conditions",
        "observedGeneration",
        "notices",
        "eventBudget",
    },
    "StatusIncident": {
        "phase",
        "draft",
        "publishedAt",
        "timeline",
        "resolvedAt",
        "lastUpdateTime",
        "conditions",
        "observedGeneration",
        "notices",
        "eventBudget",
    },
}

COMPONENT_STATUSES = [
    "Operational",
    "DegradedPerformance",
    "PartialOutage",
    "MajorOutage",
    "UnderMaintenance",
]
UPDATE_STATUSES = ["Investigating", "Identified", "Monitoring", "Resolved"]
PAGE_DESCRIPTIONS = [
    "All Systems Operational",
    "Minor Service Outage",
    "Partial System Outage",
    "Major System Outage",
    "Degraded System Service",
    "Partially Degraded Service",
    "Service Under Maintenance",
]

ENUMS = [
    ("StatusPage", ".spec.visibility", ["Unpublished", "Public", "Private"]),
    ("StatusPage", ".status.indicator", ["None", "Minor", "Major", "Critical", "Maintenance"]),
    ("StatusPage", ".status.description", PAGE_DESCRIPTIONS),
    ("Component", ".spec.manualStatus", COMPONENT_STATUSES),
    ("Component", ".status.status", COMPONENT_STATUSES),
    ("MaintenanceWindow", ".status.phase", ["Scheduled", "InProgress", "Completed", "Cancelled"]),
    ("StatusIncident", ".spec.impact", ["None", "Minor", "Major", "Critical"]),
    ("StatusIncident", ".spec.components[].status", COMPONENT_STATUSES),
    ("StatusIncident", ".spec.updates[].status", UPDATE_STATUSES),
    ("StatusIncident", ".status.phase", UPDATE_STATUSES),
    ("StatusIncident", ".status.timeline[].status", UPDATE_STATUSES),
]

DEFAULTS = [
    ("StatusPage", ".spec.timeZone", "UTC"),
    ("StatusPage", ".spec.visibility", "Unpublished"),
    ("MaintenanceWindow", ".spec.autoUpdateStatus", True),
    ("MaintenanceWindow", ".spec.notifySubscribers", False),
    ("MaintenanceWindow", ".spec.cancelled", False),
    ("MaintenanceWindow", ".spec.recurrence.timeZone", "UTC"),
    ("StatusIncident", ".spec.impact", "Minor"),
    ("StatusIncident", ".spec.updates", []),
]

PRINTER_COLUMNS = {
    "StatusPage": [
        "Indicator",
        "Status",
        "Components",
        "Incidents",
        "Maintenance",
        "Ready",
        "Published",
        "Age",
    ],
    "Component": ["Page", "Group", "Status", "From", "Alerts", "Ready", "Age"],
    "MaintenanceWindow": [
        "Page",
        "Phase",
        "Start",
        "End",
        "First-Start",
        "Recurrence",
        "Next",
        "Ready",
        "Age",
    ],
    "StatusIncident": ["Page", "Phase", "Draft", "Impact", "Resolved", "Ready", "Age"],
}

COLUMN_TYPES = {
    "string": {"string"},
    "integer": {"integer"},
    "number": {"integer", "number"},
    "boolean": {"boolean"},
    "date": {"string"},
}

SAMPLE_FILES = sorted(p for p in SAMPLES_DIR.glob("*.yaml") if p.name != "kustomization.yaml")

NOW = "2026-11-28T09:00:00Z"
READY = {
    "type": "Ready",
    "status": "True",
    "reason": "Reconciled",
    "message": "",
    "lastTransitionTime": NOW,
    "observedGeneration": 2,
}
FULL_STATUS = {
    "StatusPage": {
        "indicator": "Minor",
        "description": "Partially Degraded Service",
        "components": 4,
        "unresolvedIncidents": 1,
        "activeMaintenances": 0,
        "conditions": [READY],
        "observedGeneration": 2,
    },
    "Component": {
        "status": "UnderMaintenance",
        "activeMaintenanceWindows": ["database-upgrade"],
        "unresolvedIncidents": ["api-errors"],
        "lastStatusChangeTime": NOW,
        "conditions": [READY],
        "observedGeneration": 2,
    },
    "MaintenanceWindow": {
        "phase": "InProgress",
        "currentOccurrence": {"start": "2026-11-29T01:00:00Z", "end": "2026-11-29T02:00:00Z"},
        "nextOccurrence": {"start": "2026-12-06T01:00:00Z", "end": "2026-12-06T02:00:00Z"},
        "lastOccurrence": {"start": "2026-11-22T01:00:00Z", "end": "2026-11-22T02:00:00Z"},
        "startedAt": "2026-11-29T01:00:00Z",
        "completedAt": "2026-11-22T02:00:00Z",
        "conditions": [
            READY | {"status": "False", "reason": "ComponentNotFound", "message": "no cdn"},
            READY | {"type": "Stalled", "status": "False", "reason": "Reconciled"},
        ],
        "observedGeneration": 2,
    },
    "StatusIncident": {
        "phase": "Resolved",
        "timeline": [
            {"status": "Investigating", "message": "Looking.", "at": "2026-11-28T09:12:00Z"},
            {"status": "Resolved", "message": "Fixed.", "at": "2026-11-28T10:00:00Z"},
        ],
        "resolvedAt": "2026-11-28T10:00:00Z",
        "lastUpdateTime": "2026-11-28T10:00:00Z",
        "conditions": [READY],
        "observedGeneration": 2,
    },
}


def schema_nodes(kind: str) -> dict[str, JsonObject]:
    """Return a kind's schema nodes by path, e.g. ".spec.updates[].status"."""
    return dict(walk(openapi_schema(kind)))


def sample(kind: str, name: str | None = None) -> JsonObject:
    """Return a deep copy of a sample object of a kind (the first one, unless named)."""
    for path in SAMPLE_FILES:
        for doc in load_documents(path):
            if doc["kind"] == kind and name in (None, doc["metadata"]["name"]):
                return copy.deepcopy(doc)
    raise LookupError(f"no sample {kind} {name or ''}")


# --- CRD metadata -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_crd_names_group_and_scope(kind: str) -> None:
    """Each CRD declares its group, plural, singular, short name, category and Namespaced scope."""
    crd = load_crd(kind)
    plural, singular, short_name = NAMES[kind]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{plural}.{GROUP}"
    assert crd["spec"]["group"] == GROUP
    assert crd["spec"]["scope"] == "Namespaced"
    names = crd["spec"]["names"]
    assert (names["plural"], names["singular"], names["shortNames"]) == (
        plural,
        singular,
        [short_name],
    )
    assert names["categories"] == ["statuspage"]


@pytest.mark.parametrize("kind", KINDS)
def test_crd_file_is_named_group_plural(kind: str) -> None:
    """Each CRD lives in crds/<group>_<plural>.yaml, alone."""
    path = CRD_DIR / f"{GROUP}_{NAMES[kind][0]}.yaml"
    assert [doc["spec"]["names"]["kind"] for doc in load_documents(path)] == [kind]


@pytest.mark.parametrize("kind", KINDS)
def test_crd_serves_and_stores_v1alpha1_only(kind: str) -> None:
    """v1alpha1 is the one version, served and stored."""
    versions = load_crd(kind)["spec"]["versions"]
    assert [(v["name"], v["served"], v["storage"]) for v in versions] == [(VERSION, True, True)]


@pytest.mark.parametrize("kind", KINDS)
def test_crd_has_status_subresource(kind: str) -> None:
    """Status is a subresource, so spec writes cannot touch it and the operator owns it."""
    assert crd_version(kind)["subresources"] == {"status": {}}


# --- Schema contract ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_spec_fields_match_api(kind: str) -> None:
    """The spec declares exactly the contract's fields, with its required ones."""
    spec = openapi_schema(kind)["properties"]["spec"]
    assert set(spec["properties"]) == SPEC_FIELDS[kind]
    assert set(spec["required"]) == REQUIRED_SPEC_FIELDS[kind]
    assert openapi_schema(kind)["required"] == ["spec"]


@pytest.mark.parametrize("kind", KINDS)
def test_status_fields_match_api(kind: str) -> None:
    """The status declares exactly the contract's fields."""
    status = openapi_schema(kind)["properties"]["status"]
    assert set(status["properties"]) == STATUS_FIELDS[kind]


@pytest.mark.parametrize(
    ("kind", "path", "values"),
    [pytest.param(kind, path, values, id=f"{kind}{path}") for kind, path, values in ENUMS],
)
def test_enum_values_match_api(kind: str, path: str, values: list[str]) -> None:
    """Enums hold exactly the contract's PascalCase values."""
    assert schema_nodes(kind)[path]["enum"] == values


@pytest.mark.parametrize(
    ("kind", "path", "default"),
    [pytest.param(kind, path, value, id=f"{kind}{path}") for kind, path, value in DEFAULTS],
)
def test_defaults_match_api(kind: str, path: str, default: Any) -> None:
    """Defaults are the contract's."""
    assert schema_nodes(kind)[path]["default"] == default


@pytest.mark.parametrize("kind", KINDS)
def test_times_are_rfc3339(kind: str) -> None:
    """Every field named like a time is a date-time string."""
    time_name = re.compile(r"(Time|At|\.at|\.start|\.end|Timestamp)$")
    for path, node in schema_nodes(kind).items():
        if time_name.search(path):
            assert node.get("format") == "date-time", path


@pytest.mark.parametrize("kind", KINDS)
def test_every_string_and_list_is_bounded(kind: str) -> None:
    """Strings have maxLength (or an enum or a format) and lists maxItems: CEL cost, object size."""
    for path, node in schema_nodes(kind).items():
        if not path.startswith((".spec", ".status")):
            continue
        if node.get("type") == "string":
            assert {"maxLength", "enum", "format"} & set(node), path
        if node.get("type") == "array":
            assert "maxItems" in node, path


@pytest.mark.parametrize(
    ("kind", "path", "max_items"),
    [
        pytest.param("MaintenanceWindow", ".spec.components", 100, id="window-components"),
        pytest.param("StatusIncident", ".spec.components", 100, id="incident-components"),
        pytest.param("StatusIncident", ".spec.updates", 100, id="incident-updates"),
        pytest.param("StatusIncident", ".status.timeline", 100, id="incident-timeline"),
    ],
)
def test_list_bounds(kind: str, path: str, max_items: int) -> None:
    """The lists of the contract have their documented bounds."""
    assert schema_nodes(kind)[path]["maxItems"] == max_items


@pytest.mark.parametrize(
    ("kind", "path", "list_type", "map_keys"),
    [
        pytest.param("MaintenanceWindow", ".spec.components", "set", None, id="window-components"),
        pytest.param("StatusIncident", ".spec.components", "map", ["name"], id="incident-comps"),
        pytest.param("StatusIncident", ".spec.updates", "atomic", None, id="incident-updates"),
        *(
            pytest.param(kind, ".status.conditions", "map", ["type"], id=f"{kind}-conditions")
            for kind in KINDS
        ),
    ],
)
def test_list_types(kind: str, path: str, list_type: str, map_keys: list[str] | None) -> None:
    """Lists declare how they merge: names as sets, incident components and conditions as maps."""
    node = schema_nodes(kind)[path]
    assert node["x-kubernetes-list-type"] == list_type
    assert node.get("x-kubernetes-list-map-keys") == map_keys


@pytest.mark.parametrize("kind", KINDS)
def test_conditions_are_metav1_conditions(kind: str) -> None:
    """Conditions have metav1.Condition's shape, which kstatus and kubectl wait read."""
    items = schema_nodes(kind)[".status.conditions"]["items"]
    assert set(items["properties"]) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }
    assert set(items["required"]) == {"type", "status", "reason", "message", "lastTransitionTime"}
    assert items["properties"]["status"]["enum"] == ["True", "False", "Unknown"]


# --- CEL rules ----------------------------------------------------------------------------------


def cel_rules(kind: str) -> list[tuple[str, JsonObject]]:
    """Return (path, rule) for every x-kubernetes-validations rule of a kind."""
    return [
        (path, rule)
        for path, node in schema_nodes(kind).items()
        for rule in node.get("x-kubernetes-validations", [])
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_cel_rules_are_scoped_to_spec(kind: str) -> None:
    """No rule sits on the root or status: kopf's finalizer and status patches must not run them."""
    for path, _rule in cel_rules(kind):
        assert path.startswith(".spec"), path


@pytest.mark.parametrize("kind", KINDS)
def test_cel_rules_guard_optional_fields_with_has(kind: str) -> None:
    """A rule on spec reads an optional field only behind has(), so it never errors on absence."""
    spec = schema_nodes(kind)[".spec"]
    for path, rule in cel_rules(kind):
        assert path == ".spec", path
        assert rule["message"], rule
        for variable, field in re.findall(r"\b(self|oldSelf)\.(\w+)", rule["rule"]):
            if field not in spec["required"]:
                assert f"has({variable}.{field})" in rule["rule"], (field, rule["rule"])


def test_maintenance_window_rules_check_times_and_rrule() -> None:
    """MaintenanceWindow rejects endTime <= startTime and RRULEs without FREQ or with extras."""
    rules = {rule["rule"]: rule for _path, rule in cel_rules("MaintenanceWindow")}
    assert rules["timestamp(self.endTime) > timestamp(self.startTime)"]["fieldPath"] == ".endTime"
    rrule_rules = [rule for text, rule in rules.items() if "rrule" in text]
    assert {rule["fieldPath"] for rule in rrule_rules} == {".recurrence.rrule"}
    assert [word for word in ("FREQ=", "RRULE:", "DTSTART") if word in str(rrule_rules)] == [
        "FREQ=",
        "RRULE:",
        "DTSTART",
    ]


def test_maintenance_window_bounds_rules_match_the_operator() -> None:
    """The CEL bounds say what domain/recurrence.py enforces: 1m occurrences, 5m between starts."""
    rules = [rule["rule"] for _path, rule in cel_rules("MaintenanceWindow")]
    seconds = int(MIN_DURATION.total_seconds())
    assert any(f">= duration('{seconds}s')" in rule for rule in rules)
    period = MIN_PERIOD.total_seconds()
    for freq, unit in (("SECONDLY", 1), ("MINUTELY", 60)):
        [rule] = [rule for rule in rules if f"FREQ={freq}" in rule]
        assert rule.endswith(f">= {int(period // unit)})"), rule
    assert any("BYSECOND=[^;]*," in rule for rule in rules)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "Subscriber"])
def test_event_budget_bounds_match_the_operator(kind: str) -> None:
    """status.eventBudget and notices[].fold allow exactly what api/event_budget.py writes."""
    status = openapi_schema(kind)["properties"]["status"]["properties"]
    tally = status["eventBudget"]["properties"]
    fold = status["notices"]["items"]["properties"]["fold"]
    assert tally["folded"]["maximum"] == fold["maximum"] == MAX_FOLDED
    assert tally["posted"]["maximum"] >= EVENTS_PER_HOUR


def test_incident_updates_rule_is_append_only() -> None:
    """StatusIncident has one transition rule keeping every old update at its index."""
    [(_path, rule)] = cel_rules("StatusIncident")
    assert "oldSelf.updates.all(i, u, self.updates[i] == u)" in rule["rule"]
    assert "self.updates.size() >= oldSelf.updates.size()" in rule["rule"]
    assert "append-only" in rule["message"]
    assert rule["fieldPath"] == ".updates"


# --- Printer columns ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_printer_columns_match_contract(kind: str) -> None:
    """Each kind shows the columns users look for, ending with Ready and Age."""
    columns = crd_version(kind)["additionalPrinterColumns"]
    assert [column["name"] for column in columns] == PRINTER_COLUMNS[kind]


@pytest.mark.parametrize(
    ("kind", "column"),
    [
        pytest.param(kind, column, id=f"{kind}-{column['name']}")
        for kind in KINDS
        for column in crd_version(kind)["additionalPrinterColumns"]
    ],
)
def test_printer_column_names_a_schema_field_of_its_type(kind: str, column: JsonObject) -> None:
    """A printer column's jsonPath resolves to a schema field of a matching type."""
    node = resolve_json_path(openapi_schema(kind), column["jsonPath"])
    assert node["type"] in COLUMN_TYPES[column["type"]], column
    if column["type"] == "date":
        assert node["format"] == "date-time", column


# What `kubectl get --field-selector` can filter on (the plugin relies on spec.page).
SELECTABLE_FIELDS = {
    "StatusPage": [],
    "Component": [".spec.page", ".status.status"],
    "MaintenanceWindow": [".spec.page", ".status.phase"],
    "StatusIncident": [".spec.page", ".status.phase", ".spec.impact"],
}


@pytest.mark.parametrize("kind", KINDS)
def test_selectable_fields_are_the_ones_people_filter_on(kind: str) -> None:
    """Each selectable field is a string of the schema: the API server accepts no other type."""
    fields = [entry["jsonPath"] for entry in crd_version(kind).get("selectableFields") or ()]
    assert fields == SELECTABLE_FIELDS[kind]
    for path in fields:
        assert resolve_json_path(openapi_schema(kind), path)["type"] == "string", path


def test_only_start_and_end_of_the_shown_occurrence_are_default_columns() -> None:
    """A recurring window's default columns show its current or next occurrence, not the first."""
    columns = {c["name"]: c for c in crd_version("MaintenanceWindow")["additionalPrinterColumns"]}
    assert columns["Start"]["jsonPath"] == ".status.occurrence.start"
    assert columns["End"]["jsonPath"] == ".status.occurrence.end"
    assert "priority" not in columns["Start"]
    assert columns["First-Start"]["jsonPath"] == ".spec.startTime"
    assert columns["First-Start"]["priority"] == 1


def test_resolve_json_path_rejects_a_missing_field() -> None:
    """The column check fails for a path the schema does not have."""
    with pytest.raises(KeyError, match="phaze"):
        resolve_json_path(openapi_schema("StatusIncident"), ".status.phaze")


# --- Kustomizations -----------------------------------------------------------------------------


def test_crds_kustomization_lists_every_crd() -> None:
    """crds/kustomization.yaml lists every CRD file: the four kinds, Subscriber, the policy."""
    [kustomization] = load_documents(CRD_DIR / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(path.name for path in crd_files())
    assert len(crd_files()) == len(KINDS) + 2


def test_kubectl_kustomize_renders_the_crds() -> None:
    """`kubectl kustomize crds` renders the four kinds' CRDs, Subscriber's and the policy's."""
    rendered = kustomize(CRD_DIR)
    kinds = sorted(doc["spec"]["names"]["kind"] for doc in rendered)
    assert kinds == sorted([*KINDS, "Subscriber", "PublicationPolicy"])
    assert {doc["kind"] for doc in rendered} == {"CustomResourceDefinition"}


def test_samples_kustomization_lists_every_sample_page_first() -> None:
    """manifests/samples/kustomization.yaml lists every sample file, the page first."""
    [kustomization] = load_documents(SAMPLES_DIR / "kustomization.yaml")
    resources = kustomization["resources"]
    assert sorted(resources) == [path.name for path in SAMPLE_FILES]
    assert load_documents(SAMPLES_DIR / resources[0])[0]["kind"] == "StatusPage"
    assert "namespace" not in kustomization


def test_kubectl_kustomize_renders_the_samples() -> None:
    """`kubectl kustomize manifests/samples` renders every sample object, namespace-less."""
    rendered = kustomize(SAMPLES_DIR)
    expected = [doc for path in SAMPLE_FILES for doc in load_documents(path)]
    assert Counter(doc["kind"] for doc in rendered) == Counter(doc["kind"] for doc in expected)
    assert all("namespace" not in doc["metadata"] for doc in rendered)


# --- Samples ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [pytest.param(path, id=path.stem) for path in SAMPLE_FILES])
def test_sample_validates_against_its_crd(path: Path) -> None:
    """Every sample object is valid per its CRD's schema, and leaves the namespace to the user."""
    for doc in load_documents(path):
        assert doc["apiVersion"] == API_VERSION
        assert doc["kind"] in (*KINDS, "PublicationPolicy")
        assert "namespace" not in doc["metadata"]
        assert validation_errors(doc) == []


def test_samples_show_every_kind() -> None:
    """The samples have one page, components in groups, two one-off windows and a recurring one,
    and an incident with updates."""
    docs = [doc for path in SAMPLE_FILES for doc in load_documents(path)]
    by_kind = Counter(doc["kind"] for doc in docs)
    assert by_kind["StatusPage"] == 1
    assert by_kind["Component"] >= 3
    windows = [doc for doc in docs if doc["kind"] == "MaintenanceWindow"]
    assert sorted("recurrence" in window["spec"] for window in windows) == [False, False, True]
    assert len(sample("StatusIncident")["spec"]["updates"]) >= 2
    assert len({doc["spec"].get("group") for doc in docs if doc["kind"] == "Component"}) >= 2


def test_samples_refer_to_objects_that_exist() -> None:
    """Sample objects name the sample page and sample components only."""
    docs = [doc for path in SAMPLE_FILES for doc in load_documents(path)]
    pages = {doc["metadata"]["name"] for doc in docs if doc["kind"] == "StatusPage"}
    components = {doc["metadata"]["name"] for doc in docs if doc["kind"] == "Component"}
    for doc in docs:
        if doc["kind"] == "PublicationPolicy":
            continue
        if doc["kind"] != "StatusPage":
            assert doc["spec"]["page"] in pages, doc["metadata"]["name"]
        named = doc["spec"].get("components", [])
        names = {item if isinstance(item, str) else item["name"] for item in named}
        assert names <= components, doc["metadata"]["name"]


def test_sample_windows_end_after_they_start() -> None:
    """Sample windows satisfy the endTime > startTime rule the API server enforces."""
    for name in ("database-upgrade", "weekly-patching"):
        spec = sample("MaintenanceWindow", name)["spec"]
        assert spec["endTime"] > spec["startTime"], name


@pytest.mark.parametrize("kind", KINDS)
def test_full_status_validates(kind: str) -> None:
    """A status with every field of the contract set is valid."""
    obj = sample(kind)
    obj["status"] = FULL_STATUS[kind]
    assert validation_errors(obj) == []


def _set(path: str, value: Any) -> Callable[[JsonObject], None]:
    """Return a change setting a dotted path (list indexes as numbers) to a value."""

    def change(obj: JsonObject) -> None:
        *parents, last = (int(part) if part.isdigit() else part for part in path.split("."))
        target: Any = obj
        for part in parents:
            target = target[part]
        target[last] = value

    return change


def _drop(path: str) -> Callable[[JsonObject], None]:
    """Return a change removing a dotted path."""

    def change(obj: JsonObject) -> None:
        *parents, last = path.split(".")
        target: Any = obj
        for part in parents:
            target = target[part]
        del target[last]

    return change


UPDATE = {"status": "Monitoring", "message": "Watching."}


@pytest.mark.parametrize(
    ("kind", "change", "error"),
    [
        pytest.param(
            "Component", _set("spec.manualStatus", "Broken"), "spec.manualStatus", id="bad-enum"
        ),
        pytest.param(
            "StatusIncident",
            _set("spec.updates.0.status", "investigating"),
            "spec.updates.0.status",
            id="snake-case-enum",
        ),
        pytest.param(
            "StatusIncident", _set("spec.impact", "Severe"), "spec.impact", id="bad-impact"
        ),
        pytest.param(
            "MaintenanceWindow",
            _set("spec.components", [f"c{i}" for i in range(101)]),
            "spec.components",
            id="too-many-window-components",
        ),
        pytest.param(
            "StatusIncident",
            _set("spec.updates", [UPDATE] * 101),
            "spec.updates",
            id="too-many-updates",
        ),
        pytest.param(
            "StatusPage", _set("spec.title", "x" * 201), "spec.title", id="too-long-title"
        ),
        pytest.param("MaintenanceWindow", _drop("spec.title"), "spec", id="missing-title"),
        pytest.param(
            "MaintenanceWindow",
            _set("spec.startTime", "2026-12-05 22:00"),
            "spec.startTime",
            id="not-rfc3339",
        ),
        pytest.param(
            "MaintenanceWindow",
            _set("spec.components", ["API"]),
            "spec.components.0",
            id="not-a-resource-name",
        ),
        pytest.param(
            "StatusPage", _set("spec.timeZone", "Europe Berlin"), "spec.timeZone", id="bad-zone"
        ),
        pytest.param(
            "Component", _set("spec.manualstatus", "MajorOutage"), "spec", id="unknown-field"
        ),
        pytest.param(
            "StatusIncident",
            _set("status", {"conditions": [READY | {"status": "Yes"}]}),
            "status.conditions.0.status",
            id="bad-condition-status",
        ),
        pytest.param(
            "MaintenanceWindow",
            _set("status", {"nextOccurrence": {"start": NOW}}),
            "status.nextOccurrence",
            id="occurrence-without-end",
        ),
    ],
)
def test_bad_object_fails_validation(
    kind: str, change: Callable[[JsonObject], None], error: str
) -> None:
    """A sample broken in one way is rejected, naming the field."""
    obj = sample(kind)
    change(obj)
    errors = validation_errors(obj)
    assert [message for message in errors if message.startswith(f"{error}:")], errors
