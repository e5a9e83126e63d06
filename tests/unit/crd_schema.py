"""The CRDs in crds/ as test helpers: load them, and validate objects as the API server would.

The API server validates against an OpenAPI v3 schema with Kubernetes extensions; jsonschema does
not know those, so `to_json_schema` converts one. It is close enough to catch what samples and
tests get wrong (unknown enum values, missing or unknown fields, bounds, RFC 3339 times); CEL rules
(`x-kubernetes-validations`) and list-type invariants need a real API server (tests/e2e).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "crds"
SAMPLES_DIR = REPO_ROOT / "manifests" / "samples"

GROUP = "statuspage.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KINDS = ("StatusPage", "Component", "MaintenanceWindow", "StatusIncident")

JsonObject = dict[str, Any]

# The fields of ObjectMeta a printer column may name; a CRD's schema leaves metadata opaque.
_TIMESTAMP: JsonObject = {"type": "string", "format": "date-time"}
_STRING: JsonObject = {"type": "string"}
OBJECT_META_FIELDS: Mapping[str, JsonObject] = {
    "name": _STRING,
    "namespace": _STRING,
    "uid": _STRING,
    "resourceVersion": _STRING,
    "generation": {"type": "integer", "format": "int64"},
    "creationTimestamp": _TIMESTAMP,
    "deletionTimestamp": _TIMESTAMP,
    "labels": {"type": "object", "additionalProperties": _STRING},
    "annotations": {"type": "object", "additionalProperties": _STRING},
}


def load_documents(path: Path) -> list[JsonObject]:
    """Return the non-empty YAML documents of a file."""
    with path.open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


def crd_files() -> list[Path]:
    """Return the CRD files, one per kind."""
    return sorted(CRD_DIR.glob(f"{GROUP}_*.yaml"))


@functools.cache
def _crds_by_kind() -> Mapping[str, JsonObject]:
    crds: dict[str, JsonObject] = {}
    for path in crd_files():
        for doc in load_documents(path):
            crds[doc["spec"]["names"]["kind"]] = doc
    return crds


def load_crd(kind: str) -> JsonObject:
    """Return the CustomResourceDefinition of a kind, e.g. "StatusIncident"."""
    return _crds_by_kind()[kind]


def crd_version(kind: str) -> JsonObject:
    """Return the v1alpha1 entry of a kind's CRD versions."""
    versions = load_crd(kind)["spec"]["versions"]
    return next(version for version in versions if version["name"] == VERSION)


def openapi_schema(kind: str) -> JsonObject:
    """Return the openAPIV3Schema of a kind, as written in the CRD."""
    schema: JsonObject = crd_version(kind)["schema"]["openAPIV3Schema"]
    return schema


def to_json_schema(openapi: JsonObject) -> JsonObject:
    """Convert a CRD's OpenAPI v3 schema into a JSON Schema (draft 2020-12).

    Drops the x-kubernetes-* extensions, turns `nullable` into a "null" type, and forbids fields
    the schema does not declare: the API server would prune them, and kubectl's default strict
    field validation rejects them.
    """
    converted: JsonObject = {}
    for key, value in openapi.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "properties":
            converted[key] = {name: to_json_schema(prop) for name, prop in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            converted[key] = to_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            converted[key] = [to_json_schema(sub) for sub in value]
        else:
            converted[key] = value
    if openapi.get("nullable"):
        if "type" in converted:
            converted["type"] = [converted["type"], "null"]
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
    if (
        "properties" in openapi
        and "additionalProperties" not in openapi
        and not openapi.get("x-kubernetes-preserve-unknown-fields")
    ):
        converted["additionalProperties"] = False
    return converted


@functools.cache
def _validator(kind: str) -> Draft202012Validator:
    schema = to_json_schema(openapi_schema(kind))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def validation_errors(obj: JsonObject) -> list[str]:
    """Return what is wrong with a custom object per its kind's schema; empty when nothing is."""
    validator = _validator(obj["kind"])
    return [
        f"{'.'.join(str(part) for part in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(obj), key=lambda error: error.json_path)
    ]


def walk(schema: JsonObject, path: str = "") -> Iterator[tuple[str, JsonObject]]:
    """Yield (path, node) for every node of a schema, depth first, the root as ""."""
    yield path, schema
    for name, prop in schema.get("properties", {}).items():
        yield from walk(prop, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")


_JSONPATH_TOKEN = re.compile(
    r"""\.(?P<field>[A-Za-z_][A-Za-z0-9_]*)          # .field
      | \[\?\(@\.(?P<filter>[A-Za-z_][A-Za-z0-9_]*)  # [?(@.field=="value")]
          \s*==\s*(?:"[^"]*"|'[^']*')\)\]
      | \[(?:\*|\d+)\]                               # [*] or [0]
    """,
    re.VERBOSE,
)


def resolve_json_path(schema: JsonObject, json_path: str) -> JsonObject:
    """Return the schema node a printer column's jsonPath names; raise KeyError if none does.

    Understands the subset printer columns use: `.a.b`, `[*]`, `[0]` and `[?(@.type=="Ready")]`.
    """
    node = schema
    position = 0
    while position < len(json_path):
        match = _JSONPATH_TOKEN.match(json_path, position)
        if match is None:
            raise KeyError(f"{json_path}: cannot parse from {json_path[position:]!r}")
        position = match.end()
        if match["field"] is not None:
            if node is schema.get("properties", {}).get("metadata"):
                if match["field"] not in OBJECT_META_FIELDS:
                    raise KeyError(f"{json_path}: metadata has no {match['field']!r}")
                node = OBJECT_META_FIELDS[match["field"]]
                continue
            properties = node.get("properties", {})
            if match["field"] not in properties:
                raise KeyError(f"{json_path}: no field {match['field']!r}")
            node = properties[match["field"]]
            continue
        if node.get("type") != "array":
            raise KeyError(f"{json_path}: indexes {node.get('type')}, not an array")
        node = node["items"]
        if match["filter"] is not None and match["filter"] not in node.get("properties", {}):
            raise KeyError(f"{json_path}: items have no field {match['filter']!r}")
    return node


def kubectl() -> str:
    """Return the kubectl binary of this virtualenv, else the one on PATH."""
    beside_python = Path(sys.executable).parent / "kubectl"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("kubectl")
    if found is None:
        raise FileNotFoundError("kubectl: not in the virtualenv nor on PATH")
    return found


def kustomize(directory: Path) -> list[JsonObject]:
    """Return the objects `kubectl kustomize` renders from a directory."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]
