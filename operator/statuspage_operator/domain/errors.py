"""Errors of the domain: a spec that can never work as written."""

from __future__ import annotations


class InvalidSpecError(ValueError):
    """The spec cannot succeed as written; the message names the field and what to fix."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
