"""The RBAC manifests explain themselves, and the Secrets overlay narrows exactly one grant.

Every rule of every Role and ClusterRole has a comment right above it naming the code that needs
it, and each `module.py name` it names exists. tests/e2e/test_rbac_audit.py shows, from a real API
server's audit log, that each rule is used.
"""

from __future__ import annotations

import re
from pathlib import Path

import kopf
import pytest
import yaml

from e2e.grants import Grant, granted, service_account
from unit.crd_schema import REPO_ROOT, kustomize

RBAC_FILES = sorted(
    path
    for folder in ("manifests/rbac", "manifests/server", "manifests/alerts", "manifests/signup")
    for path in (REPO_ROOT / folder).glob("*.yaml")
    if any(
        doc and doc.get("kind") in ("Role", "ClusterRole")
        for doc in yaml.safe_load_all(path.read_text())
    )
)
PACKAGE = REPO_ROOT / "operator" / "statuspage_operator"
KOPF = Path(kopf.__file__).parent
# `path/to/module.py Name` or `module.py Class.method`: a file, then what it defines.
CODE = re.compile(r"([\w/]+\.py)(?:\s+([A-Za-z_]\w*(?:\.\w+)?))?")
RULE = re.compile(r"^(\s*)- apiGroups:")
OPERATOR = service_account("statuspage-system", "statuspage-operator")
OVERLAY = REPO_ROOT / "overlays" / "secrets-by-namespace"


def rule_comments(path: Path) -> list[tuple[int, str]]:
    """Each rule's line number and the comment lines right above it (joined)."""
    lines = path.read_text().splitlines()
    found = []
    for number, line in enumerate(lines):
        if not RULE.match(line):
            continue
        above: list[str] = []
        index = number - 1
        while index >= 0 and lines[index].strip().startswith("#"):
            above.insert(0, lines[index].strip().lstrip("#").strip())
            index -= 1
        found.append((number + 1, " ".join(above)))
    return found


def resolve(module: str) -> Path:
    """A module named in a comment: kopf's (kopf/...) or ours (relative to the package)."""
    if module.startswith("kopf/"):
        return KOPF / module.removeprefix("kopf/")
    return PACKAGE / module


@pytest.mark.parametrize("path", RBAC_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_rule_names_the_code_that_needs_it(path: Path) -> None:
    """A comment above each rule names at least one module of the operator or of kopf."""
    comments = rule_comments(path)
    assert comments, "no rules found"
    for line, comment in comments:
        assert CODE.search(comment), f"{path.name}:{line}: no code named above the rule"


@pytest.mark.parametrize("path", RBAC_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_named_code_exists(path: Path) -> None:
    """Each module a rule's comment names exists, and defines the name that follows it."""
    for line, comment in rule_comments(path):
        for module, name in CODE.findall(comment):
            source = resolve(module)
            assert source.is_file(), f"{path.name}:{line}: {module} does not exist"
            if name:
                defined = name.split(".")[-1]
                pattern = rf"^\s*(async def|def|class) {re.escape(defined)}\b"
                assert re.search(pattern, source.read_text(), re.MULTILINE), (
                    f"{path.name}:{line}: {module} defines no {defined}"
                )


def test_overlay_narrows_only_the_secrets() -> None:
    """The overlay grants `get` on Secrets in the listed namespaces instead of everywhere, and
    changes nothing else the operator may do."""
    base = granted(kustomize(REPO_ROOT / "manifests"), OPERATOR)
    narrowed = granted(kustomize(OVERLAY), OPERATOR)
    everywhere = Grant("", "secrets", "get")
    assert everywhere in base
    assert narrowed == (base - {everywhere}) | {
        Grant("", "secrets", "get", namespace="team-a"),
        Grant("", "secrets", "get", namespace="team-b"),
    }


def test_overlay_keeps_everything_else() -> None:
    """Apart from the bindings of the Secrets' ClusterRole, the overlay renders the base."""

    def key(doc: dict[str, object]) -> tuple[str, str, str]:
        meta = doc["metadata"]
        assert isinstance(meta, dict)
        return (str(doc["kind"]), str(meta.get("namespace", "")), str(meta["name"]))

    base = {key(d): d for d in kustomize(REPO_ROOT / "manifests")}
    overlay = {key(d): d for d in kustomize(OVERLAY)}
    removed = {k for k in base if k not in overlay}
    added = {k for k in overlay if k not in base}
    assert removed == {("ClusterRoleBinding", "", "statuspage-operator-secrets")}
    assert added == {
        ("RoleBinding", "team-a", "statuspage-operator-secrets"),
        ("RoleBinding", "team-b", "statuspage-operator-secrets"),
    }
    assert all(overlay[k] == base[k] for k in base.keys() & overlay.keys())
