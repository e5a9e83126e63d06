"""The install base (`kubectl kustomize manifests`) and the image recipe, without a cluster.

tests/e2e/test_rbac.py applies the same base to a real API server; here, each promise the base
makes is checked on its rendered output: what it contains, and the security settings it must keep.
"""

from __future__ import annotations

import ast
import functools
import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from statuspage_operator.control.notifications.egress import EgressPolicy, RefusedError
from unit.crd_schema import KINDS, REPO_ROOT, SAMPLES_DIR, kustomize

JsonObject = dict[str, Any]

BASE_DIR = REPO_ROOT / "manifests"
NAMESPACE = "statuspage-system"
NAME = "statuspage-operator"
SERVICE_ACCOUNT_USER = f"system:serviceaccount:{NAMESPACE}:{NAME}"
PLURALS = ["statuspages", "components", "maintenancewindows", "statusincidents"]
LIVENESS_URL = "http://0.0.0.0:8080/healthz"
SPEC_GUARD_MESSAGE = (
    "the statuspage operator may not write spec; spec belongs to the user and to Git"
)


@functools.cache
def _base() -> tuple[JsonObject, ...]:
    return tuple(kustomize(BASE_DIR))


def base() -> list[JsonObject]:
    """The rendered base, rendered once per session."""
    return list(_base())


def one(kind: str, name: str = NAME) -> JsonObject:
    """The only object of a kind and name in the base."""
    found = [d for d in base() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} named {name}"
    return found[0]


def pod_spec() -> JsonObject:
    """The Deployment's pod template spec."""
    spec: JsonObject = one("Deployment")["spec"]["template"]["spec"]
    return spec


def container() -> JsonObject:
    """The operator's container."""
    [only] = pod_spec()["containers"]
    result: JsonObject = only
    return result


# --- contents -----------------------------------------------------------------------------------


def test_base_includes_the_four_crds() -> None:
    """The base installs the CRDs of our four kinds, Subscriber and PublicationPolicy."""
    crds = [d for d in base() if d["kind"] == "CustomResourceDefinition"]
    kinds = sorted(c["spec"]["names"]["kind"] for c in crds)
    assert kinds == sorted([*KINDS, "Subscriber", "PublicationPolicy"])


def test_cluster_role_only_reads_publication_policies() -> None:
    """PublicationPolicies are the cluster admin's: the operator reads them, never writes."""
    rules = [r for r in one("ClusterRole")["rules"] if "publicationpolicies" in r["resources"]]
    assert [(r["resources"], r["verbs"]) for r in rules] == [
        (["publicationpolicies"], ["list", "watch"])
    ]


def test_base_contains_no_samples() -> None:
    """No StatusPage, Component, window or incident: the samples are applied separately."""
    assert [d["kind"] for d in base() if d["kind"] in KINDS] == []


def test_base_contains_exactly_the_install() -> None:
    """Namespace, the operator (ServiceAccount, RBAC with the Secrets' ClusterRole and the lease
    Role, Deployment, policy, egress NetworkPolicy), the public page server (ServiceAccount,
    read-only ClusterRole and binding, the feed key's Role and binding, Deployment, Service) and
    the alerts receiver (ServiceAccount, ClusterRole and the Secrets' one with their bindings,
    Deployment, Service, ingress NetworkPolicy) and the sign-up form (its Namespace,
    ServiceAccount, ClusterRole and Role with their bindings, admission policy and binding,
    Deployment, Service, NetworkPolicy).
    """
    kinds = sorted(d["kind"] for d in base() if d["kind"] != "CustomResourceDefinition")
    assert kinds == sorted(
        ["ClusterRole"] * 6
        + ["ClusterRoleBinding"] * 6
        + ["Deployment"] * 4
        + ["Namespace"] * 2
        + ["NetworkPolicy"] * 3
        + ["Role"] * 4
        + ["RoleBinding"] * 4
        + ["Service"] * 3
        + ["ServiceAccount"] * 4
        + ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"] * 2
    )


def test_namespace_enforces_restricted_pod_security() -> None:
    """statuspage-system enforces the restricted Pod Security Standard."""
    labels = one("Namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("kind", ["ServiceAccount", "Deployment"])
def test_namespaced_objects_live_in_the_operator_namespace(kind: str) -> None:
    """The ServiceAccount and the Deployment are in statuspage-system."""
    assert one(kind)["metadata"]["namespace"] == NAMESPACE


def test_samples_contain_no_namespace() -> None:
    """`kubectl kustomize manifests/samples` creates no Namespace: the user picks one."""
    rendered = kustomize(SAMPLES_DIR)
    assert rendered
    assert "Namespace" not in {d["kind"] for d in rendered}


# --- RBAC ---------------------------------------------------------------------------------------


def test_cluster_role_binding_binds_the_service_account() -> None:
    """The ClusterRoleBinding gives the ClusterRole to the operator's ServiceAccount, only."""
    binding = one("ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": NAME,
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]


def test_cluster_role_has_no_wildcards() -> None:
    """No rule of the ClusterRole uses `*` for groups, resources or verbs."""
    for rule in one("ClusterRole")["rules"]:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule.get(field, []), rule


def test_secrets_have_a_cluster_role_of_their_own() -> None:
    """Secrets: `get` only (by name, a Subscriber's), in their own ClusterRole, never list,
    watch or write; the operator's main ClusterRole names no Secret."""
    assert one("ClusterRole", f"{NAME}-secrets")["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
    ]
    assert not [r for r in one("ClusterRole")["rules"] if "secrets" in r["resources"]]
    binding = one("ClusterRoleBinding", f"{NAME}-secrets")
    assert binding["roleRef"]["name"] == f"{NAME}-secrets"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]


def test_cluster_role_creates_and_deletes_only_incidents() -> None:
    """On our kinds the operator may list and watch; patch (its finalizer) only windows and
    incidents, the two kinds that carry it; create and delete only incidents (its own drafts, as
    the spec guard holds it to), and delete Subscribers (only the public's, bounced: the spec
    guard again); status by patch only."""
    verbs: dict[str, set[str]] = {}
    for rule in one("ClusterRole")["rules"]:
        if rule["apiGroups"] == ["statuspage.dev"]:
            for resource in rule["resources"]:
                verbs.setdefault(resource, set()).update(rule["verbs"])
    main = {plural: verbs.pop(plural) for plural in [*PLURALS, "subscribers"]}
    assert main == {
        "statuspages": {"list", "watch"},
        "components": {"list", "watch"},
        "maintenancewindows": {"list", "watch", "patch"},
        "statusincidents": {"list", "watch", "patch", "create", "delete"},
        "subscribers": {"list", "watch", "delete"},
    }
    assert verbs.pop("publicationpolicies") == {"list", "watch"}
    assert verbs == {f"{plural}/status": {"patch"} for plural in [*PLURALS, "subscribers"]}


def test_events_are_created_and_only_their_digest_raised() -> None:
    """Events: core/v1 only; create (fixed names: a repeat is a conflict), and get and patch for
    the count of an hour's ChangesCoalesced digest (k8s/client.py fold_event); never list."""
    rules = [r for r in one("ClusterRole")["rules"] if "events" in r["resources"]]
    assert rules == [
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "get", "patch"]}
    ]


def test_spec_guard_matches_updates_of_the_main_resources() -> None:
    """The policy matches UPDATE of our four kinds' main resources, not their status, and CREATE
    and DELETE of incidents (the only kind the operator may create and delete)."""
    policy = one("ValidatingAdmissionPolicy", "statuspage-operator-spec-guard")["spec"]
    [updates, lifecycle, subscribers] = policy["matchConstraints"]["resourceRules"]
    assert updates["apiGroups"] == lifecycle["apiGroups"] == ["statuspage.dev"]
    assert updates["operations"] == ["UPDATE"]
    assert sorted(updates["resources"]) == sorted(PLURALS)
    assert lifecycle["operations"] == ["CREATE", "DELETE"]
    assert lifecycle["resources"] == ["statusincidents"]
    assert subscribers["operations"] == ["DELETE"]
    assert subscribers["resources"] == ["subscribers"]
    assert policy["failurePolicy"] == "Fail"


def test_spec_guard_applies_to_the_operator_only() -> None:
    """The policy's match condition names the ServiceAccount of the base and the test user."""
    policy = one("ValidatingAdmissionPolicy", "statuspage-operator-spec-guard")["spec"]
    [condition] = policy["matchConditions"]
    names = set(re.findall(r"request\.userInfo\.username == '([^']+)'", condition["expression"]))
    assert names == {SERVICE_ACCOUNT_USER, "statuspage-operator"}


def test_spec_guard_denies_spec_changes() -> None:
    """The policy's first validation keeps spec as it was, with the documented message, except
    on incidents labelled as the operator's; the others hold the labels (its own settled label
    on windows only) and creation/deletion.
    (tests/e2e/test_rbac.py asks a real API server what they allow.)"""
    policy = one("ValidatingAdmissionPolicy", "statuspage-operator-spec-guard")["spec"]
    spec, label, labels, settled, create, delete, public = policy["validations"]
    assert "object.spec == oldObject.spec" in spec["expression"]
    assert "k == 'statuspage.dev/settled'" in labels["expression"]
    assert "request.resource.resource == 'maintenancewindows'" in settled["expression"]
    assert "variables.before == 'statuspage-operator'" in spec["expression"]
    assert spec["message"] == SPEC_GUARD_MESSAGE
    assert label["expression"] == (
        "request.operation != 'UPDATE' || variables.before == variables.after"
    )
    assert "CREATE" in create["expression"]
    assert "DELETE" in delete["expression"]
    assert "oldObject.spec.origin == 'Public'" in public["expression"]
    assert all(v["reason"] == "Forbidden" for v in policy["validations"])


def test_mail_secrets_are_read_by_name_only() -> None:
    """The mail Role: `get` on the relay and key Secrets of statuspage-signups, by name, bound to
    the operator's ServiceAccount; nothing else."""
    role = one("Role", f"{NAME}-mail")
    assert role["metadata"]["namespace"] == "statuspage-signups"
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["statuspage-mail-relay", "statuspage-subscription-key"],
            "verbs": ["get"],
        }
    ]
    binding = one("RoleBinding", f"{NAME}-mail")
    assert binding["roleRef"]["name"] == f"{NAME}-mail"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]


def test_deployment_names_the_mail_secrets() -> None:
    """The operator is run with the relay and key Secrets the mail Role names."""
    args = one("Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--mail-secret=statuspage-signups/statuspage-mail-relay" in args
    assert "--subscription-key-secret=statuspage-signups/statuspage-subscription-key" in args
    assert any(a.startswith("--signup-url=https://") for a in args)


def test_spec_guard_binding_denies() -> None:
    """The binding enforces the policy (Deny), cluster-wide."""
    binding = one("ValidatingAdmissionPolicyBinding", "statuspage-operator-spec-guard")["spec"]
    assert binding["policyName"] == "statuspage-operator-spec-guard"
    assert binding["validationActions"] == ["Deny"]
    assert "matchResources" not in binding


# --- Deployment ---------------------------------------------------------------------------------


def test_deployment_runs_two_replicas_with_leader_election() -> None:
    """Two replicas, one active: they elect a leader on a Lease in their own namespace."""
    spec = one("Deployment")["spec"]
    assert spec["replicas"] == 2
    assert "--leader-elect" in container()["args"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container()["env"]}
    assert env == {"POD_NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"}


def test_lease_role_is_namespaced_and_minimal() -> None:
    """Leases only, in the operator's namespace, bound to its ServiceAccount; reading and
    renewing only the Lease the Deployment uses (create cannot be limited by name)."""
    role = one("Role", "statuspage-operator-leader-election")
    assert role["metadata"]["namespace"] == "statuspage-system"
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["statuspage-operator"],
            "verbs": ["get", "update"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    ]
    subjects = one("RoleBinding", "statuspage-operator-leader-election")["subjects"]
    assert subjects == [{"kind": "ServiceAccount", "name": NAME, "namespace": "statuspage-system"}]


def test_lease_name_is_the_operators_default() -> None:
    """The Deployment passes no `--leader-election-id`, so the Lease is the one the Role names."""
    assert not any(a.startswith("--leader-election-id") for a in container()["args"])
    assert (
        flag_default(REPO_ROOT / "operator/statuspage_operator/main.py", "--leader-election-id")
        == "statuspage-operator"
    )


def flag_default(source: Path, flag: str) -> object:
    """The `default=` of an `add_argument(flag, ...)` call in a module, read from its syntax
    (importing main.py would keep the kubernetes client out of this test process)."""
    for node in ast.walk(ast.parse(source.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument"
            and any(isinstance(a, ast.Constant) and a.value == flag for a in node.args)
        ):
            for keyword in node.keywords:
                if keyword.arg == "default":
                    return ast.literal_eval(keyword.value)
    raise LookupError(flag)


def test_deployment_runs_as_the_service_account() -> None:
    """The pod uses the operator's ServiceAccount."""
    assert pod_spec()["serviceAccountName"] == NAME


def _network_policy() -> JsonObject:
    return one("NetworkPolicy", f"{NAME}-egress")


def test_egress_policy_selects_the_operator_s_pods_for_egress_only() -> None:
    """The NetworkPolicy applies to the Deployment's pods, and restricts egress, not ingress."""
    policy = _network_policy()["spec"]
    labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["policyTypes"] == ["Egress"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert _network_policy()["metadata"]["namespace"] == NAMESPACE


def test_egress_policy_allows_dns_to_the_cluster_resolver() -> None:
    """Port 53 over UDP and TCP, to kube-dns in kube-system only."""
    [dns] = [
        r
        for r in _network_policy()["spec"]["egress"]
        if {"port": 53, "protocol": "UDP"} in r.get("ports", [])
    ]
    assert {"port": 53, "protocol": "TCP"} in dns["ports"]
    [peer] = dns["to"]
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"
    }
    assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "2606:2800:220:1::1",
        "127.0.0.1",
        "10.96.0.1",
        "100.64.0.1",
        "169.254.169.254",
        "172.16.0.1",
        "192.168.1.1",
        "224.0.0.1",
        "::1",
        "::ffff:10.0.0.1",
        "fd00::1",
        "fe80::1",
    ],
)
def test_egress_policy_opens_to_what_the_operator_would_send_to(address: str) -> None:
    """The ipBlock rule admits an address (on any port) exactly when the operator's default
    egress rules would send to it: the network and the code draw the same line. An IPv4-mapped
    IPv6 address leaves as IPv4 (and an ipBlock may not name one), so the network sees that."""
    ip = ipaddress.ip_address(address)
    on_the_wire = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    blocks = [
        peer["ipBlock"]
        for rule in _network_policy()["spec"]["egress"]
        if "ports" not in rule
        for peer in rule["to"]
        if "ipBlock" in peer
    ]
    sent = on_the_wire or ip
    admitted = any(
        sent in ipaddress.ip_network(block["cidr"])
        and not any(sent in ipaddress.ip_network(e) for e in block.get("except", []))
        for block in blocks
        if ipaddress.ip_network(block["cidr"]).version == sent.version
    )
    try:
        EgressPolicy().check_address(ip)
        sends = True
    except RefusedError:
        sends = False
    assert admitted == sends


def test_deployment_serves_liveness() -> None:
    """The operator is started with kopf's liveness endpoint."""
    assert f"--liveness={LIVENESS_URL}" in container()["args"]


def test_deployment_image_is_pinned() -> None:
    """The image is the placeholder name with a version tag, never `latest`."""
    assert container()["image"] == "ghcr.io/statuspage-operator/statuspage-operator:0.1.0"


def test_image_reference_is_set_in_one_place() -> None:
    """Both Deployments name the image untagged; the kustomization's `images:` tags it, so one
    `kustomize edit set image` points the operator, the page server and the receiver at a build."""
    name = "ghcr.io/statuspage-operator/statuspage-operator"
    kustomization = yaml.safe_load((BASE_DIR / "kustomization.yaml").read_text())
    assert kustomization["images"] == [{"name": name, "newTag": "0.1.0"}]
    for path in ("deployment/deployment.yaml", "server/deployment.yaml", "alerts/deployment.yaml"):
        [deployment] = yaml.safe_load_all((BASE_DIR / path).read_text())
        [spec] = deployment["spec"]["template"]["spec"]["containers"]
        assert spec["image"] == name, path
    images = {
        c["image"]
        for d in base()
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {f"{name}:0.1.0"}


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        pytest.param("runAsNonRoot", True, id="non-root"),
        pytest.param("runAsUser", 65532, id="uid"),
        pytest.param("runAsGroup", 65532, id="gid"),
        pytest.param("seccompProfile", {"type": "RuntimeDefault"}, id="seccomp"),
    ],
)
def test_pod_security_context(field: str, expected: object) -> None:
    """The pod runs as uid/gid 65532, non-root, with the RuntimeDefault seccomp profile."""
    assert pod_spec()["securityContext"][field] == expected


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        pytest.param("readOnlyRootFilesystem", True, id="read-only-root"),
        pytest.param("allowPrivilegeEscalation", False, id="no-escalation"),
        pytest.param("capabilities", {"drop": ["ALL"]}, id="no-capabilities"),
    ],
)
def test_container_security_context(field: str, expected: object) -> None:
    """The container has a read-only root, no privilege escalation, no capabilities."""
    assert container()["securityContext"][field] == expected


def test_container_settings_do_not_undo_the_pod_settings() -> None:
    """The container does not override the pod's user or seccomp profile."""
    overridden = {"runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile", "privileged"}
    assert overridden.isdisjoint(container()["securityContext"])


def test_tmp_is_a_writable_empty_dir() -> None:
    """/tmp is an emptyDir: the root file system is read-only."""
    [mount] = container()["volumeMounts"]
    assert mount["mountPath"] == "/tmp"
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    assert "emptyDir" in volumes[mount["name"]]


def test_resources_request_and_limit_memory_without_a_cpu_limit() -> None:
    """Requests 100m CPU and 128Mi; limit 320Mi memory and no CPU limit (no throttling)."""
    assert container()["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "320Mi"},
    }


@pytest.mark.parametrize("probe", ["startupProbe", "livenessProbe", "readinessProbe"])
def test_probes_hit_the_liveness_endpoint(probe: str) -> None:
    """Every probe GETs /healthz on the port the liveness endpoint listens on."""
    ports = {p["name"]: p["containerPort"] for p in container()["ports"]}
    get = container()[probe]["httpGet"]
    assert get["path"] == "/healthz"
    assert ports[get["port"]] == 8080


# --- image --------------------------------------------------------------------------------------


def test_dockerfile_pins_python_by_version() -> None:
    """Both stages build FROM the official python:3.11.<patch>-slim-<debian>, fully qualified
    (buildah and podman resolve no short names without asking), never a floating tag."""
    text = (REPO_ROOT / "Dockerfile").read_text()
    [image] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert re.fullmatch(r"docker\.io/library/python:3\.11\.\d+-slim-[a-z]+", image)
    assert re.findall(r"^FROM (\S+)", text, re.MULTILINE) == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]


def test_dockerfile_runs_the_operator_as_the_pod_user() -> None:
    """The image's user is 65532, as in the Deployment, and its entry point is the operator."""
    text = (REPO_ROOT / "Dockerfile").read_text()
    assert re.findall(r"^USER (\S+)$", text, re.MULTILINE) == ["65532:65532"]
    assert re.findall(r"^ENTRYPOINT (.+)$", text, re.MULTILINE) == ['["statuspage-operator"]']


def test_lock_pins_every_runtime_dependency() -> None:
    """requirements.lock pins each dependency of pyproject.toml exactly, within its range."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (REPO_ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    for dependency in map(Requirement, project["dependencies"]):
        version = pins[re.sub(r"[-_.]+", "-", dependency.name).lower()]
        assert dependency.specifier.contains(version), (dependency, version)


# --- GitOps snippets ----------------------------------------------------------------------------


def test_flux_health_covers_each_kind_alike() -> None:
    """flux-health.yaml has one entry per kind, all with the same three expressions."""
    kustomization = yaml.safe_load((BASE_DIR / "gitops" / "flux-health.yaml").read_text())
    entries = kustomization["spec"]["healthCheckExprs"]
    assert sorted(e["kind"] for e in entries) == sorted(KINDS)
    assert {e["apiVersion"] for e in entries} == {"statuspage.dev/v1alpha1"}
    exprs = {(e["inProgress"], e["failed"], e["current"]) for e in entries}
    assert len(exprs) == 1
