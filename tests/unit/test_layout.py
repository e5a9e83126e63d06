"""The test tree: `make test` collects tests/unit and tests/e2e in one pytest run."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_test_module_name_is_both_unit_and_e2e() -> None:
    """pytest imports test modules by their base name (no packages): one name in both folders
    stops the whole run at collection, though each folder alone passes."""
    unit = {path.name for path in (TESTS / "unit").glob("test_*.py")}
    e2e = {path.name for path in (TESTS / "e2e").glob("test_*.py")}
    assert len(unit) > 10
    assert len(e2e) > 10
    assert unit & e2e == set()
