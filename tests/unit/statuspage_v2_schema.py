"""JSON Schemas of Statuspage's public API v2 responses, from its published examples.

Every key of the examples is required (clients index them without checking); enums are
Statuspage's snake_case; timestamps are ISO 8601 with an offset.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

JsonObject = dict[str, Any]

_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_ID = {"type": "string", "pattern": "^[a-z0-9]{12}$"}


def _strict(properties: JsonObject, **extra: Any) -> JsonObject:
    return {
        "type": "object",
        "required": sorted(properties),
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


PAGE = _strict(
    {
        "id": _ID,
        "name": {"type": "string"},
        "url": {"type": "string"},
        "time_zone": {"type": "string"},
        "updated_at": _TIME,
    }
)
STATUS = _strict(
    {
        "indicator": {"enum": ["none", "minor", "major", "critical", "maintenance"]},
        "description": {"type": "string"},
    }
)
COMPONENT_STATUS = {
    "enum": [
        "operational",
        "degraded_performance",
        "partial_outage",
        "major_outage",
        "under_maintenance",
    ]
}
_COMPONENT_FIELDS: JsonObject = {
    "id": _ID,
    "name": {"type": "string"},
    "status": COMPONENT_STATUS,
    "created_at": _TIME,
    "updated_at": _TIME,
    "position": {"type": ["integer", "null"]},
    "description": {"type": ["string", "null"]},
    "showcase": {"type": "boolean"},
    "start_date": {"type": ["string", "null"], "format": "date"},
    "group_id": {"anyOf": [_ID, {"type": "null"}]},
    "page_id": _ID,
    "group": {"type": "boolean"},
    "only_show_if_degraded": {"type": "boolean"},
}
_UPTIME = _strict(
    {
        "percent": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
        "days": {
            "type": "array",
            "minItems": 90,
            "maxItems": 90,
            "items": _strict(
                {
                    "date": {"type": "string", "format": "date"},
                    "percent": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
                    "status": {"anyOf": [COMPONENT_STATUS, {"type": "null"}]},
                }
            ),
        },
    }
)
COMPONENT = {
    "oneOf": [
        _strict({**_COMPONENT_FIELDS, "group": {"const": False}}),
        _strict({**_COMPONENT_FIELDS, "group": {"const": False}, "uptime": _UPTIME}),
        _strict(
            {
                **_COMPONENT_FIELDS,
                "group": {"const": True},
                "components": {"type": "array", "items": _ID},
            }
        ),
    ]
}
AFFECTED = _strict(
    {
        "code": _ID,
        "name": {"type": "string"},
        "old_status": COMPONENT_STATUS,
        "new_status": COMPONENT_STATUS,
    }
)


def _update(statuses: list[str]) -> JsonObject:
    return _strict(
        {
            "id": _ID,
            "status": {"enum": statuses},
            "body": {"type": "string"},
            "incident_id": _ID,
            "created_at": _TIME,
            "updated_at": _TIME,
            "display_at": _TIME,
            "affected_components": {
                "anyOf": [{"type": "array", "items": AFFECTED}, {"type": "null"}]
            },
            "deliver_notifications": {"type": "boolean"},
            "custom_tweet": {"type": ["string", "null"]},
            "tweet_id": {"type": ["string", "null"]},
        }
    )


_INCIDENT_STATUSES = ["investigating", "identified", "monitoring", "resolved", "postmortem"]
_MAINTENANCE_STATUSES = ["scheduled", "in_progress", "verifying", "completed"]
_INCIDENT_FIELDS: JsonObject = {
    "id": _ID,
    "name": {"type": "string"},
    "status": {"enum": _INCIDENT_STATUSES},
    "created_at": _TIME,
    "updated_at": _TIME,
    "monitoring_at": _TIME_OR_NULL,
    "resolved_at": _TIME_OR_NULL,
    "impact": {"enum": ["none", "minor", "major", "critical"]},
    "shortlink": {"type": "string"},
    "started_at": _TIME,
    "page_id": _ID,
    "incident_updates": {"type": "array", "items": _update(_INCIDENT_STATUSES)},
    "components": {"type": "array", "items": COMPONENT},
}
INCIDENT = _strict(_INCIDENT_FIELDS)
MAINTENANCE = _strict(
    {
        **_INCIDENT_FIELDS,
        "status": {"enum": _MAINTENANCE_STATUSES},
        "impact": {"enum": ["none", "minor", "major", "critical", "maintenance"]},
        "incident_updates": {"type": "array", "items": _update(_MAINTENANCE_STATUSES)},
        "scheduled_for": _TIME,
        "scheduled_until": _TIME,
    }
)


def _list(key: str, item: JsonObject) -> JsonObject:
    return _strict({"page": PAGE, key: {"type": "array", "items": item}})


SCHEMAS: dict[str, JsonObject] = {
    "summary.json": _strict(
        {
            "page": PAGE,
            "components": {"type": "array", "items": COMPONENT},
            "incidents": {"type": "array", "items": INCIDENT},
            "scheduled_maintenances": {"type": "array", "items": MAINTENANCE},
            "status": STATUS,
        }
    ),
    "status.json": _strict({"page": PAGE, "status": STATUS}),
    "components.json": _list("components", COMPONENT),
    "incidents.json": _list("incidents", INCIDENT),
    "incidents/unresolved.json": _list("incidents", INCIDENT),
    "scheduled-maintenances.json": _list("scheduled_maintenances", MAINTENANCE),
    "scheduled-maintenances/upcoming.json": _list("scheduled_maintenances", MAINTENANCE),
    "scheduled-maintenances/active.json": _list("scheduled_maintenances", MAINTENANCE),
}


def schema_errors(endpoint: str, document: Any) -> list[str]:
    """What is wrong with a response of an endpoint; empty when it has the v2 shape."""
    validator = Draft202012Validator(SCHEMAS[endpoint], format_checker=FormatChecker())
    return [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(document)
    ]
