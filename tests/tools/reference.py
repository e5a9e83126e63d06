"""Write docs/reference.md from the CRDs' OpenAPI schemas and a small hand-written source.

`python tests/tools/reference.py` (or `make docs`) writes the file; `--check` writes nothing and
exits 1 with a diff when the file is stale. What the CRDs cannot hold (examples, what each
condition reason and Event means) comes from tests/tools/reference.yaml. The reasons and the
subscriber events are imported from the package, so the reference cannot name one the code does
not have, nor miss one it has: the generator fails instead.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from statuspage_operator.api.conditions import Reason
from statuspage_operator.api.event_budget import EVENTS_PER_HOUR
from statuspage_operator.api.notices import REPLAY_HORIZON
from statuspage_operator.control.notifications import ATTEMPTS, RECHECK
from statuspage_operator.domain.notifications import (
    DEFAULT_EVENTS,
    END_GRACE,
    INCIDENT_HORIZON,
    NotificationEvent,
    event_of,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "crds"
NOTES = Path(__file__).with_name("reference.yaml")
OUTPUT = REPO_ROOT / "docs" / "reference.md"
VERSION = "v1alpha1"

JsonObject = dict[str, Any]

# Fields every Kubernetes object has: described once, not in each kind's tables.
STANDARD_FIELDS = ("apiVersion", "kind", "metadata")

# Patterns the CRDs repeat, in words; any other pattern is shown as the regular expression.
PATTERNS = {
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$": (
        "An object name: lower case letters, digits, `-` and `.`."
    ),
    r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$": (
        "An IANA zone name such as `Europe/Berlin` (letters, digits, `_`, `+`, `-`, parts joined "
        "by `/`)."
    ),
    r"^([0-9]+(h|m|s))+$": "A duration: whole numbers with `h`, `m` or `s`, e.g. `1h30m`.",
    r'^https?://[^\s<>"]+$': "An `http://` or `https://` URL.",
    r"^[-._a-zA-Z0-9]+$": "A Secret key: letters, digits, `-`, `_` and `.`.",
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$": "An optional DNS prefix and `/`, then a name.",
    r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$": (
        "Letters, digits, `_`, `,` and `:`, starting with a letter."
    ),
}


class ReferenceError(Exception):
    """The CRDs, the hand-written source and the code disagree; the message says where."""


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a schema: its path from the object's root, its node, whether required."""

    path: str
    node: JsonObject
    required: bool


# -- reading -----------------------------------------------------------------------------------


def crd_paths(root: Path = REPO_ROOT) -> list[Path]:
    """The CRD files in the order crds/kustomization.yaml lists them."""
    kustomization = yaml.safe_load((root / "crds" / "kustomization.yaml").read_text())
    return [root / "crds" / name for name in kustomization["resources"]]


def load_crds(root: Path = REPO_ROOT) -> list[JsonObject]:
    """Every CRD, in kustomization order."""
    crds = []
    for path in crd_paths(root):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        crds.append(doc)
    return crds


def load_notes(path: Path = NOTES) -> JsonObject:
    """The hand-written source."""
    notes: JsonObject = yaml.safe_load(path.read_text(encoding="utf-8"))
    return notes


def served_version(crd: JsonObject) -> JsonObject:
    """The v1alpha1 entry of a CRD's versions."""
    for version in crd["spec"]["versions"]:
        if version["name"] == VERSION:
            found: JsonObject = version
            return found
    raise ReferenceError(f"{crd['metadata']['name']}: no version {VERSION}")


def schema_of(crd: JsonObject) -> JsonObject:
    """A CRD's openAPIV3Schema."""
    schema: JsonObject = served_version(crd)["schema"]["openAPIV3Schema"]
    return schema


def fields(node: JsonObject, path: str = "", required: bool = False) -> Iterator[Field]:
    """Every field under a schema node, depth first, with paths such as `spec.components[].name`."""
    needed = set(node.get("required") or ())
    for name, child in (node.get("properties") or {}).items():
        child_path = f"{path}.{name}" if path else name
        yield Field(child_path, child, name in needed)
        yield from _below(child, child_path)


def _below(node: JsonObject, path: str) -> Iterator[Field]:
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        items = node["items"]
        if items.get("properties"):
            yield from fields(items, f"{path}[]")
    elif node.get("properties"):
        yield from fields(node, path)


def missing_descriptions(crd: JsonObject) -> list[str]:
    """Paths of the fields without a description (apiVersion and kind included).

    Not `metadata`: the API server allows nothing but `type: object` there (and restrictions of
    name and generateName).
    """
    return [
        f.path
        for f in fields(schema_of(crd))
        if not f.node.get("description") and f.path != "metadata"
    ]


def validations(node: JsonObject, path: str = "") -> Iterator[tuple[str, JsonObject]]:
    """Every CEL rule (`x-kubernetes-validations`) under a node, with the path it sits on."""
    for rule in node.get("x-kubernetes-validations") or ():
        yield path, rule
    for name, child in (node.get("properties") or {}).items():
        yield from validations(child, f"{path}.{name}" if path else name)
    if isinstance(node.get("items"), dict):
        yield from validations(node["items"], f"{path}[]")


# -- Markdown ----------------------------------------------------------------------------------


def text(value: str) -> str:
    """Plain text for a table cell: no HTML, no cell breaks, one line."""
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(escaped.replace("|", "\\|").split())


def code(value: object) -> str:
    """A code span for a table cell."""
    shown = value if isinstance(value, str) else json.dumps(value)
    shown = " ".join(shown.split()).replace("|", "\\|")
    fence = "``" if "`" in shown else "`"
    pad = " " if "`" in shown else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading."""
    kept = "".join(c for c in heading.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


# -- fields ------------------------------------------------------------------------------------


def type_of(node: JsonObject) -> str:
    """`string (date-time)`, `array of object`, ..."""
    kind = str(node.get("type", "any"))
    if kind == "array" and isinstance(node.get("items"), dict):
        return f"array of {type_of(node['items'])}"
    if node.get("format"):
        return f"{kind} ({node['format']})"
    return kind


def _length(node: JsonObject, unit: str, low_key: str, high_key: str) -> str | None:
    low, high = node.get(low_key), node.get(high_key)
    if low is not None and high is not None:
        return f"{low} to {high} {unit}."
    if high is not None:
        return f"At most {high} {unit}."
    if low is not None:
        return f"At least {low} {unit[:-1] if low == 1 else unit}."
    return None


def constraints(node: JsonObject) -> list[str]:
    """What the API server checks of a value, in words."""
    said: list[str] = []
    if node.get("enum"):
        said.append("One of " + ", ".join(code(str(v)) for v in node["enum"]) + ".")
    for found in (
        _length(node, "characters", "minLength", "maxLength"),
        _length(node, "items", "minItems", "maxItems"),
    ):
        if found:
            said.append(found)
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        said.append(f"From {low} to {high}.")
    elif low is not None:
        said.append(f"At least {low}.")
    elif high is not None:
        said.append(f"At most {high}.")
    if node.get("pattern"):
        pattern = str(node["pattern"])
        said.append(PATTERNS.get(pattern) or f"Matches {code(pattern)}.")
    list_type = node.get("x-kubernetes-list-type")
    if list_type == "set":
        said.append("No duplicates.")
    elif list_type == "map":
        keys = ", ".join(code(k) for k in node.get("x-kubernetes-list-map-keys") or ())
        said.append(f"Entries are unique by {keys}.")
    items = node.get("items")
    if isinstance(items, dict) and not items.get("properties"):
        item_said = constraints(items)
        if item_said:
            joined = " ".join(item_said)
            said.append("Each item: " + joined[0].lower() + joined[1:])
    return said


def default_of(node: JsonObject) -> str:
    """The default, as a code span (empty when there is none)."""
    if "default" not in node:
        return ""
    value = node["default"]
    if isinstance(value, list) and value:
        return ", ".join(code(v) for v in value)
    if isinstance(value, str):
        return code(value)
    return code(value)


def field_rows(section: JsonObject, prefix: str, with_default: bool) -> list[list[str]]:
    """One row per field under `spec` or `status`."""
    rows = []
    for f in fields(section, prefix):
        node = f.node
        kind = type_of(node) + (", **required**" if f.required else "")
        description = text(str(node.get("description", "")))
        said = " ".join(constraints(node))
        cell = " ".join(part for part in (description, said) if part)
        row = [code(f.path), kind]
        if with_default:
            row.append(default_of(node))
        rows.append([*row, cell])
    return rows


def has_defaults(section: JsonObject) -> bool:
    """Whether any field of a section has a default."""
    return any("default" in f.node for f in fields(section))


# -- the kinds ---------------------------------------------------------------------------------


def _constants() -> dict[str, str]:
    def span(delta: timedelta) -> str:
        seconds = int(delta.total_seconds())
        for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
            if seconds % size == 0:
                count = seconds // size
                return f"{count} {unit}" + ("" if count == 1 else "s")
        return f"{seconds} seconds"

    return {
        "attempts": str(ATTEMPTS),
        "recheck": span(timedelta(seconds=RECHECK)),
        "end_grace": span(END_GRACE),
        "incident_horizon": span(INCIDENT_HORIZON),
        "replay_horizon": span(REPLAY_HORIZON),
        "events_per_hour": str(EVENTS_PER_HOUR),
    }


def check_notes(notes: JsonObject, kinds: Sequence[str]) -> None:
    """The hand-written source against the code and the CRDs; ReferenceError if they differ."""
    problems = []
    described = set(notes.get("reasons") or {})
    coded = {str(r) for r in Reason}
    for name in sorted(coded - described):
        problems.append(f"reason {name} (api/conditions.py) is not described in {NOTES.name}")
    for name in sorted(described - coded):
        problems.append(f"reason {name} in {NOTES.name} is not a Reason of the code")
    for name, entry in (notes.get("reasons") or {}).items():
        for kind in entry.get("kinds") or ():
            if kind not in kinds:
                problems.append(f"reason {name}: unknown kind {kind}")
        if not entry.get("kinds") or not entry.get("when"):
            problems.append(f"reason {name}: needs kinds and when")
        if entry.get("event") not in (None, "Normal", "Warning"):
            problems.append(f"reason {name}: event must be Normal or Warning")
    events = set(notes.get("notification_events") or {})
    coded_events = {str(e) for e in NotificationEvent}
    for name in sorted(coded_events ^ events):
        problems.append(f"subscriber event {name}: in the code xor in {NOTES.name}")
    for kind in kinds:
        entry = (notes.get("kinds") or {}).get(kind)
        if not entry or not (entry.get("example") or entry.get("example_yaml")):
            problems.append(f"kind {kind}: needs an example in {NOTES.name}")
    for kind in notes.get("kinds") or {}:
        if kind not in kinds:
            problems.append(f"kind {kind} in {NOTES.name} has no CRD")
    if problems:
        raise ReferenceError("; ".join(problems))


def kind_section(crd: JsonObject, notes: JsonObject, root: Path) -> str:
    """Everything about one kind."""
    names = crd["spec"]["names"]
    kind = str(names["kind"])
    version = served_version(crd)
    schema = schema_of(crd)
    own = notes["kinds"][kind]
    short = names.get("shortNames") or []
    out = [f"## {kind}", "", text(str(schema.get("description", "")))]
    if own.get("notes"):
        out += ["", own["notes"].strip()]
    facts = [
        ["API version", code(f"{crd['spec']['group']}/{version['name']}")],
        ["Scope", str(crd["spec"]["scope"])],
        ["Plural, singular", f"{code(names['plural'])}, {code(names['singular'])}"],
        ["Short names", ", ".join(code(s) for s in short) or "none"],
        ["Categories", ", ".join(code(c) for c in names.get("categories") or ()) or "none"],
        ["Status subresource", "yes" if "status" in (version.get("subresources") or {}) else "no"],
    ]
    out += ["", table(["", ""], facts)]

    name = short[0] if short else names["plural"]
    columns = version.get("additionalPrinterColumns") or []
    out += ["", f"### {kind} printer columns", ""]
    out.append(
        f"`kubectl get {name}` shows the columns marked `get`; `kubectl get {name} -o wide` shows "
        "them all."
    )
    described = any(c.get("description") for c in columns)
    rows = [
        [
            text(c["name"]),
            code(c["jsonPath"]),
            c["type"],
            "`-o wide`" if c.get("priority", 0) else "`get`",
            *([text(str(c.get("description", "")))] if described else []),
        ]
        for c in columns
    ]
    header = ["Column", "JSONPath", "Type", "Shown by"] + (["Description"] if described else [])
    out += ["", table(header, rows)]

    selectable = [str(s["jsonPath"]).lstrip(".") for s in version.get("selectableFields") or ()]
    out += ["", f"### {kind} field selectors", ""]
    if selectable:
        listed = [code(s) for s in selectable]
        said = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
        out.append(
            f"`kubectl get {name} --field-selector` takes {said}, besides `metadata.name` and "
            f"`metadata.namespace`, e.g. `kubectl get {name} --field-selector "
            f"{selectable[0]}=example`."
        )
    else:
        out.append(
            f"`kubectl get {name} --field-selector` takes only `metadata.name` and "
            "`metadata.namespace`."
        )

    for section in ("spec", "status"):
        node = schema.get("properties", {}).get(section)
        if node is None:
            continue
        out += ["", f"### {kind} {section}", "", text(str(node.get("description", "")))]
        required = section in (schema.get("required") or ())
        if required:
            out[-1] += " Required."
        with_default = has_defaults(node)
        header = ["Field", "Type"] + (["Default"] if with_default else []) + ["Description"]
        out += ["", table(header, field_rows(node, section, with_default))]

    rules = list(validations(schema))
    if rules:
        out += ["", f"### {kind} validation rules", ""]
        out.append(
            "The API server checks these rules (CEL) when the object is created or updated, and "
            "rejects the change with the message."
        )
        rows = []
        for path, rule in rules:
            where = path + str(rule.get("fieldPath", ""))
            rows.append([code(where), text(str(rule["message"])), code(str(rule["rule"]))])
        out += ["", table(["Field", "Message", "Rule"], rows)]

    reasons = notes["reasons"]
    conditions = [
        [code(name), entry["condition"], text(_fill(entry["when"]))]
        for name, entry in reasons.items()
        if kind in entry["kinds"] and entry.get("condition")
    ]
    out += ["", f"### {kind} conditions", ""]
    out.append("`Ready` and `Stalled` (see [Conditions](#conditions)), with these reasons:")
    out += ["", table(["Reason", "Condition", "When"], conditions)]

    events = [
        [code(name), entry["event"], text(_fill(entry["when"]))]
        for name, entry in reasons.items()
        if kind in entry["kinds"] and entry.get("event")
    ]
    out += ["", f"### {kind} Events", ""]
    out += [table(["Reason", "Type", "When"], events)]

    out += ["", f"### {kind} example"]
    if own.get("example"):
        sample = str(own["example"])
        body = (root / sample).read_text(encoding="utf-8").rstrip("\n")
        out += ["", f"[`{sample}`](../{sample}):"]
    else:
        body = str(own["example_yaml"]).rstrip("\n")
    out += ["", "```yaml", body, "```"]
    return "\n".join(out)


def _fill(value: str) -> str:
    return value.format_map(_constants())


def _subscriber_event(reason: str) -> str:
    """The subscriber events a reason's notices become (from the code's own mapping)."""
    plain = event_of(reason)
    first = event_of(reason, 0, None)
    resolved = event_of(reason, 1, "Resolved")
    if plain is None:
        return ""
    said = [code(str(plain))]
    if first != plain and first is not None:
        said.append(f"{code(str(first))} for the first update")
    if resolved != plain and resolved is not None:
        said.append(f"{code(str(resolved))} for an update with status `Resolved`")
    return ", ".join(said)


def reasons_section(notes: JsonObject) -> str:
    """All reasons: conditions and Events, what they mean, what subscribers hear of them."""
    rows = []
    for name in [str(r) for r in Reason]:
        entry = notes["reasons"][name]
        rows.append(
            [
                code(name),
                entry.get("condition") or "",
                entry.get("event") or "",
                ", ".join(entry["kinds"]),
                _subscriber_event(name),
                text(_fill(entry["when"])),
            ]
        )
    header = ["Reason", "Condition", "Event", "Kinds", "Subscriber event", "When"]
    messages = [
        [code(name), code(str(notes["reasons"][name]["message"]))]
        for name in [str(r) for r in Reason]
        if notes["reasons"][name].get("message")
    ]
    out = [
        "## Reasons",
        "",
        "One vocabulary for condition reasons and Events, so that you can grep for it.",
        "",
        table(header, rows),
        "",
        "Messages look like this:",
        "",
        table(["Reason", "Example message"], messages),
    ]
    return "\n".join(out)


def subscriber_events_section(notes: JsonObject, crds: Sequence[JsonObject]) -> str:
    """The events a Subscriber can ask for, with the default and the catch-up rule."""
    sources: dict[str, list[str]] = {}
    for name in [str(r) for r in Reason]:
        for index, status in ((None, None), (0, None), (1, "Resolved")):
            found = event_of(name, index, status)
            if found is not None and name not in sources.setdefault(str(found), []):
                sources[str(found)].append(name)
    default = _crd_events_default(crds)
    if default is not None and set(default) != {str(e) for e in DEFAULT_EVENTS}:
        raise ReferenceError(
            "Subscriber spec.events: the CRD's default differs from the code's DEFAULT_EVENTS"
        )
    rows = [
        [
            code(str(event)),
            ", ".join(code(r) for r in sources.get(str(event), [])),
            "yes" if event in DEFAULT_EVENTS else "no",
            text(_fill(notes["notification_events"][str(event)])),
        ]
        for event in NotificationEvent
    ]
    out = [
        "## Subscriber events",
        "",
        "What a Subscriber can ask for in `spec.events`. Each comes from a notice of the reason "
        "shown (the same record as the Event). After downtime a notice is sent late only until "
        "the deadline in the last column; see [Notifications](behaviour.md#notifications).",
        "",
        table(["Event", "From reason", "In the default", "Sent late until"], rows),
    ]
    return "\n".join(out)


def _crd_events_default(crds: Sequence[JsonObject]) -> list[str] | None:
    for crd in crds:
        if crd["spec"]["names"]["kind"] == "Subscriber":
            spec = schema_of(crd)["properties"]["spec"]
            default = spec["properties"].get("events", {}).get("default")
            return None if default is None else [str(d) for d in default]
    return None


def render(root: Path = REPO_ROOT, notes_path: Path = NOTES) -> str:
    """The whole reference, as Markdown."""
    crds = load_crds(root)
    notes = load_notes(notes_path)
    kinds = [str(crd["spec"]["names"]["kind"]) for crd in crds]
    check_notes(notes, kinds)
    contents = [f"- [{k}](#{anchor(k)})" for k in kinds]
    contents += ["- [Conditions](#conditions)", "- [Reasons](#reasons)", "- [Events](#events)"]
    contents += ["- [Subscriber events](#subscriber-events)"]
    parts = [
        "<!-- Generated by tests/tools/reference.py from crds/*.yaml and "
        "tests/tools/reference.yaml. Do not edit: change those, then run `make docs`. -->",
        "",
        "# API reference",
        "",
        notes["intro"].strip(),
        "",
        "\n".join(contents),
    ]
    for crd in crds:
        parts += ["", kind_section(crd, notes, root)]
    parts += ["", "## Conditions", "", notes["conditions"].strip()]
    parts += ["", reasons_section(notes)]
    parts += ["", "## Events", "", _fill(notes["events"].strip())]
    parts += ["", subscriber_events_section(notes, crds)]
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write docs/reference.md, or with --check say whether it is up to date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 with a diff if stale"
    )
    parser.add_argument("--output", type=Path, default=OUTPUT, help="default: docs/reference.md")
    args = parser.parse_args(argv)
    try:
        wanted = render()
    except (ReferenceError, OSError) as error:
        print(f"reference.py: {error}", file=sys.stderr)
        return 2
    output: Path = args.output
    current = output.read_text(encoding="utf-8") if output.exists() else ""
    if args.check:
        if current == wanted:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            wanted.splitlines(keepends=True),
            fromfile=f"{output} (as it is)",
            tofile=f"{output} (from the CRDs)",
        )
        sys.stdout.writelines(diff)
        print(f"{output} is stale: run `make docs`", file=sys.stderr)
        return 1
    if current != wanted:
        output.write_text(wanted, encoding="utf-8")
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
