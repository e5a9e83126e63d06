"""The plugin's API access: kubeconfig loading, the few calls it makes, and their errors.

Every failure leaves this module as a CliError with a one-line message and an exit code, so the
commands never see the Kubernetes client's exceptions (nor print its tracebacks).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, cast

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from statuspage_operator.api.names import GROUP, PLURALS, VERSION, Kind
from statuspage_operator.cli.errors import CliError, ExitCode

Object = dict[str, Any]

# Connect and read timeouts: a cluster that does not answer must not hang an incident responder.
TIMEOUT = (10, 60)
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"

# The client's kubeconfig functions carry no annotations; these are the signatures we rely on.
_list_contexts: Callable[..., tuple[list[dict[str, Any]], dict[str, Any]]] = (
    config.list_kube_config_contexts
)
_load_kube_config: Callable[..., None] = config.load_kube_config


def kubeconfig_path(explicit: str | None) -> str:
    """--kubeconfig, else $KUBECONFIG (a list of files, as kubectl has it), else the default."""
    return explicit or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def context_namespace(path: str, context: str | None) -> str:
    """The namespace of the chosen (or current) kubeconfig context, else `default`."""
    try:
        contexts, current = _list_contexts(config_file=path)
    except (config.ConfigException, OSError) as error:
        raise CliError(f"cannot load kubeconfig {path}: {error}", ExitCode.UNREACHABLE) from error
    chosen = (
        current
        if context is None
        else next((entry for entry in contexts or () if entry.get("name") == context), None)
    )
    if chosen is None and context is None:
        raise CliError(f"no current context in {path}; use --context", ExitCode.UNREACHABLE)
    if chosen is None:
        raise CliError(f'context "{context}" not found in {path}', ExitCode.UNREACHABLE)
    namespace = (chosen.get("context") or {}).get("namespace")
    return str(namespace) if namespace else "default"


def connect(path: str, context: str | None) -> client.ApiClient:
    """An API client for the kubeconfig's context (never in-cluster: this runs on a laptop)."""
    configuration = client.Configuration()
    try:
        _load_kube_config(config_file=path, context=context, client_configuration=configuration)
    except (config.ConfigException, OSError) as error:
        raise CliError(f"cannot load kubeconfig {path}: {error}", ExitCode.UNREACHABLE) from error
    return client.ApiClient(configuration)


def _server_message(error: ApiException) -> str:
    """The API server's own message (a metav1.Status), else the HTTP reason."""
    try:
        body = json.loads(error.body or "")
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return f"{error.status} {error.reason}".strip()


def server_refused(error: ApiException, host: str) -> CliError:
    """An error response that no caller explains better: unauthorized, forbidden, unreachable,
    else the API server's own message."""
    if error.status in (401, 403):
        label = "unauthorized" if error.status == 401 else "forbidden"
        return CliError(f"{label}: {_server_message(error)}")
    if not error.status:
        return CliError(f"cannot reach the cluster at {host}: {error.reason}", ExitCode.UNREACHABLE)
    return CliError(_server_message(error))


def _unreachable(error: urllib3.exceptions.HTTPError, host: str) -> CliError:
    reason = getattr(error, "reason", None) or error
    # urllib3 wraps the socket error in "<connection>: Failed to ...: [Errno 111] ...".
    detail = str(reason).rsplit(": ", 1)[-1]
    return CliError(f"cannot reach the cluster at {host}: {detail}", ExitCode.UNREACHABLE)


class Api:
    """Our custom objects in one namespace."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self._host = str(api_client.configuration.host)
        self.namespace = namespace

    def _call(self, kind: Kind, name: str | None, call: Callable[[], object]) -> Object:
        """Run one request for an object or a list; a failure leaves as a one-line CliError."""
        try:
            return cast(Object, call())
        except ApiException as error:
            raise self._refused(error, kind, name) from error
        except urllib3.exceptions.HTTPError as error:
            raise _unreachable(error, self._host) from error

    def _refused(self, error: ApiException, kind: Kind, name: str | None) -> CliError:
        """The message for an error response, as kubectl users expect it."""
        if error.status == 404 and name is not None:
            return CliError(f'{kind.lower()} "{name}" not found in namespace "{self.namespace}"')
        if error.status == 404:
            return CliError(f"the server has no {PLURALS[kind]}.{GROUP} (are the CRDs installed?)")
        return server_refused(error, self._host)

    def secret_data(self, namespace: str, name: str) -> dict[str, Any]:
        """A Secret's base64 data, read with the user's own rights; CliError if it cannot be."""
        try:
            secret = self._core.read_namespaced_secret(name, namespace, _request_timeout=TIMEOUT)
        except ApiException as error:
            if error.status == 404:
                raise CliError(f'secret "{name}" not found in namespace "{namespace}"') from error
            raise self._refused(error, Kind.PAGE, None) from error
        except urllib3.exceptions.HTTPError as error:
            raise _unreachable(error, self._host) from error
        return dict(secret.data or {})

    def get(self, kind: Kind, name: str) -> Object:
        """One object, or CliError "not found"."""
        return self._call(
            kind,
            name,
            lambda: self._custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURALS[kind], name, _request_timeout=TIMEOUT
            ),
        )

    def list(self, kind: Kind, page: str | None = None) -> list[Object]:
        """Every object of a kind in the namespace, or those whose spec.page is `page`.

        The page is a field selector (the CRDs' selectableFields), so the server sends only the
        page's objects. An API server older than selectable fields (before Kubernetes 1.31)
        refuses the selector: then everything is listed, and the caller filters.
        """

        def listing(selector: str | None) -> Object:
            return self._call(
                kind,
                None,
                lambda: self._custom.list_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    self.namespace,
                    PLURALS[kind],
                    field_selector=selector,
                    _request_timeout=TIMEOUT,
                ),
            )

        selector = None if page is None else f"spec.page={page}"
        try:
            listed = listing(selector)
        except CliError as error:
            if selector is None or not _unsupported_selector(error.__cause__):
                raise
            listed = listing(None)
        return list(listed.get("items") or [])

    def patch(self, kind: Kind, name: str, body: Any, content_type: str) -> Object:
        """A JSON patch (a list of operations) or a merge patch (an object)."""
        return self._call(
            kind,
            name,
            lambda: self._custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                PLURALS[kind],
                name,
                body,
                _content_type=content_type,
                _request_timeout=TIMEOUT,
            ),
        )

    def append_update(self, name: str, update: dict[str, str]) -> Object:
        """Append one update to an incident's spec.updates, atomically.

        The API server applies a JSON patch `add /spec/updates/-` to the stored object (retrying
        on conflicts itself), so concurrent appends never lose one another: there is no
        read-modify-write of the list here. If the list is absent (the CRD defaults it to [], so
        only an older schema leaves it out), it is created with the update, guarded by a `test`
        that it is still absent.
        """
        append = [{"op": "add", "path": "/spec/updates/-", "value": update}]
        try:
            return self.patch(Kind.INCIDENT, name, append, JSON_PATCH)
        except CliError as error:
            if not _did_not_apply(error.__cause__):
                raise
        create = [
            {"op": "test", "path": "/spec/updates", "value": None},
            {"op": "add", "path": "/spec/updates", "value": [update]},
        ]
        try:
            return self.patch(Kind.INCIDENT, name, create, JSON_PATCH)
        except CliError as error:
            if not _did_not_apply(error.__cause__):
                raise
            raise CliError(f"cannot append to spec.updates of statusincident/{name}") from error


def _unsupported_selector(error: BaseException | None) -> bool:
    """400 `field label not supported`: the server does not know the CRD's selectable fields."""
    return (
        isinstance(error, ApiException)
        and error.status == 400
        and "field label not supported" in _server_message(error)
    )


def _did_not_apply(error: BaseException | None) -> bool:
    """A JSON patch that does not apply (a missing path, a failed test): 422 without causes.

    The API server does not say which operation failed; a schema or CEL rejection, also 422,
    always lists its causes.
    """
    if not isinstance(error, ApiException) or error.status != 422:
        return False
    try:
        body = json.loads(error.body or "")
    except ValueError:
        return False
    return isinstance(body, dict) and not (body.get("details") or {}).get("causes")
