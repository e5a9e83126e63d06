"""The API calls of `kubectl statuspage subscribers`: Subscribers, and the public's address Secrets.

Made with the user's own rights (the plugin runs as the admin who types it). Lists are read in
pages of PAGE_SIZE (a page may have many thousands of public subscribers), and deletes carry the
uid that was read as a precondition, so a Subscriber re-created meanwhile is never the one removed.
Every failure leaves as a one-line CliError, as in cli/client.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from statuspage_operator.api.names import GROUP, VERSION
from statuspage_operator.cli.client import TIMEOUT, Object, _unreachable, server_refused
from statuspage_operator.cli.errors import CliError

SUBSCRIBERS = "subscribers"
PAGE_SIZE = 500
_MISSING: Any = object()


class Listing:
    """Subscribers and labelled Secrets, in one namespace or in all."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self._host = str(api_client.configuration.host)
        self.namespace = namespace

    def _do(self, what: str, call: Callable[[], Any], missing: Any = _MISSING) -> Any:
        """One request; a 404 gives `missing` when one is given, any other failure a CliError."""
        try:
            return call()
        except ApiException as error:
            if error.status == 404 and missing is not _MISSING:
                return missing
            raise self._refused(error, what) from error
        except urllib3.exceptions.HTTPError as error:
            raise _unreachable(error, self._host) from error

    def _refused(self, error: ApiException, what: str) -> CliError:
        if error.status == 404:
            return CliError(f'{what} not found in namespace "{self.namespace}"')
        if error.status == 409:
            return CliError(f"{what} changed meanwhile; run the command again")
        return server_refused(error, self._host)

    def subscriber(self, namespace: str, name: str) -> Object | None:
        """One Subscriber; None when there is none."""
        return cast(
            Object | None,
            self._do(
                f'subscriber "{name}"',
                lambda: self._custom.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, SUBSCRIBERS, name, _request_timeout=TIMEOUT
                ),
                None,
            ),
        )

    def subscribers(self, page: str) -> list[Object]:
        """The Subscribers of a page in the namespace."""
        items: list[Object] = []
        token: str | None = None
        while True:
            listed = self._do(
                "subscribers",
                functools.partial(
                    self._custom.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.namespace,
                    SUBSCRIBERS,
                    limit=PAGE_SIZE,
                    _continue=token,
                    _request_timeout=TIMEOUT,
                ),
            )
            items += [
                item
                for item in listed.get("items") or []
                if (item.get("spec") or {}).get("page") == page
            ]
            token = (listed.get("metadata") or {}).get("continue")
            if not token:
                return items

    def delete_subscriber(self, namespace: str, name: str, uid: str) -> bool:
        """Delete a Subscriber if it is still the one read; False when it is gone already."""
        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))

        def delete() -> bool:
            self._custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, SUBSCRIBERS, name, body=options, _request_timeout=TIMEOUT
            )
            return True

        return bool(self._do(f'subscriber "{name}"', delete, False))

    def secrets(
        self, selector: str, namespace: str | None, name: str | None = None
    ) -> list[Object]:
        """Secrets with these labels (in one namespace, or all when None; of one name if given)
        as {namespace, name, uid, data}: data base64 as stored, for the caller to compare."""
        found: list[Object] = []
        token: str | None = None
        fields = None if name is None else f"metadata.name={name}"
        while True:
            options: dict[str, Any] = {
                "label_selector": selector,
                "field_selector": fields,
                "limit": PAGE_SIZE,
                "_continue": token,
                "_request_timeout": TIMEOUT,
            }
            call = (
                functools.partial(self._core.list_secret_for_all_namespaces, **options)
                if namespace is None
                else functools.partial(self._core.list_namespaced_secret, namespace, **options)
            )
            listed = self._do("secrets", call)
            found += [
                {
                    "namespace": item.metadata.namespace,
                    "name": item.metadata.name,
                    "uid": item.metadata.uid,
                    "data": dict(item.data or {}),
                }
                for item in listed.items or []
            ]
            token = listed.metadata._continue if listed.metadata else None
            if not token:
                return found

    def delete_secret(self, namespace: str, name: str, uid: str) -> bool:
        """Delete a Secret if it is still the one read; False when it is gone already."""
        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))

        def delete() -> bool:
            self._core.delete_namespaced_secret(
                name, namespace, body=options, _request_timeout=TIMEOUT
            )
            return True

        return bool(self._do(f'secret "{name}"', delete, False))
